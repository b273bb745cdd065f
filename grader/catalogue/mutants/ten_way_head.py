"""the new head has 10 outputs instead of 8"""
from grader.catalogue.shared import HEAD, points

# One defect, one deduction: the shape is 3.3's business alone; 7.3 scores the argmax over all
# 10 columns (a prediction of 8 or 9 counts as wrong).
EXPECTED = {"must_fail": ["3.3"], "min_lost": points("3.3"), "max_lost": points("3.3")}
EDITS = [
    (HEAD, "        self.backbone.fc = nn.Linear(self.backbone.fc.in_features, 10)\n"),
]
