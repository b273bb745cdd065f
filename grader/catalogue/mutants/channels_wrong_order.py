"""reshapes each row to (32, 32, 3): channels scrambled"""
from grader.catalogue.shared import points

EXPECTED = {"must_fail": ["1.2"], "min_lost": points("1.2")}
EDITS = [
    ("self.images[idx].reshape(3, 32, 32).transpose(1, 2, 0)", "self.images[idx].reshape(32, 32, 3)"),
]
