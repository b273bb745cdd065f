"""a two-layer head (Linear, ReLU, Linear) in place of fc"""
from grader.catalogue.shared import HEAD, HEAD_COMMENT

EXPECTED = {"score": 100}
EDITS = [
    (HEAD_COMMENT + HEAD,
     "        self.backbone.fc = nn.Sequential(\n"
     "            nn.Linear(512, 256),\n"
     "            nn.ReLU(),\n"
     "            nn.Linear(256, 8),\n"
     "        )\n"),
]
