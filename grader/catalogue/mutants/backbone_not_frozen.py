"""forgets to freeze the backbone"""
from grader.catalogue.shared import FREEZE, points

EXPECTED = {"must_fail": ["3.2", "3.4"], "min_lost": points("3.2", "3.4")}
EDITS = [
    ("        self.backbone = resnet18(pretrained=True)\n" + FREEZE,
     "        self.backbone = resnet18(pretrained=True)\n"),
]
