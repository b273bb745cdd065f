"""FinetuneNet keeps a trainable Linear layer from an earlier try that forward() never uses"""
from grader.catalogue.shared import HEAD

EXPECTED = {"score": 100}
EDITS = [
    (HEAD, HEAD + "        self.classifier = nn.Linear(512, 8)   # first try, not used any more\n"),
]
