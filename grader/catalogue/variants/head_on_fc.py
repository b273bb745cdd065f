"""keeps the frozen 10-way fc and learns a 10->8 head on top"""
from grader.catalogue.shared import HEAD, HEAD_COMMENT

EXPECTED = {"score": 100}
EDITS = [
    (HEAD_COMMENT + HEAD,
     "        # Keep the pretrained 10-way classifier (frozen with the rest) and learn a\n"
     "        # small map from its 10 scores to our 8 classes.\n"
     "        self.head = nn.Linear(10, 8)\n"),
    ("        return self.backbone(x)\n", "        return self.head(self.backbone(x))\n"),
]
