"""run_model sends SIGKILL to its parent process"""
from grader.catalogue.shared import RUN_MODEL, RUN_MODEL_START, TOTAL, points

EXPECTED = {"max_points": TOTAL - points(*RUN_MODEL)}
EDITS = [
    ("import pickle\n", "import os\nimport pickle\nimport signal\n"),
    (RUN_MODEL_START,
     "    parent = os.getppid()\n"
     "    if parent > 1:  # never init: this file must not take the machine down\n"
     "        os.kill(parent, signal.SIGKILL)\n" + RUN_MODEL_START),
]
