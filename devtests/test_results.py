"""results.json: the schema accepts what Gradescope accepts and rejects the rest; it is written
atomically and last; a grader failure still yields a valid file. Fake suites keep these fast."""
import copy
import json
import subprocess
import unittest

import psutil
import pytest
from gradescope_utils.autograder_utils.decorators import leaderboard, number, partial_credit, weight
from hypothesis import given, settings
from hypothesis import strategies as st

from grader import atomic_write
from grader import grade as G
from grader import results as R


def good_results():
    return {
        "score": 7.5, "execution_time": 12.3, "output": "Score: 7.5 / 10.",
        "stdout_visibility": "hidden",
        "tests": [
            {"name": "dataset length", "number": "1.1", "score": 5.0, "max_score": 5.0,
             "status": "passed", "visibility": "visible", "output": ""},
            {"name": "accuracy", "number": "7.3", "score": 2.5, "max_score": 5.0,
             "status": "failed", "visibility": "after_due_date", "output": "accuracy 0.81"},
        ],
        "leaderboard": [{"name": "accuracy", "value": 0.81, "order": "desc"}],
    }


def test_a_good_results_json_is_valid():
    assert R.problems(good_results()) == []
    R.validate(good_results())


def _drop(key):
    return lambda r: r.pop(key)


def _set(path, value):
    def change(r):
        target = r
        for p in path[:-1]:
            target = target[p]
        target[path[-1]] = value
    return change


MALFORMED = {
    "missing score": (_drop("score"), "'score' is a required property"),
    "missing tests": (_drop("tests"), "'tests' is a required property"),
    "missing execution_time": (_drop("execution_time"), "'execution_time'"),
    "execution_time a string": (_set(["execution_time"], "12.30"), "execution_time"),
    "status not passed/failed": (_set(["tests", 0, "status"], "ok"), "'ok' is not one of"),
    "score above max_score": (_set(["tests", 1, "score"], 6.0), "exceeds max_score"),
    "negative score": (_set(["tests", 1, "score"], -1.0), "minimum"),
    "NaN score": (_set(["tests", 1, "score"], float("nan")), "not a finite number"),
    "test without a name": (lambda r: r["tests"][0].pop("name"), "'name' is a required property"),
    "test without a number": (lambda r: r["tests"][0].pop("number"), "'number'"),
    "duplicate test number": (_set(["tests", 1, "number"], "1.1"), "already used"),
    "total is not the sum": (_set(["score"], 10.0), "sum to 7.5"),
    "passed but lost points": (_set(["tests", 1, "status"], "passed"), "status passed but"),
    "bad visibility": (_set(["tests", 0, "visibility"], "secret"), "'secret' is not one of"),
    "unknown top-level key": (_set(["scroe"], 1), "Additional properties"),
    "leaderboard entry without value": (lambda r: r["leaderboard"][0].pop("value"), "'value'"),
    "score is a bool": (_set(["tests", 0, "score"], True), "not of type 'number'"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_results_are_rejected_with_the_reason(case):
    change, reason = MALFORMED[case]
    results = good_results()
    change(results)
    found = R.problems(results)
    assert any(reason in p for p in found), found
    with pytest.raises(R.ResultsError, match="invalid results.json"):
        R.validate(results)


def test_a_format_gradescope_does_not_know_is_rejected():
    results = good_results()
    results["output_format"] = "markdown"   # Gradescope's name is "md"
    assert any("'markdown' is not one of" in p for p in R.problems(results))


def test_every_results_json_written_renders_as_text(tmp_path):
    """Unset, Gradescope renders the top-level output as sanitised HTML: a traceback's <module>
    line would vanish. Every file written says "text", unless a results dict chose otherwise."""
    written = json.loads(R.write_atomic(tmp_path / "results.json", good_results()).read_text())
    assert {k: written[k] for k in R.FORMATS} == {
        "output_format": "text", "test_output_format": "text", "test_name_format": "text"}
    assert json.loads(R.dumps(dict(good_results(), output_format="md")))["output_format"] == "md"
    fallback = R.grader_error_results("Traceback ...")
    assert fallback["output_format"] == "text" and R.problems(fallback) == []


def test_non_dict_results_are_rejected():
    assert R.problems([]) == ["results is a list, not a dict"]


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(st.tuples(st.floats(0, 50), st.floats(0, 1), st.booleans()), max_size=12))
def test_any_consistent_grade_validates_and_any_overscore_does_not(cases):
    tests = []
    for i, (max_score, share, _) in enumerate(cases):
        score = max_score * share
        tests.append({"name": f"t{i}", "number": f"1.{i + 1}", "score": score, "max_score": max_score,
                      "status": "passed" if score >= max_score else "failed"})
    tests = G._finish_tests(tests)
    results = {"score": sum(t["score"] for t in tests), "execution_time": 1.0, "output": "",
               "stdout_visibility": "hidden", "tests": tests}
    assert R.problems(results) == []
    json.loads(R.dumps(results))  # strict JSON
    if tests:
        tests[-1]["score"] = tests[-1]["max_score"] + 1
        results["score"] = sum(t["score"] for t in tests)
        assert any("exceeds max_score" in p for p in R.problems(results))


def test_grader_error_results_are_valid_and_say_so():
    results = R.grader_error_results("Traceback ...\nKeyError: 'x'", 3.2)
    R.validate(results)
    assert results["score"] == 0 and R.is_grader_error(results)
    assert "not a problem with your code" in results["output"]


# --- atomic writes ---------------------------------------------------------------------------
def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name != "results.json")


