"""Run the notebook top to bottom without opening Jupyter, and save it with its outputs.

From the MP folder:

    .venv/bin/python tests/run_notebook.py                      # outputs saved into mp09_notebook.ipynb
    .venv/bin/python tests/run_notebook.py --output run.ipynb   # saved to run.ipynb; the notebook stays as it is

What each cell printed is shown when it finishes. The notebook's kernel is the Python that runs
this script (open the saved notebook in Jupyter or VS Code to see the pictures). If a cell fails,
the notebook is saved up to that cell, the error is printed, and the exit code is 1.
"""
import argparse
import os
import re
import sys
import tempfile
from pathlib import Path

import nbformat
import zmq
from jupyter_client import KernelManager
from jupyter_client.kernelspec import KernelSpecManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

MP_DIR = Path(__file__).resolve().parents[1]
NOTEBOOK = MP_DIR / "mp09_notebook.ipynb"
ANSI = re.compile(r"\x1b\[[0-9;]*m")     # IPython colours its tracebacks
TRACEBACK_LINES = 15                     # of a failing cell's traceback, the last ones are printed


def kernel_manager():
    """A kernel running this very Python (a kernelspec installed elsewhere on the computer could
    name another one), talking to this process over an encrypted channel when pyzmq can (else
    the kernel warns that it runs over TCP without encryption)."""
    specs = KernelSpecManager(kernel_dirs=[])       # only ipykernel's own spec: sys.executable
    encryption = "auto" if zmq.has("curve") else "disabled"
    return KernelManager(kernel_name="python3", kernel_spec_manager=specs,
                         transport_encryption=encryption)


def show(cell, cell_index, **_):
    """Print what a code cell printed (pictures and tables are only noted)."""
    for out in cell.get("outputs", []):
        if out.output_type == "stream":
            sys.stdout.write(out.text if out.text.endswith("\n") else out.text + "\n")
        elif out.output_type in ("display_data", "execute_result"):
            data = out.get("data", {})
            print("[a picture]" if "image/png" in data else data.get("text/plain", ""))
        elif out.output_type == "error":
            lines = ANSI.sub("", "\n".join(out.traceback)).splitlines()
            print("\n".join(lines[-TRACEBACK_LINES:]), file=sys.stderr)
    sys.stdout.flush()


def save(nb, path):
    """Write the notebook whole or not at all (a temporary file renamed into place)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            nbformat.write(nb, f)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", nargs="?", type=Path, default=NOTEBOOK, help=f"default: {NOTEBOOK.name}")
    parser.add_argument("--output", type=Path, help="save the run here instead of into the notebook")
    args = parser.parse_args(argv)
    source = args.notebook.resolve()
    output = (args.output or source).resolve()
    nb = nbformat.read(source, as_version=4)
    km = kernel_manager()
    client = NotebookClient(nb, km=km, timeout=None, on_cell_executed=show,
                            resources={"metadata": {"path": str(source.parent)}})
    print(f"running {source.name} with {sys.executable}", flush=True)
    error = None
    try:
        client.execute()
    except CellExecutionError as exc:
        error = exc
    finally:
        # nbclient leaves a kernel it was handed running; stopped here, it does not outlive
        # this process (and warn that its parent exited)
        if km.has_kernel:
            km.shutdown_kernel()
    save(nb, output)
    if error is not None:
        failed = next(c for c in nb.cells if any(o.output_type == "error" for o in c.get("outputs", [])))
        print(f"\nstopped at the cell that starts with: {failed.source.splitlines()[0]}\n"
              f"{error.ename}: {error.evalue}\nsaved {output.name} up to that cell", file=sys.stderr)
        return 1
    print(f"saved {output.name} with its outputs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
