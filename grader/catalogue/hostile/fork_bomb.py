"""forks without end at import"""
from grader.catalogue.shared import at_import

EXPECTED = {"max_points": 0}
EDITS = [
    ("import pickle\n", "import os\nimport pickle\nimport time\n"),
    at_import("""
# Capped at a few thousand processes on the machine: if the sandbox's process limit ever
# failed, validating it must not take a shared machine down with it.
while len(os.listdir("/proc")) < 3000:
    try:
        os.fork()
    except OSError:
        time.sleep(0.05)
while True:
    time.sleep(1)
"""),
]