def test_write_atomic_writes_strict_json(tmp_path):
    path = R.write_atomic(tmp_path / "results.json", good_results())
    assert json.loads(path.read_text()) == R.with_formats(good_results())
    assert _leftovers(tmp_path) == []


def test_invalid_results_are_never_written(tmp_path):
    path = tmp_path / "results.json"
    path.write_text("previous")
    bad = good_results()
    bad["tests"][0]["status"] = "ok"
    with pytest.raises(R.ResultsError):
        R.write_atomic(path, bad)
    assert path.read_text() == "previous" and _leftovers(tmp_path) == []


def test_a_crash_while_writing_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "results.json"
    path.write_text("previous")

    def crash(*_):
        raise OSError("disk full")
    monkeypatch.setattr(atomic_write.os, "fsync", crash)
    with pytest.raises(OSError, match="disk full"):
        R.write_atomic(path, good_results())
    assert path.read_text() == "previous" and _leftovers(tmp_path) == []


def test_open_atomic_replaces_only_a_complete_file(tmp_path):
    """The one atomic writer (results, stubs, notebook, zips, a probe's answer): an exception
    inside the block keeps the previous file; the file's mode is what the caller asked."""
    path = tmp_path / "answer.bin"
    path.write_bytes(b"previous")
    with pytest.raises(RuntimeError):
        with atomic_write.open_atomic(path, "wb") as f:
            f.write(b"half")
            raise RuntimeError("interrupted")
    assert path.read_bytes() == b"previous" and _leftovers(tmp_path) == ["answer.bin"]
    with atomic_write.open_atomic(path, "wb", perms=None) as f:
        f.write(b"whole")
    assert path.read_bytes() == b"whole" and path.stat().st_mode & 0o777 == 0o600
    atomic_write.write_text(path, "text")
    assert path.read_text() == "text" and path.stat().st_mode & 0o777 == 0o644


# --- grade(): order of events, with fake suites (no child, no torch work) ---------------------
EVENTS = []


class FakeCase(unittest.TestCase):
    """Stands in for grader/suites: three graded tests and a leaderboard column."""
    __test__ = False  # run by grade(), not collected by pytest

    @weight(4)
    @number("1.1")
    def test_passes(self):
        """passes"""
        EVENTS.append("test 1.1")

    @weight(6)
    @number("1.2")
    def test_fails(self):
        """fails with a student-facing message"""
        EVENTS.append("test 1.2")
        self.fail("expected 8 classes, found 10 (look at FinetuneNet.__init__)")

    @partial_credit(10)
    @number("2.1")
    def test_partial_and_leaves_a_process(self, set_score=None):
        """partial credit, and a process started in a session of its own"""
        proc = subprocess.Popen(["sleep", "120"], start_new_session=True)
        EVENTS.append(("spawned", proc.pid))
        set_score(2.5)
        self.fail("accuracy 0.81 is below 0.85")

    @leaderboard("accuracy")
    def test_leaderboard(self, set_leaderboard_value=None):
        set_leaderboard_value(0.81)


class FakeContext:
    def __init__(self, suite_cases, monkeypatch, fail_load=False):
        from grader import context
        self.loaded = False

        def load():
            if fail_load:
                raise KeyError("hidden batch unreadable")
            self.loaded = True

        def for_submission(folder, budget=None):
            assert self.loaded, "the context must be loaded before the submission is set"
            return type("Ctx", (), {"results": {}, "seconds": {}})()

        monkeypatch.setattr(context, "load", load)
        monkeypatch.setattr(context, "for_submission", for_submission)
        monkeypatch.setattr(context, "load_suites",
                            lambda ctx=None: unittest.TestLoader().loadTestsFromTestCase(suite_cases))


