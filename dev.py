#!/usr/bin/env python3
"""The project's commands. Each sets up first (virtualenv, pinned packages, data), idempotently.

    python3 dev.py grade [--submission DIR] [--results FILE]   grade like Gradescope (default: reference)
    python3 dev.py test [PYTEST ARGS...]                        the whole test suite (what CI runs)
    python3 dev.py bench [grade|validate|reference|data]        the figures of docs/figures.md
    python3 dev.py setup                                        only the set-up

Needs only Python 3.11+ and pip. The virtualenv lives in .venv; it is reinstalled only when
requirements.txt changes. Data is rebuilt only when it does not match reference/data_manifest.json,
and the stubs (submitted.py, git-ignored) only when they differ from the reference's.
"""
import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

from mpconfig import STUBS

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PY = VENV / "bin" / "python"
STAMP = VENV / ".requirements.sha256"


def run(*cmd, **kw):
    return subprocess.run([str(c) for c in cmd], cwd=ROOT, **kw).returncode


def setup():
    req = (ROOT / "requirements.txt").read_bytes()
    digest = hashlib.sha256(req).hexdigest()
    if not PY.exists():
        print("setup: creating .venv", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    if not STAMP.exists() or STAMP.read_text() != digest:
        print("setup: installing requirements.txt into .venv", flush=True)
        if run(PY, "-m", "pip", "install", "-q", "--disable-pip-version-check",
               "-r", ROOT / "requirements.txt") != 0:
            sys.exit("setup: pip install failed (see above)")
        STAMP.write_text(digest)
    # Builds from ../shared (or $MP09_CIFAR_SOURCE) only when outputs differ from the manifest.
    if run(PY, "-m", "reference.build_data", "--check") != 0:
        sys.exit("setup: data build failed (see above)")
    write_stubs()


def write_stubs(out=STUBS):
    """The stubs derive from the reference, so they are generated, never committed; written if stale."""
    if run(PY, "-m", "reference.make_stubs", "--check", "--out", out, capture_output=True) == 0:
        return
    if run(PY, "-m", "reference.make_stubs", "--out", out) != 0:
        sys.exit("setup: stub generation failed (see above)")


def main(argv):
    cmd, rest = (argv[0], argv[1:]) if argv else ("help", [])
    if cmd not in {"setup", "grade", "test", "bench"}:
        print(__doc__)
        return 0 if cmd in {"help", "-h", "--help"} else 2
    setup()
    if cmd == "setup":
        return 0
    if cmd == "grade":
        return run(PY, "-m", "grader", "grade", *rest)
    if cmd == "test":
        # pytest's own exit code, so "no tests collected" (5) fails CI instead of passing.
        return run(PY, "-m", "pytest", *rest)
    return run(PY, "-m", "grader", "bench", *rest)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    sys.exit(main(sys.argv[1:]))
