"""train() never zeroes the gradients"""
from grader.catalogue.shared import points

EXPECTED = {"must_fail": ["5.1"], "min_lost": points("5.1")}
EDITS = [
    ("        optimizer.zero_grad()\n", ""),
]
