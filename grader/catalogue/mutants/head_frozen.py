"""freezes after attaching the head, so nothing can learn"""
from grader.catalogue.shared import FREEZE, HEAD, HEAD_COMMENT, points

EXPECTED = {"must_fail": ["3.2", "3.4", "7.3"], "min_lost": points("3.2", "3.4", "7.3")}
EDITS = [
    (FREEZE + HEAD_COMMENT + HEAD, HEAD_COMMENT + HEAD + FREEZE),
]
