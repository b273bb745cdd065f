"""The student-visible tests (tests/): numbered and named like the graded tests, pass on the
reference and on a test() that stays in eval mode, fail on the stubs with the stubs' message
only, catch typical mistakes with a short message that names the student's line, and end with
the table of graded tests."""
import importlib
import inspect
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

import mpconfig as C
from reference import build_bundle as B
from reference.make_stubs import MESSAGE, make_stubs

FAILURE_LINE_BUDGET = 30     # lines one failing visible test may print (issue 14)
TABLE_LINE_BUDGET = 2 * len(C.TESTS) + 4


def make_submission(root, solution):
    """A student's folder as the bundle lays it out, with ``solution`` as submitted.py."""
    root.mkdir()
    B.write_visible_tests(root / C.VISIBLE_TESTS.name)
    (root / "models.py").write_text((C.ROOT / "models.py").read_text())
    (root / "submitted.py").write_text(solution)
    (root / "resnet18.pt").symlink_to(C.CHECKPOINT)
    (root / C.DATA_DIR.name).symlink_to(C.DATA_DIR)
    return root


def run_visible(folder, *args):
    """Run ``python -m pytest tests`` in ``folder``: test id -> (outcome, message), and the run."""
    report = folder.parent / f"{folder.name}-junit.xml"
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", COLUMNS="100")
    proc = subprocess.run([sys.executable, "-m", "pytest", "tests", "-p", "no:cacheprovider", "-q",
                           f"--junitxml={report}", *args],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=600)
    assert report.is_file(), f"pytest wrote no report:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    results = {}
    for case in ET.parse(report).iter("testcase"):
        problems = [c for c in case if c.tag in ("failure", "error", "skipped")]
        outcome = problems[0].tag if problems else "passed"
        results[case.get("name")] = (outcome, problems[0].get("message", "") if problems else "")
    return results, proc


def failure_blocks(stdout):
    """Test name -> the lines pytest printed for that failure (its "___ name ___" header to the
    next header or section)."""
    blocks, name = {}, None
    for line in stdout.splitlines():
        header = re.fullmatch(r"_{3,} (\S+) _{3,}", line)
        if header:
            name = header.group(1)
            blocks[name] = [line]
        elif re.match(r"={3,}", line):
            name = None
        elif name:
            blocks[name].append(line)
    return blocks


def table_rows(stdout):
    """Graded test number -> (points, outcome) from the summary table at the end of the run."""
    table = stdout.split("graded tests, numbered as on Gradescope", 1)[1]
    return {m.group(1): (float(m.group(2)), m.group(3))
            for m in re.finditer(r"(?m)^(\d+\.\d+)\s+([\d.]+)\s+(passed|FAILED|not run|-)\s", table)}


