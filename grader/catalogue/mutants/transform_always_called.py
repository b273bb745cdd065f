"""CIFAR10 calls its transform even when there is none (no transform=None branch)"""
# One defect, one deduction: only 1.2 reads items without a transform; 1.1 counts them through a
# transform that changes nothing, and 2.2 and run_model pass transforms of their own.
from grader.catalogue.shared import points

EXPECTED = {"must_fail": ["1.2"], "min_lost": points("1.2"), "max_lost": points("1.2")}
EDITS = [
    ("        if self.transform is not None:\n            image = self.transform(image)\n",
     "        image = self.transform(image)\n"),
]
