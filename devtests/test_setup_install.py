"""setup.sh's whole install path (apt, venv, pip, the CUDA check, sandbox preparation), run for
real in a temporary root, then the reference graded through run_autograder with what it installed.

PyTorch's CPU index is not reachable from the development machine: there the test installs the
registry's torch (a CUDA build) with AUTOGRADER_ALLOW_CUDA_TORCH=1, and checks that setup.sh
says so loudly and refuses it without that setting. Where the CPU index is reachable, set
MP09_TEST_TORCH_INDEX=cpu to test the path Gradescope takes, CUDA check included.
Takes minutes and ~6 GB of disk (a few minutes more on a busy machine)."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

import mpconfig as C
from grader import package, rehearse

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(os.geteuid() != 0, reason="setup.sh runs as root, as on Gradescope")]


def _torch_pins():
    return [line.strip() for line in C.GRADING_REQUIREMENTS.read_text().splitlines()
            if line.startswith(("torch==", "torchvision=="))]


def test_setup_installs_for_real_and_the_reference_gets_full_marks(tmp_path, monkeypatch):
    real_index = os.environ.get("MP09_TEST_TORCH_INDEX") == "cpu"
    if not real_index:  # the registry's own torch: a CUDA build, allowed by name
        monkeypatch.setenv("AUTOGRADER_TORCH_INDEX", "default")
        monkeypatch.setenv("AUTOGRADER_TORCH_SPECS", " ".join(_torch_pins()))
        monkeypatch.setenv("AUTOGRADER_ALLOW_CUDA_TORCH", "1")
    # A generous deadline: this test is about the install; timing is the rehearsal tests' job.
    zip_path = package.build(tmp_path / "autograder.zip", timeout_min=20)
    summary = rehearse.rehearse(2, 6144, zip_path=zip_path, keep=True, echo=lambda *_: None)
    root = Path(summary["root"])
    try:
        setup_log = (root / "setup.log").read_text()
        assert summary["installed"] and summary["ok"], rehearse.table(summary)
        assert summary["score"] == summary["max_score"] == 100, summary["lost"]
        venv_python = root / "venv" / "bin" / "python"
        torch = subprocess.run([venv_python, "-c", "import torch, torchvision, numpy, sys; print("
                                "torch.__version__, torchvision.__version__, numpy.__version__)"],
                               capture_output=True, text=True)
        installed = dict(zip(("torch", "torchvision", "numpy"), torch.stdout.split()))
        pins = dict(pin.split("==") for pin in _torch_pins())
        assert installed["torch"].split("+")[0] == pins["torch"], installed
        assert installed["torchvision"].split("+")[0] == pins["torchvision"], installed
        if real_index:
            assert installed["torch"].endswith("+cpu") and "is a CPU build" in setup_log
            return
        assert "WARNING: torch" in setup_log and "AUTOGRADER_ALLOW_CUDA_TORCH=1" in setup_log
        # The same install without the permission: pip finds everything in place, and the check
        # that follows refuses the CUDA build, saying what is wrong.
        env = {k: v for k, v in os.environ.items() if k != "AUTOGRADER_ALLOW_CUDA_TORCH"}
        env["AUTOGRADER_ROOT"] = str(root)
        again = subprocess.run(["bash", str(root / "source" / "setup.sh")], cwd=root / "source",
                               env=env, capture_output=True, text=True, timeout=1200)
        assert again.returncode == 1, again.stdout[-2000:] + again.stderr[-2000:]
        assert "is a CUDA build" in again.stderr and "not the CPU build" in again.stderr
    finally:
        shutil.rmtree(root, ignore_errors=True)
