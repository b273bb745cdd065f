"""prints 100 MB at import, otherwise correct"""
from grader.catalogue.shared import TOTAL, at_import

EXPECTED = {"max_points": TOTAL, "min_points": TOTAL}
EDITS = [
    ("import pickle\n", "import pickle\nimport sys\n"),
    at_import("for _ in range(100):\n    sys.stdout.write(('x' * 1023 + '\\n') * 1024)\nsys.stdout.flush()\n"),
]
