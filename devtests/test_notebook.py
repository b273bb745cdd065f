"""The walk-through notebook: generated, clean, runs headless on the reference, and on the stubs
stops at the first student part with the stubs' message."""
import re
import shutil
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

import mpconfig as C
from reference.make_notebook import ACCURACY_LINE, build
from reference.make_stubs import MESSAGE, make_stubs

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
    """Execute a copy of the notebook in ``folder`` (a student's layout) with ``solution`` as
    submitted.py, with the kernel this interpreter's; returns (notebook, error or None)."""
    folder.mkdir()
    (folder / "submitted.py").write_text(solution)
    shutil.copyfile(C.ROOT / "models.py", folder / "models.py")
    (folder / "resnet18.pt").symlink_to(C.CHECKPOINT)
    (folder / C.DATA_DIR.name).symlink_to(C.DATA_DIR)
    nb = nbformat.read(C.NOTEBOOK, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(KERNEL_CHECK))
    # jupyter_client starts a kernelspec whose argv[0] is "python" with sys.executable
    client = NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(folder)}})
    try:
        client.execute()
        return nb, None
    except CellExecutionError as exc:
        return nb, exc


def output_text(cell):
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


@pytest.mark.slow
def test_reference_runs_and_reaches_full_credit(tmp_path):
    nb, error = run_notebook(tmp_path / "reference", C.REFERENCE_SOLUTION.read_text())
    assert error is None, str(error)[-3000:]
    assert Path(output_text(nb.cells[0]).strip()).resolve() == Path(sys.executable).resolve()
    lines = [line for c in nb.cells if c.cell_type == "code" for line in output_text(c).splitlines()
             if line.startswith(ACCURACY_LINE)]
    assert len(lines) == 1, lines
    accuracy = float(lines[0][len(ACCURACY_LINE):])
    assert accuracy >= FULL_CREDIT_ACCURACY, f"notebook's {lines[0]} < {FULL_CREDIT_ACCURACY}"
    # the pictures were drawn: grid, loss curve, confusion matrix
    images = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert images == 3
    assert not any(o.output_type == "error" for c in nb.cells if c.cell_type == "code" for o in c.outputs)


@pytest.mark.slow
def test_stubs_stop_at_the_first_student_part(tmp_path):
    nb, error = run_notebook(tmp_path / "stubs", make_stubs(C.REFERENCE_SOLUTION.read_text()))
    assert error is not None, "the notebook ran through on the stubs"
    assert error.ename == "NotImplementedError" and error.evalue == MESSAGE, f"{error.ename}: {error.evalue}"
    code = [c for c in nb.cells if c.cell_type == "code"]
    failed = [i for i, c in enumerate(code) if any(o.output_type == "error" for o in c.outputs)]
    # the first cell that calls a student part (after the kernel check, imports and class names)
    assert failed == [3], failed
    assert "submitted.build_dataset" in code[3].source
