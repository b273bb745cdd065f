"""grader/validate.py and grader/catalogue/: every recipe applies to the current reference, the
judge judges, leftover processes are caught; and (slow, the largest CI cost) the catalogue is
graded once by `python -m grader validate` within CI's budget, with one test per entry reading
that shared run."""
import ast
import datetime
import json
import types
import subprocess
import sys

import pytest

import mpconfig as C
from grader import catalogue
from grader import validate as V
from grader.workers import WorkerReport

ENTRIES = V.load_catalogue()
_ORDER, _ALWAYS = V.grading_order(ENTRIES)
ALWAYS_GRADED = {ENTRIES[i].label for i in _ORDER[:_ALWAYS]}     # whatever validate's budget
REFERENCE = C.REFERENCE_SOLUTION.read_text()


@pytest.mark.parametrize("entry", ENTRIES[1:], ids=[e.label for e in ENTRIES[1:]])
def test_recipe_applies_to_the_current_reference(entry, tmp_path):
    """Each edit finds its text exactly once and changes it (source() raises otherwise), and
    the result is still Python (a hostile one may misbehave, but it must be a module)."""
    assert entry.edits and all(old != new for old, new in entry.edits), entry.label
    text = entry.source(REFERENCE)
    assert text != REFERENCE
    ast.parse(text, filename=entry.label)
    folder = entry.build(tmp_path / "submission")
    assert [p.name for p in folder.iterdir()] == ["submitted.py"]
    assert (folder / "submitted.py").read_text() == text


def test_entry_names_are_unique_and_the_reference_comes_first():
    names = [e.name for e in ENTRIES]
    assert len(set(names)) == len(names)
    assert ENTRIES[0] is catalogue.REFERENCE and ENTRIES[0].source(REFERENCE) == REFERENCE


def recipe(old, new, kind="mutants", name="x"):
    return catalogue.Entry(kind, name, "d", {"score": 100}, ((old, new),))


def test_a_recipe_that_no_longer_applies_names_itself():
    once = "    return correct / total\n"
    assert REFERENCE.count(once) == 1
    assert recipe(once, "    return 1.0\n").source(REFERENCE) != REFERENCE
    with pytest.raises(catalogue.RecipeError, match=r"mutants/x, edit 1: .* occurs 0 times"):
        recipe("no such text\n", "").source(REFERENCE)
    with pytest.raises(catalogue.RecipeError, match=r"mutants/x, edit 1: .* occurs [2-9]\d* times"):
        recipe("\n", "").source(REFERENCE)
    with pytest.raises(catalogue.RecipeError, match="mutants/x, edit 1: changes nothing"):
        recipe(once, once).source(REFERENCE)
    twice = catalogue.Entry("mutants", "y", "d", {"score": 100}, ((once, "@@mark@@"), ("@@mark@@", once)))
    with pytest.raises(catalogue.RecipeError, match="mutants/y: its edits leave .* unchanged"):
        twice.source(REFERENCE)


def test_a_malformed_recipe_module_names_itself():
    def module(doc="forgets something", **attrs):
        m = types.ModuleType("grader.catalogue.mutants.broken", doc)
        m.__file__ = "broken.py"
        m.__dict__.update(attrs)
        return m
    good = {"EXPECTED": {"must_fail": ["5.1"]}, "EDITS": [("a", "b")]}
    assert catalogue._entry("mutants", module(**good)).label == "mutants/broken"
    for doc, attrs, words in [
            ("", good, "one-line docstring"),
            ("two\nlines", good, "one-line docstring"),
            ("d", dict(good, EXPECTED=None), "needs EXPECTED"),
            ("d", dict(good, EXPECTED={"must_fial": ["5.1"]}), "unknown keys ['must_fial']"),
            ("d", dict(good, EDITS=[]), "needs EDITS"),
            ("d", dict(good, EDITS=[("a", "b", "c")]), "needs EDITS")]:
        with pytest.raises(catalogue.RecipeError, match=r"mutants/broken \(broken.py\): ") as info:
            catalogue._entry("mutants", module(doc, **attrs))
        assert words in str(info.value)


def test_catalogue_size_and_expectations_name_real_tests():
    kinds = [e.kind for e in ENTRIES]
    assert kinds.count("reference") == 1
    assert kinds.count("variants") >= 6 and kinds.count("mutants") >= 15 and kinds.count("hostile") >= 12
    total = sum(points for points, _ in C.TESTS.values())
    for e in ENTRIES:
        x = e.expected
        assert e.description and "\n" not in e.description, e.label
        for n in x.get("must_fail", []) + x.get("must_fail_any", []):
            assert n in C.TESTS, f"{e.label}: unknown test {n}"
        if e.kind in ("reference", "variants"):
            assert dict(x, run_model_limit_s=None) == {"score": 100, "run_model_limit_s": None}, e.label
        # Longer than validate's own limit, no longer than production's: what a student gets.
        assert C.VALIDATE_RUN_MODEL_LIMIT_S < x.get("run_model_limit_s", C.RUN_MODEL_TIMEOUT_S) \
            <= C.RUN_MODEL_TIMEOUT_S, e.label
        if e.kind == "mutants":
            assert (x.get("must_fail") or x.get("must_fail_any")) and x["min_lost"] > 0, e.label
            assert x["min_lost"] <= x.get("max_lost", total), e.label
        if e.kind == "hostile":
            assert 0 <= x.get("min_points", 0) <= x["max_points"] <= total, e.label


def results_with(scores):
    tests = [{"name": f"t{n}", "number": n, "score": s, "max_score": C.TESTS[n][0],
              "status": "passed" if s == C.TESTS[n][0] else "failed", "visibility": "visible",
              "output": "timed out after 9 s" if s == 0 else ""} for n, s in scores.items()]
    return {"score": sum(scores.values()), "execution_time": 1.0, "output": "",
            "stdout_visibility": "hidden", "tests": tests}


