"""run_model trains with SGD and momentum instead of Adam"""

EXPECTED = {"score": 100}
EDITS = [
    ('    OPTIMIZER = "Adam"\n    HPARAMS = {"lr": 1e-3}\n',
     '    OPTIMIZER = "SGD"\n    HPARAMS = {"lr": 0.05, "momentum": 0.9}\n'),
]
