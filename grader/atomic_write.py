"""Write a file whole or not at all: into a temporary sibling, fsync, then one rename.

A reader (Gradescope, a student, the grader reading a probe's answer) sees the previous file or
the complete new one; a failure leaves the previous file and no temporary file behind. A leaf
(standard library only): the sandbox copies it into every probe's box for grader/child.py.
"""
import contextlib
import os
import tempfile
from pathlib import Path


@contextlib.contextmanager
def open_atomic(path, mode="w", *, perms=0o644, **open_kwargs):
    """A file to write `path` through, replacing it only if the block succeeds (perms None: 0o600)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **open_kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        if perms is not None:
            os.chmod(tmp, perms)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path, text, *, perms=0o644, encoding="utf-8"):
    """Write `text` to `path` atomically (see open_atomic); returns the path."""
    with open_atomic(path, "w", perms=perms, encoding=encoding) as f:
        f.write(text)
    return Path(path)
