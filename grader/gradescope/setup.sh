#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (Ubuntu 22.04), with the
# zip unpacked in /autograder/source. It makes a virtualenv from the image's own python3 (3.10
# there; no other interpreter is installed), installs the CPU builds of torch and torchvision from
# PyTorch's CPU index and everything else (requirements-grading.txt) from the default index,
# stops unless torch really is a CPU build, then readies the sandbox: the unprivileged probe user,
# an interpreter that user can reach, and the grader's files (hidden batch, grader, reference)
# closed to it.
#
# Overrides, to run the same path off Gradescope (devtests, `python -m grader rehearse`):
#   AUTOGRADER_ROOT              default /autograder
#   AUTOGRADER_BASE_PYTHON       the interpreter the virtualenv is made from (default: python3;
#                                3.10 or newer)
#   AUTOGRADER_TORCH_INDEX       where torch and torchvision come from (default: PyTorch's CPU
#                                index); "default" means pip's own index, as for every other package
#   AUTOGRADER_TORCH_SPECS       what is installed from it (default: requirements-grading.txt's
#                                torch and torchvision pins with "+cpu": torch==2.14.1+cpu ...)
#   AUTOGRADER_ALLOW_CUDA_TORCH=1  go on when the installed torch is a CUDA build (for an index
#                                that has no CPU build; logged loudly). Never on Gradescope: the
#                                CUDA build makes a 5.5 GB venv and maps ~3.5 GB at import.
#   AUTOGRADER_SKIP_INSTALL=1    no apt, venv or pip: only the checks and the sandbox preparation,
#   AUTOGRADER_PYTHON            with this interpreter, which has the packages (default: the venv's)
set -euo pipefail

ROOT="${AUTOGRADER_ROOT:-/autograder}"
SOURCE="$ROOT/source"
VENV="$ROOT/venv"
REQUIREMENTS="$SOURCE/requirements-grading.txt"
TORCH_CPU_INDEX="https://download.pytorch.org/whl/cpu"

log() { echo "setup.sh: $*"; }
die() { echo "setup.sh: ERROR: $*" >&2; exit 1; }
banner() { local bar; bar="$(printf '!%.0s' {1..78})"; printf '%s\n' "" "$bar" "$@" "$bar" >&2; }
# The interpreter's version, or a non-zero status when it is older than 3.10.
python_ok() { "$1" -c 'import sys; print(sys.version.split()[0]); sys.exit(sys.version_info < (3, 10))'; }

if [ "${AUTOGRADER_SKIP_INSTALL:-0}" != 1 ]; then
    export DEBIAN_FRONTEND=noninteractive
    # The image's own python3 (Debian/Ubuntu package venv's ensurepip separately).
    apt-get update -q
    apt-get install -y -q --no-install-recommends python3 python3-venv
    BASE="${AUTOGRADER_BASE_PYTHON:-python3}"
    version="$(python_ok "$BASE")" ||
        die "$BASE is Python ${version:-?}: the grader needs Python 3.10 or newer"
    log "virtualenv $VENV from $BASE (Python $version)"
    "$BASE" -m venv "$VENV"
    PIP=("$VENV/bin/python" -m pip install -q --no-cache-dir --disable-pip-version-check)
    "${PIP[@]}" --upgrade pip

    TORCH_INDEX="${AUTOGRADER_TORCH_INDEX:-$TORCH_CPU_INDEX}"
    if [ -n "${AUTOGRADER_TORCH_SPECS:-}" ]; then
        read -r -a TORCH_SPECS <<< "$AUTOGRADER_TORCH_SPECS"
    else
        mapfile -t TORCH_SPECS < <(sed -nE 's/^(torch|torchvision)==([^[:space:]#]+).*/\1==\2+cpu/p' "$REQUIREMENTS")
        [ "${#TORCH_SPECS[@]}" -eq 2 ] || die "$REQUIREMENTS must pin torch== and torchvision=="
    fi
    INDEX_ARGS=(--index-url "$TORCH_INDEX")
    [ "$TORCH_INDEX" = default ] && INDEX_ARGS=()
    log "installing ${TORCH_SPECS[*]} from $TORCH_INDEX"
    # Without their dependencies: those come from the default index with everything else, and
    # the pins below (torch==X) are met by the local versions installed here (X+cpu).
    "${PIP[@]}" --no-deps "${INDEX_ARGS[@]}" "${TORCH_SPECS[@]}"
    log "installing $(basename "$REQUIREMENTS")"
    "${PIP[@]}" -r "$REQUIREMENTS"

    cuda="$("$VENV/bin/python" -c 'import torch, torchvision; print(torch.version.cuda or "")')" ||
        die "torch or torchvision does not import (see above)"
    torch_version="$("$VENV/bin/python" -c 'import torch; print(torch.__version__)')"
    if [ -n "$cuda" ]; then
        if [ "${AUTOGRADER_ALLOW_CUDA_TORCH:-0}" = 1 ]; then
            banner "setup.sh: WARNING: torch $torch_version is a CUDA build (CUDA $cuda), not the CPU" \
                   "build Gradescope must get. Going on only because AUTOGRADER_ALLOW_CUDA_TORCH=1." \
                   "Never upload a zip with this setting: it installs gigabytes of CUDA libraries."
        else
            die "torch $torch_version is a CUDA build (CUDA $cuda), not the CPU build: $TORCH_INDEX did not
serve ${TORCH_SPECS[*]}. Check the index (AUTOGRADER_TORCH_INDEX) and the pins in $(basename "$REQUIREMENTS")."
        fi
    else
        log "torch $torch_version is a CPU build"
    fi
fi
PY="${AUTOGRADER_PYTHON:-$VENV/bin/python}"
version="$(python_ok "$PY")" || die "$PY is Python ${version:-?}: the grader needs Python 3.10 or newer"

cd "$SOURCE"
# The zip's data must be the data the grader was calibrated on.
"$PY" -c 'import sys; from reference.build_data import verify
problems = verify()
sys.exit("setup.sh: data differs from the manifest:\n  " + "\n  ".join(problems) if problems else 0)'
timeout_min="$("$PY" -c 'from grader import deadline; print(f"{deadline.read_timeout_min():g}")')"
# Probe user, interpreter reachable by it, grader folder closed to it (grader/sandbox/machine.py).
"$PY" -m grader.sandbox prepare
# Belt and braces: only root may read the hidden batch, the grader and the reference.
chmod 700 hidden_data grader reference
chmod 600 hidden_data/*
chmod 755 run_autograder
log "autograder ready (Python $version: $PY). Built for a Gradescope autograder timeout of" \
    "$timeout_min min: set exactly that in the assignment's settings."