FULL = {n: p for n, (p, _) in C.TESTS.items()}


def judged(expected, scores, **outcome):
    entry = catalogue.Entry("mutants", "x", "", expected)
    return V.judge(entry, WorkerReport(results=results_with(scores), **outcome), limit_s=100)


def test_judge_variant_and_mutant_rules():
    assert judged({"score": 100}, FULL) == []
    assert "expected 100 %" in judged({"score": 100}, dict(FULL, **{"2.1": 0}))[0]
    mutant = {"must_fail": ["2.1"], "min_lost": 6, "max_lost": 6}
    assert judged(mutant, dict(FULL, **{"2.1": 0})) == []
    assert judged(mutant, FULL) == ["test 2.1 passed, but must fail", "lost 0 points, must lose at least 6"]
    assert "at most 6" in judged(mutant, dict(FULL, **{"2.1": 0, "7.3": 0}))[0]
    assert "none of tests" in judged({"must_fail_any": ["6.1", "6.2"]}, FULL)[0]
    assert judged({"must_fail": ["9.9"]}, FULL) == ["test 9.9 does not exist"]


def test_judge_hostile_rules_and_the_common_checks():
    hostile = {"max_points": 55, "min_points": 55, "times_out": True, "output_lacks": ["FORGED"]}
    assert judged(hostile, dict(FULL, **{"7.1": 0, "7.2": 0, "7.3": 0})) == []
    assert "at most 55" in judged(hostile, FULL)[0]
    assert "should still earn 55" in judged(hostile, {n: 0 for n in FULL})[0]
    assert judged(hostile, dict(FULL, **{"7.3": 0}), leaks=["123 nobody sleep"])[0].startswith("1 process")
    assert "over the limit" in judged(hostile, dict(FULL, **{"7.3": 0}), seconds=131)[0]
    broken = WorkerReport(results={"score": 1000, "tests": []})
    entry = catalogue.Entry("hostile", "x", "", hostile)
    assert any("invalid results.json" in b for b in V.judge(entry, broken, 100))
    assert V.judge(entry, WorkerReport(error="the grading process died (killed by SIGKILL)"), 100)[0] \
        .startswith("the grading process died")


def test_grading_order_puts_long_runs_timeouts_and_the_reference_first_and_rotates_the_rest():
    order, always = V.grading_order(ENTRIES)
    assert sorted(order) == list(range(len(ENTRIES)))
    long_runs = {e.label for e in ENTRIES if e.expected.get("run_model_limit_s")}
    assert "variants/tutorial_recipe" in long_runs
    assert {ENTRIES[i].label for i in order[:len(long_runs)]} == long_runs, "the longest start first"
    assert {ENTRIES[i].label for i in order[:always]} == long_runs | {
        e.label for e in ENTRIES if e.expected.get("times_out") or e.kind == "reference"}
    tail = order[always:]
    turned, _ = V.grading_order(ENTRIES, rotate=5)
    assert turned[always:] == tail[5:] + tail[:5]
    assert V.grading_order(ENTRIES, rotate=len(tail))[0] == order


def test_only_selects_and_names_unknown_entries():
    assert [e.label for e in V.select_entries(ENTRIES, ["reference"])] == ["reference"]
    assert {e.kind for e in V.select_entries(ENTRIES, ["hostile"])} == {"hostile"}
    assert len(V.select_entries(ENTRIES, ["mutants/no_zero_grad", "daemon"])) == 2
    with pytest.raises(ValueError, match="no catalogue entry named nonesuch"):
        V.select_entries(ENTRIES, ["nonesuch"])


# --- the whole catalogue, graded once ---------------------------------------------------------------

@pytest.fixture(scope="module")
def validated(tmp_path_factory):
    keep = tmp_path_factory.mktemp("validate")
    # CI's share: a time budget, the variants and mutants rotated by the day (mpconfig).
    proc = subprocess.run([sys.executable, "-m", "grader", "validate", "--keep", str(keep),
                           "--budget-min", str(C.VALIDATE_CI_BUDGET_MIN),
                           "--rotate", str(datetime.date.today().toordinal())],
                          cwd=C.ROOT, capture_output=True, text=True, timeout=60 * 60)
    print(proc.stdout[-6000:])
    return keep, proc


def _not_reached(proc):
    line = next((x for x in proc.stdout.splitlines() if x.startswith("not reached within")), "")
    return set(line.split(":", 1)[1].split()) if line else set()


@pytest.mark.slow
@pytest.mark.parametrize("entry", ENTRIES, ids=[e.label for e in ENTRIES])
def test_entry_graded_as_expected(validated, entry):
    keep, proc = validated
    path = keep / entry.kind / entry.name / "outcome.json"
    first = entry.label in ALWAYS_GRADED
    if not path.is_file() and entry.label in _not_reached(proc) and not first:
        pytest.skip(f"not reached within CI's {C.VALIDATE_CI_BUDGET_MIN} min of validate "
                    "(python -m grader validate grades every entry)")
    assert path.is_file(), f"{entry.label} was not graded:\n{proc.stderr[-3000:]}"
    assert (path.parent / "submitted.py").read_text() == entry.source()
    report = json.loads(path.read_text())
    assert report["mismatches"] == [], f"{entry.label} ({entry.description}): {report['mismatches']}"


@pytest.mark.slow
def test_validate_exit_status_and_table(validated):
    _, proc = validated
    assert "validate: " in proc.stdout and "mismatches" in proc.stdout, proc.stderr[-3000:]
    assert (proc.returncode == 0) == (" 0 mismatches" in proc.stdout)
