"""run_model loops forever after setting up"""
from grader.catalogue.shared import RUN_MODEL, RUN_MODEL_START, TOTAL, points

EXPECTED = {
    "max_points": TOTAL - points(*RUN_MODEL),
    "min_points": TOTAL - points(*RUN_MODEL),
    "times_out": True,
}
EDITS = [
    (RUN_MODEL_START, "    while True:\n        pass\n" + RUN_MODEL_START),
]
