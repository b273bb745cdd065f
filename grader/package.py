"""Build the Gradescope autograder zip (python -m grader build-autograder [--out FILE]).

    setup.sh, run_autograder      Gradescope's two entry points, at the top level
    requirements-grading.txt      the pinned packages setup.sh installs (Python 3.10+)
    deploy.json                   the Gradescope timeout it was built for (grader/deadline.py)
    prepared_knowledge.pt         the reference's expected results (grader/context.py: read_prepared)
    mpconfig.py, models.py, resnet18.pt
    grader/                       without catalogue/ (the grader's own test cases) and caches
    reference/                    the reference solution and what the grader imports from it
    cifar10_batches/              the public data (copied into each probe's scratch folder)
    hidden_data/eval_batch        the hidden batch (closed to probes by setup.sh)

The data is checked against reference/data_manifest.json first; the zip is written atomically.
"""
import json
import os
import zipfile
from pathlib import Path

import mpconfig as C
from grader import deadline
from grader.atomic_write import open_atomic

GRADESCOPE_DIR = Path(__file__).resolve().parent / "gradescope"
ENTRY_POINTS = ("setup.sh", "run_autograder")
TOP_FILES = (C.GRADING_REQUIREMENTS.name, "mpconfig.py", "models.py", C.CHECKPOINT.name)
PACKAGES = ("grader", "reference")
# Never shipped: the grader's test cases, the Gradescope scripts (at the top level), caches, non-source.
EXCLUDED_DIRS = {"catalogue", "gradescope", "__pycache__", ".pytest_cache", ".hypothesis"}
EXCLUDED_SUFFIXES = (".pyc", ".pyo", ".log", ".tmp", ".swp")
FIXED_DATE = (2026, 1, 1, 0, 0, 0)   # same inputs, same zip bytes
# Data and weights barely compress: a light level saves seconds for ~1 % size.
BINARY_LEVEL, TEXT_LEVEL = 1, 9


class PackageError(Exception):
    """Something the zip needs is missing or stale; the message says what and how to fix it."""


def _package_files(package):
    root = C.ROOT / package
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in EXCLUDED_DIRS and not d.startswith("."))
        for name in sorted(files):
            if not name.endswith(EXCLUDED_SUFFIXES) and not name.startswith("."):
                path = Path(folder) / name
                yield path.relative_to(C.ROOT).as_posix(), path


def members():
    """[(name in the zip, source, unix mode)]; PackageError for a missing file or stale data."""
    from reference.build_data import verify
    problems = verify()
    if problems:
        raise PackageError("the data does not match reference/data_manifest.json (run "
                           "`python3 dev.py setup` to rebuild it):\n  " + "\n  ".join(problems))
    if not C.REFERENCE_SOLUTION.is_file():
        raise PackageError(f"{C.REFERENCE_SOLUTION} is missing: the grader compares with it")
    out = [(name, GRADESCOPE_DIR / name, 0o755) for name in ENTRY_POINTS]
    out += [(name, C.ROOT / name, 0o644) for name in TOP_FILES]
    for package in PACKAGES:
        out += [(name, path, 0o644) for name, path in _package_files(package)]
    data = (*C.TRAIN_FILES, C.TEST_FILE, C.META_FILE)
    out += [(f"{C.DATA_DIR.name}/{n}", C.DATA_DIR / n, 0o644) for n in data]
    out += [(f"{C.HIDDEN_DIR.name}/{C.HIDDEN_FILE}", C.HIDDEN_DIR / C.HIDDEN_FILE, 0o600)]
    missing = [str(path) for _, path, _ in out if not path.is_file()]
    if missing:
        raise PackageError("missing: " + ", ".join(missing))
    return out


def checkpoint_warning():
    """A warning when resnet18.pt is not the one the model card describes (or has no card)."""
    from reference.build_data import sha256_file
    if not C.MODEL_CARD.is_file():
        return (f"warning: {C.MODEL_CARD.relative_to(C.ROOT)} is missing: {C.CHECKPOINT.name} may "
                "be the provisional (untrained) checkpoint")
    card = json.loads(C.MODEL_CARD.read_text())
    if card.get("sha256") != sha256_file(C.CHECKPOINT):
        raise PackageError(f"{C.CHECKPOINT.name}'s SHA-256 differs from the model card's "
                           f"({C.MODEL_CARD.relative_to(C.ROOT)}): refusing to ship a checkpoint "
                           "the thresholds were not calibrated on")
    return ""


TEXT_SUFFIXES = (".py", ".json", ".txt", ".md", ".sh", ".toml", ".yml", ".yaml")


def _level(name):
    return TEXT_LEVEL if name.endswith(TEXT_SUFFIXES) or name in ENTRY_POINTS else BINARY_LEVEL


def _add(zf, name, data, mode):
    info = zipfile.ZipInfo(name, FIXED_DATE)
    info.external_attr = (0o100000 | mode) << 16   # a regular file and its mode
    zf.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=_level(name))


def build(out=C.AUTOGRADER_ZIP, timeout_min=C.GRADESCOPE_TIMEOUT_MIN):
    """Write the zip to `out` atomically, for a Gradescope timeout of `timeout_min`; returns its path."""
    out = Path(out)
    try:
        deploy = deadline.config_text(timeout_min)
    except deadline.DeployError as exc:
        raise PackageError(f"--timeout-min: {exc}") from None
    warning = checkpoint_warning()
    if warning:
        print(warning)
    entries = members()
    from grader import context   # torch and the reference: only when a zip is really built
    prepared = context.prepared_bytes()
    out.parent.mkdir(parents=True, exist_ok=True)
    with open_atomic(out, "wb") as f, zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, path, mode in entries:
            _add(zf, name, path.read_bytes(), mode)
        _add(zf, C.DEPLOY_FILE, deploy, 0o644)
        _add(zf, C.PREPARED_KNOWLEDGE, prepared, 0o600)
    return out
