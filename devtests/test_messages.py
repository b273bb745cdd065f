"""What a student reads when the upload itself is wrong (grader/submission.py: diagnose), and that
no results.json shows them a grader frame or an install path (grader/validate.py: leaks).

A broken upload is diagnosed in the grading process from the file's bytes (compile() for a syntax
error: nothing of it runs), said once in the summary, and each test says in one line it was not run."""
import gzip
import io
import json
import zipfile

import pytest

import mpconfig as C
from grader import grade as G
from grader import results as R
from grader.submission import UploadProblem, diagnose, stub_definitions, stub_text
from grader.validate import leaks

FEEDBACK_MAX_LINES = 40      # the summary and every test's output together


def folder_with(tmp_path, content, name="sub"):
    folder = tmp_path / name
    folder.mkdir()
    path = folder / "submitted.py"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return folder


def zip_bytes():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("submitted.py", "x = 1\n")
    return buffer.getvalue()


REFERENCE = C.REFERENCE_SOLUTION.read_text()
NOTEBOOK = (C.ROOT / "mp09_notebook.ipynb").read_text()


@pytest.mark.parametrize("content, words", [
    ("", "is empty"),
    ("\n\n   \n", "is empty (blank lines only)"),
    (zip_bytes(), "is a zip archive, not Python source code"),
    (gzip.compress(b"x = 1\n"), "is a gzip archive"),
    (b"%PDF-1.7\n...", "is a PDF document"),
    (b"\xa7\r\r\n\x00\x00\x00\x00" + bytes(8) + b"\xe3\x00", "is a compiled Python file"),
    ("x = 'caf\u00e9'\n".encode("latin-1"), "could not be read as text (byte b'\\xe9' on line 1 is not utf-8)"),
    (NOTEBOOK, "is a Jupyter notebook"),
    (stub_text(), "is the unchanged stub: nothing was filled in yet"),
    (stub_text().replace("\n", "\r\n"), "is the unchanged stub"),
])
def test_an_upload_that_cannot_be_graded_is_named(tmp_path, content, words):
    problem = diagnose(folder_with(tmp_path, content))
    assert isinstance(problem, UploadProblem)
    assert words in problem.summary, problem.summary
    assert len(problem.summary.splitlines()) == 1 and "\n" not in problem.per_test
    assert problem.per_test.startswith("Not run: submitted.py ")


def test_a_syntax_error_names_file_line_and_the_line_itself(tmp_path):
    problem = diagnose(folder_with(tmp_path, "import torch\n\ndef run_model(:\n    pass\n"))
    assert problem.summary.splitlines()[1:] == ['  File "submitted.py", line 3', "    def run_model(:",
                                                "                  ^", "SyntaxError: invalid syntax"]
    assert "syntax error at line 3" in problem.summary.splitlines()[0]
    assert problem.per_test == ("Not run: submitted.py has a SyntaxError at line 3: invalid syntax "
                                "(see the summary at the top).")


def test_an_indentation_error_is_a_syntax_error_too(tmp_path):
    problem = diagnose(folder_with(tmp_path, REFERENCE.replace("    return model\n", "  return model\n", 1)))
    assert "IndentationError" in problem.summary and "line " in problem.summary, problem.summary


@pytest.mark.parametrize("content", [
    REFERENCE,
    "# -*- coding: latin-1 -*-\nx = 'caf\u00e9'\n".encode("latin-1"),   # Python reads it: so do we
    "import numpyy\n",            # compiles: the import check in a child says what is wrong
])
def test_a_file_python_can_compile_is_left_to_the_import_check(tmp_path, content):
    assert diagnose(folder_with(tmp_path, content)) is None


