"""What a submission folder is: the one file a student uploads, and a folder holding the reference
as that file (the default submission of `grade` and what `bench grade` times)."""
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import mpconfig as C

SUBMISSION_FILE = "submitted.py"


@contextmanager
def reference_submission():
    """A temporary submission folder holding the reference solution as submitted.py."""
    with tempfile.TemporaryDirectory(prefix="mp09-reference-") as tmp:
        shutil.copyfile(C.REFERENCE_SOLUTION, Path(tmp) / SUBMISSION_FILE)
        yield Path(tmp)
