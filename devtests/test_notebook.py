"""The walk-through notebook: generated, clean, its shell cells on the kernel's Python; the
README's headless command runs it on the reference and saves its outputs (one line per epoch,
no warning), and on the stubs stops at the first student part with the stubs' message."""
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

import mpconfig as C
from reference.make_notebook import ACCURACY_LINE, build
from reference.make_stubs import MESSAGE, make_stubs
from test_visible_tests import make_submission

FULL_CREDIT_ACCURACY = C.ACCURACY_TIERS[0][0]
KERNEL_CHECK = "import sys; print(sys.executable)"


def test_committed_notebook_is_generated():
    assert C.NOTEBOOK.read_text() == build(), "stale notebook: run python -m reference.make_notebook"


def test_notebook_is_stored_clean():
    nb = nbformat.read(C.NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)
    text = C.NOTEBOOK.read_text()
    assert str(C.ROOT) not in text and not re.search(r'["\s](/home|/work|/tmp|/Users|[A-Z]:\\\\)', text)
    assert "import submitted" in text


def run_notebook(folder, solution):
    """Run the notebook as the README says, ``python tests/run_notebook.py --output ...``, in
    ``folder`` (a student's layout) with ``solution`` as submitted.py, and a first cell that
    prints the kernel's interpreter: (saved notebook or None, the command's run)."""
    make_submission(folder, solution)
    nb = nbformat.read(C.NOTEBOOK, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(KERNEL_CHECK))
    nbformat.write(nb, folder / C.NOTEBOOK.name)
    saved = folder / "run.ipynb"
    proc = subprocess.run([sys.executable, "tests/run_notebook.py", "--output", saved.name],
                          cwd=folder, capture_output=True, text=True, timeout=1800,
                          env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
    return (nbformat.read(saved, as_version=4) if saved.is_file() else None), proc


def output_text(cell):
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def test_shell_cells_use_the_kernels_python():
    """A bare `python` in a `!` line may be another interpreter than the notebook's."""
    shell = [line.strip() for c in code_cells(nbformat.read(C.NOTEBOOK, as_version=4))
             for line in c.source.splitlines() if line.strip().startswith(("!", "%%bash", "%%sh", "%sx"))]
    assert shell, "the notebook has no shell cell (the visible tests' cell)"
    for line in shell:
        assert line.startswith('!"{sys.executable}" '), line


@pytest.mark.slow
def test_reference_runs_headless_and_saves_its_outputs(tmp_path):
    nb, proc = run_notebook(tmp_path / "reference", C.REFERENCE_SOLUTION.read_text())
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert nb is not None
    # nothing alarming on the terminal: no TCP warning, no warning at all
    assert "WARNING" not in proc.stderr and "TCP" not in proc.stderr, proc.stderr[-2000:]
    code = code_cells(nb)
    assert all(c.execution_count for c in code), "a cell was not run"
    assert not any(o.output_type == "error" for c in code for o in c.outputs)
    assert Path(output_text(code[0]).strip()).resolve() == Path(sys.executable).resolve()
    lines = [line for c in code for line in output_text(c).splitlines()]
    accuracy = [line for line in lines if line.startswith(ACCURACY_LINE)]
    assert len(accuracy) == 1, lines
    value = float(accuracy[0][len(ACCURACY_LINE):])
    assert value >= FULL_CREDIT_ACCURACY, f"notebook's {accuracy[0]} < {FULL_CREDIT_ACCURACY}"
    # training: one output line per epoch, with its time; no progress bar
    training = next(c for c in code if "submitted.train(" in c.source)
    epochs = int(re.search(r"EPOCHS = (\d+)", training.source).group(1))
    assert len(training.outputs) == 1 and len(output_text(training).splitlines()) == epochs, training.outputs
    assert re.fullmatch(r"epoch 1/\d+: \d+ batches in \d+ min \d+ s, mean loss [\d.]+\n",
                        output_text(training).splitlines(keepends=True)[0])
    # the pictures were drawn: grid, loss curve, confusion matrix
    images = sum("image/png" in o.get("data", {}) for c in code for o in c.outputs)
    assert images == 3
    # the visible tests ran inside it with the kernel's Python, and passed
    tests = next(c for c in code if "pytest tests" in c.source)
    pytest_output = re.sub(r"\x1b\[[0-9;]*m", "", output_text(tests))   # a `!` line runs in a terminal: colours
    assert re.search(r"\b\d+ passed\b", pytest_output), pytest_output
    assert not re.search(r"\b\d+ (failed|error)", pytest_output), pytest_output
    # the command shows what the cells print as it goes
    assert accuracy[0] in proc.stdout and "saved run.ipynb" in proc.stdout
    print(f"headless run: {len(proc.stdout.splitlines())} lines on the terminal; "
          f"{output_text(training).strip()}")


@pytest.mark.slow
def test_stubs_stop_at_the_first_student_part(tmp_path):
    nb, proc = run_notebook(tmp_path / "stubs", make_stubs(C.REFERENCE_SOLUTION.read_text()))
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert f"NotImplementedError: {MESSAGE}" in proc.stderr, proc.stderr[-2000:]
    code = code_cells(nb)
    failed = [i for i, c in enumerate(code) if any(o.output_type == "error" for o in c.outputs)]
    # the first cell that calls a student part (after the kernel check, imports and class names)
    assert failed == [3], failed
    assert "submitted.build_dataset" in code[3].source
    assert all(c.execution_count is None for c in code[4:]), "cells after the error ran"
