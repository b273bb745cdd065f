"""What a submission folder is: the one file a student uploads, what that file is when it cannot be
graded (diagnose(): from its bytes, in the grading process, running none of it), and a folder
holding the reference as that file (the default submission of `grade` and what `bench grade` times)."""
import ast
import functools
import io
import json
import shutil
import tempfile
import tokenize
import traceback
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import mpconfig as C

SUBMISSION_FILE = "submitted.py"


@contextmanager
def reference_submission():
    """A temporary submission folder holding the reference solution as submitted.py."""
    with tempfile.TemporaryDirectory(prefix="mp09-reference-") as tmp:
        shutil.copyfile(C.REFERENCE_SOLUTION, Path(tmp) / SUBMISSION_FILE)
        yield Path(tmp)


# --- what the uploaded file is, judged from its bytes (nothing of it runs) --------------------------
SOURCE_MAX_BYTES = 4_000_000     # larger files are left to the import check (compiling costs memory)
SNIPPET_CHARS = 160              # of a source line quoted back to the student
_MAGIC = (   # leading bytes -> what the file is
    (b"PK\x03\x04", "a zip archive"), (b"PK\x05\x06", "a zip archive"), (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"), (b"Rar!", "a RAR archive"), (b"BZh", "a bzip2 archive"),
    (b"\xfd7zXZ\x00", "an xz archive"), (b"%PDF", "a PDF document"), (b"\x7fELF", "a compiled program"),
    (b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"),
    (b"\xd0\xcf\x11\xe0", "a Microsoft Office document"),
)
COMPILED_PYTHON = "a compiled Python file (.pyc)"


@dataclass(frozen=True)
class UploadProblem:
    """Why submitted.py cannot be graded at all: the summary (the diagnosis, at most about 10
    lines) and the one line each test shows."""
    summary: str
    per_test: str


def _not_source(kind):
    return UploadProblem(
        f"Your {SUBMISSION_FILE} is {kind}, not Python source code, so nothing in it could be tested. "
        f"Upload the plain-text file {SUBMISSION_FILE} itself (the stub with your code filled in).",
        f"Not run: {SUBMISSION_FILE} is {kind}, not Python source (see the summary at the top).")


def _binary_kind(data):
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            return kind
    if data[2:4] == b"\r\n" and len(data) >= 16 and b"\x00" in data[:16]:
        return COMPILED_PYTHON       # a .pyc: 2-byte magic number, then \r\n, then flags
    if b"\x00" in data[:8192]:
        return "a binary file"
    return None


def _is_notebook(text):
    if not text.lstrip().startswith("{"):
        return False
    try:
        return isinstance(json.loads(text), dict) and "cells" in json.loads(text)
    except ValueError:
        return False


def _decode(data):
    """(text, None) as Python would read the source (its coding line, else UTF-8), or (None, why)."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:         # an unknown coding line, or bytes that are not UTF-8
        if b"coding" in b"".join(data.splitlines(keepends=True)[:2]):
            return None, str(exc)
        encoding = "utf-8"
    try:
        return data.decode(encoding), None
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        return None, f"byte {exc.object[exc.start:exc.start + 1]!r} on line {line} is not {exc.encoding}"


def _syntax_problem(exc, text):
    """The SyntaxError as Python prints it, with the file's name only: file, line, the line, a caret.
    The line is taken from `text` (Python may fill it in from a file of the error's name)."""
    exc.filename = SUBMISSION_FILE
    lines = text.splitlines()
    exc.text = lines[exc.lineno - 1] + "\n" if exc.lineno and 0 < exc.lineno <= len(lines) else None
    if exc.text and len(exc.text) > SNIPPET_CHARS:
        exc.text = exc.text[:SNIPPET_CHARS] + " ..."
        exc.offset = exc.end_offset = None
    shown = "".join(traceback.format_exception_only(type(exc), exc)).rstrip("\n")
    where = f"line {exc.lineno}" if exc.lineno else "an unknown line"
    return UploadProblem(
        f"Your {SUBMISSION_FILE} has a syntax error at {where}, so Python cannot import it and "
        f"nothing in it could be tested; fix that line (running `python {SUBMISSION_FILE}` shows the "
        f"same error):\n{shown}",
        f"Not run: {SUBMISSION_FILE} has a {type(exc).__name__} at {where}: {exc.msg} "
        "(see the summary at the top).")


def _normalised(text):
    return "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").strip().splitlines())


@functools.lru_cache(maxsize=1)
def stub_text():
    """The stubs students start from, as reference/make_stubs.py renders them from the reference."""
    from reference.make_stubs import make_stubs
    return make_stubs(C.REFERENCE_SOLUTION.read_text())


@functools.lru_cache(maxsize=1)
def stub_definitions():
    """{name: [line in the stub, "def test(test_dataloader, model)", "function" or "class"]} of the
    stub's top-level functions and classes: what a probe says of a name submitted.py lacks."""
    found = {}
    for node in ast.parse(stub_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            head = ast.get_source_segment(stub_text(), node).splitlines()
            line = next((h for h in head if h.lstrip().startswith(("def ", "class "))), head[0])
            found[node.name] = [node.lineno + head.index(line), line.strip().rstrip(":"),
                                "class" if isinstance(node, ast.ClassDef) else "function"]
    return found


def diagnose(folder):
    """An UploadProblem when the folder's submitted.py cannot be graded (empty, binary, an archive,
    not decodable, a notebook, a syntax error, the unchanged stub), else None. Reads and compiles
    the file only: compiling runs none of its code, so the grading process may do it."""
    path = Path(folder) / SUBMISSION_FILE
    if path.is_symlink():     # never quote a file it points to (the grader may run as root)
        return None
    try:
        with open(path, "rb") as f:
            data = f.read(SOURCE_MAX_BYTES + 1)
    except OSError as exc:
        return UploadProblem(
            f"The grader could not read your {SUBMISSION_FILE} ({exc.strerror or exc}): upload it again "
            "as a plain file.", f"Not run: {SUBMISSION_FILE} could not be read (see the summary at the top).")
    if not data.strip():
        return UploadProblem(
            f"Your {SUBMISSION_FILE} is empty{'' if not data else ' (blank lines only)'}, so there "
            f"is nothing to test: upload the stub {SUBMISSION_FILE} with your code filled in.",
            f"Not run: {SUBMISSION_FILE} is empty (see the summary at the top).")
    kind = _binary_kind(data)
    if kind:
        return _not_source(kind)
    if len(data) > SOURCE_MAX_BYTES:
        return None                    # left to the import check
    text, why = _decode(data)
    if text is None:
        return UploadProblem(
            f"Your {SUBMISSION_FILE} could not be read as text ({why}), so nothing in it could be "
            "tested: save it as UTF-8 (your editor's \"Save with encoding\"), or remove that character.",
            f"Not run: {SUBMISSION_FILE} is not UTF-8 text (see the summary at the top).")
    if _is_notebook(text):
        return UploadProblem(
            f"Your {SUBMISSION_FILE} is a Jupyter notebook (JSON with \"cells\"), not Python code, "
            f"so nothing in it could be tested: upload the file {SUBMISSION_FILE} your notebook "
            "imports; code you wrote in notebook cells must first go into that file (copy it into "
            "the stub, or export the notebook: File > Save and Export Notebook As > Executable Script).",
            f"Not run: {SUBMISSION_FILE} is a Jupyter notebook, not Python (see the summary at the top).")
    try:
        # A name no file has: Python would read the error's line from a file of that name.
        compile(text, "<submitted.py>", "exec", dont_inherit=True)
    except SyntaxError as exc:         # IndentationError and TabError too
        return _syntax_problem(exc, text)
    except (ValueError, RecursionError, MemoryError):
        pass                           # left to the import check, which says it in the child
    if _normalised(text) == _normalised(stub_text()):
        return UploadProblem(
            f"Your {SUBMISSION_FILE} is the unchanged stub: nothing was filled in yet, so every "
            "test fails. Write the code between the \"Your Code Starts Here\" and \"Your Code Ends "
            "here\" markers, then upload it again.",
            f"Not run: {SUBMISSION_FILE} is the unchanged stub (see the summary at the top).")
    return None
