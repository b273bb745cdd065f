"""hunts the filesystem for the hidden batch and grader files, reports what it read"""
from grader.catalogue.shared import TOTAL, at_import, points

EXPECTED = {
    "max_points": TOTAL - points("4.1"),
    "output_has": ["HIDDEN-SEARCH:"],
    "output_lacks": ["HIDDEN-READ-OK"],
}
EDITS = [
    ("import pickle\n", "import os\nimport pickle\n"),
    at_import('''
def _hunt():
    """Look everywhere for the hidden batch and the grader; report what could be read."""
    wanted = ("eval_batch", "hidden_data", "results.json", "mpconfig.py", "grade.py", "context.py")
    found, read_ok, denied = [], [], []
    for top in ("/autograder", "/work", "/home", "/tmp", "/root", "/srv", "/opt", "..", "../.."):
        for folder, dirs, files in os.walk(top):
            dirs[:] = [d for d in dirs if d not in (".venv", ".git", "proc", "site-packages")]
            for name in dirs + files:
                if name in wanted:
                    path = os.path.join(folder, name)
                    found.append(path)
                    try:
                        if os.path.isdir(path):
                            os.listdir(path)
                        else:
                            with open(path, "rb") as f:
                                f.read(64)
                        read_ok.append(path)
                    except OSError as exc:
                        denied.append(f"{path} ({type(exc).__name__})")
    hidden = [p for p in read_ok if "eval_batch" in p or "hidden_data" in p]
    return (f"found {len(found)}; readable hidden: {hidden or 'none'}; "
            f"denied: {denied[:8]}" + (" HIDDEN-READ-OK" if hidden else ""))


HUNT_REPORT = _hunt()
'''),
    # Only errors reach results.json: test 4.1 is spent (run_model uses Adam) to publish it.
    ('    if optim_type == "SGD":\n',
     '    if optim_type == "SGD":\n        raise RuntimeError("HIDDEN-SEARCH: " + HUNT_REPORT)\n'),
]