def test_a_symlinked_submission_is_never_read_in_the_grading_process(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("password = hunter2 (\n")
    folder = tmp_path / "sub"
    folder.mkdir()
    (folder / "submitted.py").symlink_to(secret)
    assert diagnose(folder) is None


def test_the_stubs_definitions_give_line_and_signature():
    defs = stub_definitions()
    line, signature, kind = defs["test"]
    assert stub_text().splitlines()[line - 1] == "def test(test_dataloader, model):"
    assert signature == "def test(test_dataloader, model)" and kind == "function"
    assert defs["CIFAR10"][2] == "class" and defs["FinetuneNet"][1].startswith("class FinetuneNet(")


# --- real grades of broken uploads: no child runs, so each costs only the knowledge load -------------
def feedback_lines(results):
    return sum(len((t["output"] or "").splitlines()) for t in results["tests"]) + len(
        results["output"].splitlines())


@pytest.mark.parametrize("content, diagnosis", [
    ("import torch\n\ndef run_model(:\n    pass\n", "has a syntax error at line 3"),
    ("", "is empty"),
    (NOTEBOOK, "is a Jupyter notebook"),
    (stub_text(), "is the unchanged stub"),
    (zip_bytes(), "is a zip archive"),
])
def test_a_broken_upload_gets_one_diagnosis_and_short_feedback(tmp_path, content, diagnosis):
    results = G.grade(folder_with(tmp_path, content))
    R.validate(results)
    assert results["score"] == 0 and {t["number"] for t in results["tests"]} == set(C.TESTS)
    assert diagnosis in results["output"].splitlines()[1], results["output"]
    assert feedback_lines(results) <= FEEDBACK_MAX_LINES, feedback_lines(results)
    for test in results["tests"]:
        assert test["status"] == "failed" and len(test["output"].strip().splitlines()) == 1, test
    assert leaks(results) == []


# --- the check validate applies to every catalogue entry's results.json ------------------------------
@pytest.mark.parametrize("line, what", [
    ('  File "/tmp/box/grader/probes/testing.py", line 40, in test_check', "a grader frame"),
    ("  grader/child.py:3: UserWarning", "a grader frame"),
    ('  File "<frozen importlib._bootstrap>", line 1204, in _gcd_import', "an import-system frame"),
    ("/opt/venv/lib/python3.10/site-packages/torch/nn/functional.py:12: UserWarning", "an install path"),
    ('  File "/usr/lib/python3.10/json/decoder.py", line 3', "an install path"),
])
def test_validate_flags_what_a_student_must_never_read(line, what):
    results = {"output": "Score: 0 / 100.", "tests": [{"output": f"Test Failed: x\n{line}\n"}]}
    assert [w for w, _ in leaks(results)] == [what]


def test_validate_lets_the_students_own_lines_through():
    results = {"output": "hint: the grader calls test as the stub defines it",
               "tests": [{"output": '  File "submitted.py", line 3, in test\n  ... 4 frames inside '
                                    'torch ...\ntorch/nn/modules/module.py:12: UserWarning: x'}]}
    assert leaks(results) == []


def test_old_import_failure_output_is_flagged():
    """The shape the grader gave before: importlib frames and the interpreter's path in every test."""
    text = ('  File "/root/.pyenv/versions/3.11.7/lib/python3.11/importlib/__init__.py", line 126, in '
            'import_module\n  File "<frozen importlib._bootstrap>", line 1204, in _gcd_import')
    assert len(leaks({"output": text, "tests": []})) == 2


# --- a function the tests need is missing: said in the student's terms, in its own tests only -------
@pytest.mark.slow
def test_a_submission_without_test_loses_6_1_and_6_2_naming_it(tmp_path):
    """The reference with test() named test_model (run_model cut short: its tests are not the point)."""
    source = REFERENCE.replace("def test(", "def test_model(").replace(
        "test(test_dataloader, model)", "test_model(test_dataloader, model)")
    source += "\n\ndef run_model():\n    raise RuntimeError('not written yet')\n"
    results = G.grade(folder_with(tmp_path, source))
    R.validate(results)
    tests = {t["number"]: t for t in results["tests"]}
    lost = {n for n, t in tests.items() if t["score"] < t["max_score"]}
    assert lost == {"6.1", "6.2", "7.1", "7.2", "7.3"}, lost
    line = stub_definitions()["test"][0]
    for n in ("6.1", "6.2"):
        assert ("submitted.py defines no `test` function, and this test calls it. It defines "
                "`test_model`: if that is the one, name it `test`. (the stub defines it at line "
                f"{line}: def test(test_dataloader, model))") in tests[n]["output"], tests[n]["output"]
        assert "raised an error" not in tests[n]["output"], tests[n]["output"]
    assert leaks(results) == []
