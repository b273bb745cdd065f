"""run_model passes num_workers and drop_last through loader_params"""

EXPECTED = {"score": 100}
EDITS = [
    ('{"batch_size": BATCH_SIZE, "shuffle": True}',
     '{"batch_size": BATCH_SIZE, "shuffle": True,\n'
     '                                                                  "num_workers": 2, "drop_last": True}'),
]
