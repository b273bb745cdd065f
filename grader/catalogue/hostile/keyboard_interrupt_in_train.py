"""train() raises KeyboardInterrupt, the dataset SystemExit"""
from grader.catalogue.shared import RUN_MODEL, TOTAL, points

EXPECTED = {"max_points": TOTAL - points("1.1", "5.1", "5.2", *RUN_MODEL)}
EDITS = [
    ("    model.train()\n    for images",
     "    raise KeyboardInterrupt\n    model.train()\n    for images"),
    ("        return len(self.labels)\n", "        raise SystemExit(3)\n"),
]
