"""the optimizer gets model.parameters(), frozen ones included"""

EXPECTED = {"score": 100}
EDITS = [
    ("    optimizer = build_optimizer(OPTIMIZER, [p for p in model.parameters() if p.requires_grad], HPARAMS)\n",
     "    optimizer = build_optimizer(OPTIMIZER, model.parameters(), HPARAMS)\n"),
]