# --- numbering: one source, the grader's -----------------------------------------------
def test_graded_tests_table_matches_the_grader():
    """graded_tests.json (generated from mpconfig and the suites' source) holds what the grader
    registers with Gradescope: gradescope-utils' number, weight and the docstring's title."""
    registered = {}
    for path in sorted((C.ROOT / "grader" / "suites").glob("*.py")):
        module = importlib.import_module(f"grader.suites.{path.stem}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            for _, fn in inspect.getmembers(cls, inspect.isfunction):
                if hasattr(fn, "__number__"):
                    number = fn.__number__
                    registered[number] = {"name": fn.__doc__.strip().splitlines()[0][len(number):].strip(),
                                          "points": getattr(fn, "__weight__", None)}
    table = json.loads(B.visible_test_files()[B.GRADED_TESTS_FILE])
    assert list(table) == list(C.TESTS)
    assert table == registered
    assert sum(t["points"] for t in table.values()) == 100


def test_every_visible_test_names_a_graded_test():
    source = (C.VISIBLE_TESTS / "test_submitted.py").read_text()
    tests = re.findall(r"(?m)^def (test_\w+)", source)
    numbers = re.findall(r'graded\("(\d+\.\d+)"\)', source)
    assert len(numbers) >= len(tests) >= 15
    assert set(numbers) <= set(C.TESTS)
    for name in tests:   # test_1_2_items mirrors 1.2 (test_4_... covers 4.1 and 4.2 by parameter)
        section = name.split("_")[1]
        assert any(n.startswith(section + ".") for n in numbers), name


def test_a_missing_table_is_named(tmp_path):
    folder = make_submission(tmp_path / "no-table", C.REFERENCE_SOLUTION.read_text())
    (folder / "tests" / B.GRADED_TESTS_FILE).unlink()
    proc = subprocess.run([sys.executable, "-m", "pytest", "tests", "-p", "no:cacheprovider", "-q"],
                          cwd=folder, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "graded_tests.json is missing" in proc.stdout + proc.stderr


# --- runs ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def reference_results(tmp_path_factory):
    folder = make_submission(tmp_path_factory.mktemp("visible") / "reference", C.REFERENCE_SOLUTION.read_text())
    return run_visible(folder)


@pytest.fixture(scope="module")
def stub_results(tmp_path_factory):
    folder = make_submission(tmp_path_factory.mktemp("visible") / "stubs", make_stubs(C.REFERENCE_SOLUTION.read_text()))
    return run_visible(folder)


@pytest.mark.slow
def test_all_pass_on_the_reference(reference_results):
    results, proc = reference_results
    assert len(results) >= 15, proc.stdout[-2000:]
    failing = {name: r for name, r in results.items() if r[0] != "passed"}
    assert not failing, proc.stdout[-3000:]
    assert proc.returncode == 0
    rows = table_rows(proc.stdout)
    assert list(rows) == list(C.TESTS), proc.stdout[-3000:]
    for number, (points, outcome) in rows.items():
        assert points == C.TESTS[number][0]
        assert outcome == ("-" if number.startswith("7.") else "passed"), (number, outcome)


@pytest.mark.slow
def test_all_fail_with_not_implemented_on_the_stubs(reference_results, stub_results):
    results, proc = stub_results
    assert set(results) == set(reference_results[0])
    for name, (outcome, message) in results.items():
        assert outcome == "failure", f"{name}: {outcome} {message}\n{proc.stdout[-2000:]}"
        assert message == f"NotImplementedError: {MESSAGE}", f"{name}: {message}"
    # every failure names the stub's line in submitted.py, briefly
    for name, block in failure_blocks(proc.stdout).items():
        assert len(block) <= FAILURE_LINE_BUDGET, "\n".join(block)
        assert re.search(r"^submitted\.py:\d+ in \w+$", "\n".join(block), re.M), "\n".join(block)
    table = proc.stdout.split("graded tests, numbered as on Gradescope", 1)[1].splitlines()
    assert len(table) <= TABLE_LINE_BUDGET, "\n".join(table)


@pytest.mark.slow
def test_test_may_leave_the_model_in_eval_mode(tmp_path):
    """Issue 11: test() that switches to eval mode and stays there is correct (the grader's 6.2
    and the catalogue's variant eval_without_restore accept it): the visible tests must too."""
    solution = catalogue_entry("variants", "eval_without_restore").source(C.REFERENCE_SOLUTION.read_text())
    folder = make_submission(tmp_path / "eval_without_restore", solution)
    results, proc = run_visible(folder, "-k", "test_6")
    assert set(results) == {"test_6_1_accuracy", "test_6_2_model_unchanged"}, proc.stdout[-2000:]
    assert all(outcome == "passed" for outcome, _ in results.values()), proc.stdout[-3000:]


MUTATIONS = {
    # test name -> (text in the reference, replacement, words the failure message must contain)
    "test_3_2_frozen_backbone": (
        "param.requires_grad = False", "param.requires_grad = True",
        ["FinetuneNet.__init__ (submitted.py, line", "expected every pretrained backbone parameter frozen", "found"]),
    "test_1_2_items": (
        "self.images[idx].reshape(3, 32, 32).transpose(1, 2, 0)", "self.images[idx].reshape(32, 32, 3)",
        ["(submitted.py, line", "expected image 0"]),
    "test_6_1_accuracy": (
        "return correct / total", "return 100 * correct / total",
        ["test (submitted.py, line", "expected a value in [0, 1]", "not a percentage"]),
    "test_6_2_model_unchanged": (      # the catalogue's test_train_mode: never calls eval()
        "    model.eval()\n    correct, total", "    correct, total",
        ["test (submitted.py, line", "parameters and buffers unchanged"]),
}


@pytest.mark.slow
def test_typical_mistakes_are_named(tmp_path):
    solution = C.REFERENCE_SOLUTION.read_text()
    for old, new, _ in MUTATIONS.values():
        assert solution.count(old) == 1, old
        solution = solution.replace(old, new)
    folder = make_submission(tmp_path / "mutant", solution)
    results, proc = run_visible(folder, "-k", " or ".join(MUTATIONS))
    assert set(results) == set(MUTATIONS), proc.stdout[-2000:]
    for name, (_, _, words) in MUTATIONS.items():
        outcome, message = results[name]
        assert outcome == "failure", f"{name}: {outcome}"
        for word in words:
            assert word in message, f"{name}: {word!r} not in {message!r}"


def catalogue_entry(kind, name):
    """The catalogue's recipe of that name: the visible tests judge what the grader judges."""
    from grader import catalogue
    return next(e for e in catalogue.entries() if (e.kind, e.name) == (kind, name))


def line_of(solution, text):
    return solution[:solution.index(text)].count("\n") + 1


@pytest.mark.slow
def test_a_failure_is_short_and_names_the_students_line(tmp_path):
    """A catalogue mutant (channels_wrong_order) and a typo that raises inside numpy: each
    failing test prints at most FAILURE_LINE_BUDGET lines, with the student's file and line, the
    message and the hint; the table marks the graded test failed with its points."""
    reference = C.REFERENCE_SOLUTION.read_text()
    good = "self.images[idx].reshape(3, 32, 32).transpose(1, 2, 0)"
    cases = {
        # a wrong value: the message names the function and the line where it starts
        "channels_wrong_order": (catalogue_entry("mutants", "channels_wrong_order").source(reference),
                                 lambda s: "(submitted.py, line"),
        # an exception raised in numpy from the student's line: that line is shown
        "transpose_typo": (reference.replace(good, "self.images[idx].reshape(3, 32, 32).transpose(1, 2)"),
                           lambda s: f"submitted.py:{line_of(s, 'image = self.images[idx]')} in __getitem__"),
    }
    for name, (solution, expected_place) in cases.items():
        assert solution != reference
        folder = make_submission(tmp_path / name, solution)
        results, proc = run_visible(folder, "-k", "test_1_")
        assert results["test_1_2_items"][0] == "failure", proc.stdout[-3000:]
        block = failure_blocks(proc.stdout)["test_1_2_items"]
        text = "\n".join(block)
        assert len(block) <= FAILURE_LINE_BUDGET, text
        assert expected_place(solution) in text, text
        assert "hint: " in text, text
        assert "test_batch = {" not in text and "submitted = <module" not in text, text  # no fixture dumps
        rows = table_rows(proc.stdout)
        assert rows["1.2"] == (C.TESTS["1.2"][0], "FAILED"), proc.stdout[-2000:]
        assert rows["2.1"][1] == "not run" and rows["7.3"][1] == "-"
        print(f"{name}: the failing test printed {len(block)} lines; the whole run {len(proc.stdout.splitlines())}")
