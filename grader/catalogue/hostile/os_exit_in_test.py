"""test() calls os._exit(0)"""
from grader.catalogue.shared import RUN_MODEL, TOTAL, points

EXPECTED = {"max_points": TOTAL - points("6.1", "6.2", *RUN_MODEL)}
EDITS = [
    ("import pickle\n", "import os\nimport pickle\n"),
    ("    was_training = model.training\n", "    os._exit(0)\n    was_training = model.training\n"),
]
