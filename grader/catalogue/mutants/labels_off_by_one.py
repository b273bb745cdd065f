"""treats the labels as 1-based and subtracts one"""
from grader.catalogue.shared import points

EXPECTED = {"must_fail": ["1.2", "7.3"], "min_lost": points("1.2", "7.3")}
EDITS = [
    ("            self.labels += batch[b'labels']\n",
     "            self.labels += [label - 1 for label in batch[b'labels']]\n"),
]
