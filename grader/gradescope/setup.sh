#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (Ubuntu), with the
# zip unpacked in /autograder/source. It installs Python 3.11+ and the pinned packages into a
# virtualenv, then readies the sandbox: the unprivileged probe user, an interpreter that user
# can reach, and the grader's files (hidden batch, grader, reference) closed to it.
#
# Overrides (for testing the zip off Gradescope): AUTOGRADER_ROOT (default /autograder),
# AUTOGRADER_PYTHON (an interpreter that already has the packages) and AUTOGRADER_SKIP_INSTALL=1
# (no apt/pip: only the sandbox preparation and the checks).
set -euo pipefail

ROOT="${AUTOGRADER_ROOT:-/autograder}"
SOURCE="$ROOT/source"
VENV="$ROOT/venv"

find_python() {  # the first interpreter that is 3.11 or newer
    local c
    for c in python3.13 python3.12 python3.11 python3; do
        if command -v "$c" >/dev/null 2>&1 &&
           "$c" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            command -v "$c"
            return 0
        fi
    done
    return 1
}

if [ "${AUTOGRADER_SKIP_INSTALL:-0}" != 1 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    if ! PYBIN="$(find_python)"; then
        # Ubuntu 22.04 ships 3.10; its python3.11 packages are in the standard archive.
        apt-get install -y -q python3.11 python3.11-venv
        PYBIN="$(find_python)"
    fi
    # The venv module needs ensurepip, which Debian packages separately per version.
    apt-get install -y -q "$(basename "$PYBIN")-venv" || apt-get install -y -q python3-venv
    "$PYBIN" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    # CPU wheels of torch/torchvision (the default ones pull gigabytes of CUDA libraries).
    "$VENV/bin/python" -m pip install -q --extra-index-url https://download.pytorch.org/whl/cpu \
        -r "$SOURCE/requirements.txt"
fi
PY="${AUTOGRADER_PYTHON:-$VENV/bin/python}"

cd "$SOURCE"
# The zip's data must be the data the grader was calibrated on.
"$PY" -c 'import sys; from reference.build_data import verify
problems = verify()
sys.exit("setup.sh: data differs from the manifest:\n  " + "\n  ".join(problems) if problems else 0)'
# Probe user, interpreter reachable by it, grader folder closed to it (grader/sandbox/machine.py).
"$PY" -m grader.sandbox prepare
# Belt and braces: only root may read the hidden batch, the grader and the reference.
chmod 700 hidden_data grader reference
chmod 600 hidden_data/*
chmod 755 run_autograder
echo "setup.sh: autograder ready (python: $PY)"
