"""Run the visible tests against the submitted.py in the folder above tests/.

Usage, from the MP folder:  python -m pytest tests
"""
import pickle
import sys
from pathlib import Path

import pytest

SUBMISSION_DIR = Path(__file__).resolve().parents[1]
# "import submitted" and "from models import resnet18" find the files of the MP folder.
sys.path.insert(0, str(SUBMISSION_DIR))


@pytest.fixture(autouse=True, scope="session")
def in_submission_dir():
    """submitted.py opens "cifar10_batches/..." and "resnet18.pt" relative to its folder."""
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(SUBMISSION_DIR)
        yield SUBMISSION_DIR


@pytest.fixture(scope="session")
def submitted():
    try:
        import submitted as module
    except Exception as exc:  # a syntax error or bad import in submitted.py
        pytest.fail(f"could not import submitted.py from {SUBMISSION_DIR}: "
                    f"{type(exc).__name__}: {exc}", pytrace=False)
    return module


def read_batch(name):
    """A batch file of cifar10_batches/ as the dict stored in it (read independently of submitted.py)."""
    with open(SUBMISSION_DIR / "cifar10_batches" / name, "rb") as f:
        return pickle.load(f, encoding="bytes")


@pytest.fixture(scope="session")
def class_names():
    return [name.decode() for name in read_batch("batches.meta")[b"label_names"]]


@pytest.fixture(scope="session")
def test_batch():
    return read_batch("test_batch")
