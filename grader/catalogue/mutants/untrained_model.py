"""run_model never calls train (left commented out)"""
from grader.catalogue.shared import TRAIN_CALL, points

EXPECTED = {"must_fail": ["7.3"], "min_lost": points("7.3") // 2}
EDITS = [
    (TRAIN_CALL,
     "        # " + TRAIN_CALL.lstrip().rstrip("\n") + "  # TODO: too slow while debugging\n"),
]
