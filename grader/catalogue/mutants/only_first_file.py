"""CIFAR10 loads only the first of its data files"""
from grader.catalogue.shared import points

EXPECTED = {"must_fail": ["1.1"], "min_lost": points("1.1")}
EDITS = [
    ("        for file in data_files:\n", "        for file in data_files[:1]:\n"),
]
