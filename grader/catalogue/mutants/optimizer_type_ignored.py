"""build_optimizer always returns Adam"""
from grader.catalogue.shared import points

EXPECTED = {"must_fail": ["4.1"], "min_lost": points("4.1"), "max_lost": points("4.1")}
EDITS = [
    ('    if optim_type == "SGD":\n        return torch.optim.SGD(model_params, **hparams)\n', ""),
]