@pytest.fixture
def submission(tmp_path):
    folder = tmp_path / "submission"
    folder.mkdir()
    (folder / "submitted.py").write_text("x = 1\n")
    return folder


@pytest.fixture
def spy_write(monkeypatch):
    """Records, at the moment results.json is written, which spawned processes still live."""
    real = R.write_atomic
    seen = {}

    def spy(path, results):
        spawned = [e[1] for e in EVENTS if isinstance(e, tuple)]
        seen["alive"] = [pid for pid in spawned if psutil.pid_exists(pid)
                         and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
        seen["events_before"] = list(EVENTS)
        EVENTS.append("write")
        return real(path, results)
    monkeypatch.setattr(R, "write_atomic", spy)
    return seen


def test_grade_writes_results_last_after_every_child_is_dead(submission, tmp_path, monkeypatch,
                                                             spy_write):
    EVENTS.clear()
    FakeContext(FakeCase, monkeypatch)
    out = tmp_path / "results" / "results.json"
    outcome = G.run(submission, out)
    assert spy_write["alive"] == [], "a process the grade started was alive when results were written"
    assert EVENTS[-1] == "write" and {"test 1.1", "test 1.2"} <= set(spy_write["events_before"])
    written = json.loads(out.read_text())
    assert written == R.with_formats(outcome.results) and outcome.grader_error == ""
    R.validate(written)
    by_number = {t["number"]: t for t in written["tests"]}
    assert [t["number"] for t in written["tests"]] == ["1.1", "1.2", "2.1"]
    assert (by_number["1.1"]["score"], by_number["1.1"]["status"]) == (4, "passed")
    assert (by_number["1.2"]["score"], by_number["1.2"]["status"]) == (0, "failed")
    assert "look at FinetuneNet.__init__" in by_number["1.2"]["output"]
    assert by_number["2.1"]["score"] == 2.5 and written["score"] == 6.5
    assert written["leaderboard"] == [{"name": "accuracy", "value": 0.81, "order": "desc"}]
    assert written["output"].startswith("Score: 6.5 / 20. 1 of 3 tests passed.")
    assert written["stdout_visibility"] == "hidden" and isinstance(written["execution_time"], float)


class CrashingCase(FakeCase):
    __test__ = False

    @weight(5)
    @number("3.1")
    def test_crashes(self):
        """a grader bug"""
        raise KeyError("answers")

    @weight(5)
    @number("3.2")
    def test_skipped(self):
        """skipped"""
        self.skipTest("not run")


def test_a_crashing_test_is_flagged_and_a_skipped_test_earns_nothing(submission, monkeypatch):
    EVENTS.clear()
    FakeContext(CrashingCase, monkeypatch)
    outcome = G.run(submission)
    by_number = {t["number"]: t for t in outcome.results["tests"]}
    assert "KeyError" in outcome.grader_error
    assert by_number["3.1"]["score"] == 0 and R.GRADER_ERROR in by_number["3.1"]["output"]
    assert "not a problem with your" in by_number["3.1"]["output"]
    assert by_number["3.2"]["status"] == "failed" and by_number["3.2"]["score"] == 0
    assert "not run" in by_number["3.2"]["output"]
    assert by_number["1.1"]["score"] == 4, "the other tests keep their scores"
    assert R.GRADER_ERROR in outcome.results["output"]


def test_a_grader_failure_still_writes_a_valid_results_json(submission, tmp_path, monkeypatch):
    FakeContext(FakeCase, monkeypatch, fail_load=True)
    out = tmp_path / "results.json"
    outcome = G.run(submission, out)
    written = json.loads(out.read_text())
    R.validate(written)
    assert R.is_grader_error(written) and written["score"] == 0
    assert "hidden batch unreadable" in outcome.grader_error
    assert "hidden batch unreadable" not in written["output"], "no grader internals for students"


def test_a_missing_submitted_py_fails_every_test_and_names_what_was_found(tmp_path, monkeypatch):
    FakeContext(FakeCase, monkeypatch)
    folder = tmp_path / "upload"
    folder.mkdir()
    (folder / "submission.py").write_text("")
    results = G.grade(folder)
    R.validate(results)
    assert [t["score"] for t in results["tests"]] == [0, 0, 0]
    for t in results["tests"]:
        assert "No file named submitted.py" in t["output"] and "submission.py" in t["output"]
    assert "submission.py" in results["output"]
