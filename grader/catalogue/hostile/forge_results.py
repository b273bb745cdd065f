"""writes forged results.json files wherever it can"""
from grader.catalogue.shared import RUN_MODEL_START, TOTAL, at_import

EXPECTED = {"max_points": TOTAL, "output_lacks": ["FORGED-BY-SUBMISSION"]}
EDITS = [
    ("import pickle\n", "import json\nimport os\nimport pickle\n"),
    at_import('''
def _forge():
    forged = {"score": 1000, "output": "FORGED-BY-SUBMISSION", "tests": [], "execution_time": 0,
              "stdout_visibility": "visible"}
    places = {"/autograder/results", os.getcwd(), os.path.dirname(os.getcwd()), "..", "../..",
              os.path.expanduser("~")}
    places |= {os.path.dirname(v) for v in os.environ.values() if v.endswith("results.json")}
    for place in places:
        try:
            if os.path.isdir(place):
                with open(os.path.join(place, "results.json"), "w") as f:
                    json.dump(forged, f)
        except OSError:
            pass


_forge()
'''),
    (RUN_MODEL_START, "    _forge()\n" + RUN_MODEL_START),
]
