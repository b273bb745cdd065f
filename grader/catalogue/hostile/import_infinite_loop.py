"""loops forever at import"""
from grader.catalogue.shared import at_import

EXPECTED = {"max_points": 0, "times_out": True}
EDITS = [
    at_import("while True:\n    pass\n"),
]
