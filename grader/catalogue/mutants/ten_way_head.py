"""the new head has 10 outputs instead of 8"""
from grader.catalogue.shared import HEAD, points

EXPECTED = {"must_fail": ["3.3"], "min_lost": points("3.3")}
EDITS = [
    (HEAD, "        self.backbone.fc = nn.Linear(self.backbone.fc.in_features, 10)\n"),
]
