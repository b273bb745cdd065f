"""test() never switches the model to eval mode"""
from grader.catalogue.shared import points

EXPECTED = {"must_fail_any": ["6.1", "6.2"], "min_lost": min(points("6.1"), points("6.2"))}
EDITS = [
    ("    was_training = model.training\n    model.eval()\n", ""),
    ("    model.train(was_training)\n", ""),
]
