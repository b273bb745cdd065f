"""test() returns a percentage instead of a fraction"""
from grader.catalogue.shared import points

EXPECTED = {"must_fail": ["6.1"], "min_lost": points("6.1"), "max_lost": points("6.1")}
EDITS = [
    ("    return correct / total\n", "    return 100 * correct / total\n"),
]
