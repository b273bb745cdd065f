"""CIFAR10 ignores its transform"""
from grader.catalogue.shared import points

EXPECTED = {"must_fail": ["1.3", "7.3"], "min_lost": points("1.3", "7.3")}
EDITS = [
    ("        if self.transform is not None:\n            image = self.transform(image)\n", ""),
]
