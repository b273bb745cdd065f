"""reshapes each row to (32, 32, 3): channels scrambled"""
from grader.catalogue.shared import points

EXPECTED = {"must_fail": ["1.2"], "min_lost": points("1.2")}
EDITS = [
    (".reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)", ".reshape(-1, 32, 32, 3)"),
]
