"""build_optimizer calls sys.exit(0)"""
from grader.catalogue.shared import RUN_MODEL, TOTAL, points

EXPECTED = {"max_points": TOTAL - points("4.1", "4.2", *RUN_MODEL)}
EDITS = [
    ("import pickle\n", "import pickle\nimport sys\n"),
    ('    if optim_type == "SGD":\n', '    sys.exit(0)\n    if optim_type == "SGD":\n'),
]
