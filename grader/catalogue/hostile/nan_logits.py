"""forward returns NaN logits"""
from grader.catalogue.shared import TOTAL, points

# train() and test() are judged on the grader's own model, so only the checks of
# this forward's outputs (3.3, 3.4) and the accuracy fall.
EXPECTED = {"max_points": TOTAL - points("3.3", "3.4", "7.3")}
EDITS = [
    ("        return self.backbone(x)\n", "        return self.backbone(x) * float(\"nan\")\n"),
]
