"""python -m grader: the CLI, submissions that fail early (each still gets a valid results.json
that says what happened in the student's terms), and determinism of a whole grade."""
import json
import subprocess
import sys

import pytest

import mpconfig as C
from grader import cli
from grader import grade as G
from grader import results as R

GRADER_FRAMES = ("child.py", "grader/probes", "grader/sandbox")


def write_submission(folder, source):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "submitted.py").write_text(source)
    return folder


def reference_with(extra):
    """The reference solution with `extra` appended: real student code with one thing changed."""
    return C.REFERENCE_SOLUTION.read_text() + "\n\n" + extra + "\n"


def by_number(results):
    return {t["number"]: t for t in results["tests"]}


def assert_all_fail_with(results, *needles):
    R.validate(results)
    assert results["score"] == 0
    assert set(by_number(results)) == set(C.TESTS), "every graded test is listed"
    for t in results["tests"]:
        assert t["status"] == "failed" and t["score"] == 0
        for needle in needles:
            assert needle in t["output"], (t["number"], t["output"])
        assert not any(frame in t["output"] for frame in GRADER_FRAMES), t["output"]


# --- the command line itself (no grading) -------------------------------------------------------
def test_help_lists_every_command():
    done = subprocess.run([sys.executable, "-m", "grader", "--help"], cwd=C.ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    for command in ("grade", "build-autograder", "bench", "validate", "regrade"):
        assert command in done.stdout


def test_grade_of_a_missing_folder_is_a_usage_error(tmp_path, capsys):
    assert cli.main(["grade", "--submission", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err == f"grade: --submission {tmp_path / 'nope'} does not exist: give the folder that holds submitted.py\n"


def _grade_refused(argv, capsys, monkeypatch):
    """Exit status and stderr of `grade`, which must stop before grading anything."""
    monkeypatch.setattr(G, "run", lambda *a, **k: pytest.fail("graded despite a bad path"))
    code = cli.main(["grade", *argv])
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    return code, err


def test_results_under_a_regular_file_is_one_line_and_status_2(tmp_path, capsys, monkeypatch):
    (tmp_path / "notes.txt").write_text("x")
    target = tmp_path / "notes.txt" / "out" / "results.json"
    code, err = _grade_refused(["--results", str(target)], capsys, monkeypatch)
    assert code == 2 and err == (f"grade: --results {target} is under {tmp_path / 'notes.txt'}, a "
                                 "regular file: choose a path in a folder\n")


def test_results_in_a_folder_that_cannot_be_written_is_one_line_and_status_2(tmp_path, capsys,
                                                                             monkeypatch):
    """As root every folder is writable, so the refusal the folder's mode gives is stood in for."""
    import tempfile

    def refused(*args, **kwargs):
        raise PermissionError(13, "Permission denied")
    locked = tmp_path / "locked"
    locked.mkdir()
    monkeypatch.setattr(tempfile, "TemporaryFile", refused)
    code, err = _grade_refused(["--results", str(locked / "results.json")], capsys, monkeypatch)
    assert code == 2 and err == (f"grade: --results {locked / 'results.json'}: cannot write in {locked} "
                                 "(Permission denied): choose a folder you can write to\n")


def test_results_that_is_a_folder_is_one_line_and_status_2(tmp_path, capsys, monkeypatch):
    code, err = _grade_refused(["--results", str(tmp_path)], capsys, monkeypatch)
    assert code == 2 and "is a folder: give a file name" in err


def test_an_unknown_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["grdae"])
    assert exit_.value.code == 2


def test_bench_rejects_zero_runs(capsys):
    assert cli.main(["bench", "grade", "--runs", "0"]) == 2
    assert "--runs must be at least 1" in capsys.readouterr().err


def test_the_default_submission_is_the_reference():
    from grader.submission import reference_submission
    with reference_submission() as folder:
        assert (folder / "submitted.py").read_text() == C.REFERENCE_SOLUTION.read_text()
    assert not folder.exists()


def test_a_broken_optional_module_does_not_break_grade(monkeypatch, capsys):
    real = cli.importlib.import_module

    def flaky(name):
        if name == "grader.validate":
            raise SyntaxError("invalid syntax (validate.py, line 3)")
        return real(name)
    monkeypatch.setattr(cli.importlib, "import_module", flaky)
    parser = cli.build_parser()
    assert parser.parse_args(["grade"]).func is cli.cmd_grade
    args = parser.parse_args(["validate"])
    assert args.func(args) == 1
    assert "grader.validate could not be loaded: SyntaxError" in capsys.readouterr().err


def test_build_autograder_reports_a_packaging_problem(monkeypatch, capsys, tmp_path):
    from grader import package

    def refuse(out, timeout_min=None):
        raise package.PackageError("the data does not match reference/data_manifest.json")
    monkeypatch.setattr(package, "build", refuse)
    assert cli.main(["build-autograder", "--out", str(tmp_path / "a.zip")]) == 1
    assert "data does not match" in capsys.readouterr().err


def test_a_grader_failure_exits_non_zero_with_a_valid_results_json(tmp_path, monkeypatch, capsys):
    from grader import context

    def broken():
        raise RuntimeError("cannot read the hidden batch")
    monkeypatch.setattr(context, "load", broken)
    folder = write_submission(tmp_path / "sub", "x = 1\n")
    out = tmp_path / "results.json"
    assert cli.main(["grade", "--submission", str(folder), "--results", str(out)]) == 1
    written = json.loads(out.read_text())
    R.validate(written)
    assert R.is_grader_error(written)
    captured = capsys.readouterr()
    assert "cannot read the hidden batch" in captured.err  # for staff, on the hidden stdout/err
    assert R.GRADER_ERROR in captured.out


def test_score_table_lists_tests_total_leaderboard_and_seconds():
    results = {"score": 6.5, "execution_time": 41.27, "output": "Score: 6.5 / 20.",
               "stdout_visibility": "hidden",
               "tests": [{"name": "dataset length", "number": "1.1", "score": 4, "max_score": 4,
                          "status": "passed", "visibility": "visible", "output": ""},
                         {"name": "hidden accuracy", "number": "7.3", "score": 2.5, "max_score": 16,
                          "status": "failed", "visibility": "visible", "output": ""}],
               "leaderboard": [{"name": "accuracy", "value": 0.8125, "order": "desc"}]}
    table = R.score_table(results).splitlines()
    assert any(line.split()[:1] == ["1.1"] and "4/4" in line and "passed" in line for line in table)
    assert any(line.startswith("7.3") and "2.5/16" in line and "failed" in line for line in table)
    assert any("total" in line and "6.5/20" in line for line in table)
    assert "accuracy: 0.8125" in table and "grading time: 41.27 s" in table


# --- submissions that fail early: real grades, stopped by the import check ----------------------
def test_cli_grades_a_syntax_error_with_its_line(tmp_path):
    folder = write_submission(tmp_path / "sub", "import torch\n\ndef run_model(:\n    pass\n")
    out = tmp_path / "results" / "results.json"
    done = subprocess.run([sys.executable, "-m", "grader", "grade", "--submission", str(folder),
                           "--results", str(out), "--json"], cwd=C.ROOT, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(out.read_text())
    assert json.loads(done.stdout) == results, "--json prints exactly what was written"
    assert_all_fail_with(results, "SyntaxError", "submitted.py", "line 3")
    assert "has a syntax error at line 3, so Python cannot import it" in results["output"]


def test_an_import_error_names_the_missing_module(tmp_path, capsys):
    folder = write_submission(tmp_path / "sub", reference_with("import numpyy as np"))
    out = tmp_path / "results.json"
    assert cli.main(["grade", "--submission", str(folder), "--results", str(out)]) == 0
    total = [line for line in capsys.readouterr().out.splitlines() if " total " in line]
    assert total and "0/100" in total[0]
    results = json.loads(out.read_text())
    assert_all_fail_with(results, "ModuleNotFoundError", "numpyy")
    # Said once: the traceback in the summary, one line in each test; no importlib frame, no path.
    lines = results["output"].splitlines()
    assert "    import numpyy as np" in lines and lines[-1] == "ModuleNotFoundError: No module named 'numpyy'"
    assert all(len(t["output"].strip().splitlines()) == 1 for t in results["tests"])
    from grader.validate import leaks
    assert leaks(results) == [], results["output"]


def test_a_missing_submitted_py_says_so(tmp_path):
    folder = tmp_path / "upload"
    folder.mkdir()
    (folder / "Submitted.py").write_text(C.REFERENCE_SOLUTION.read_text())
    results = G.grade(folder)
    assert_all_fail_with(results, "No file named submitted.py", "Submitted.py")


@pytest.mark.slow
def test_a_missing_function_costs_only_its_tests(tmp_path):
    """The reference without build_optimizer: the optimizer tests and run_model (which calls it)
    fail naming it; the dataset, loader, model, train and test checks keep their points."""
    folder = write_submission(tmp_path / "sub", reference_with("del build_optimizer"))
    results = G.grade(folder)
    R.validate(results)
    tests = by_number(results)
    lost = {n for n, t in tests.items() if t["score"] < t["max_score"]}
    assert {"4.1", "4.2", "7.3"} <= lost
    assert all(n[0] in "47" for n in lost), f"only optimizer/run_model tests lose points: {lost}"
    for n in ("4.1", "4.2"):
        assert "build_optimizer" in tests[n]["output"]
    assert "build_optimizer" in tests["7.1"]["output"] + tests["7.3"]["output"]


# --- determinism ---------------------------------------------------------------------------------
QUICK_RUN_MODEL = '''
def run_model():
    """The reference's own functions on a small subset: a real, seeded training run in seconds."""
    import torch.utils.data
    data = build_dataset(["cifar10_batches/data_batch_1"], transform=get_preprocess_transform("train"))
    loader = build_dataloader(torch.utils.data.Subset(data, range(1536)),
                              {"batch_size": 64, "shuffle": True})
    model = build_model()
    params = [p for p in model.parameters() if p.requires_grad]
    train(loader, model, nn.CrossEntropyLoss(), build_optimizer("Adam", params, {"lr": 1e-3}))
    return model
'''


@pytest.mark.slow
def test_the_same_submission_scores_the_same_three_times(tmp_path):
    """Every check (hypothesis-drawn loader cases, seeded shuffling and training, the hidden-set
    accuracy) must be reproducible: three grades of one submission agree test by test."""
    folder = write_submission(tmp_path / "sub", reference_with(QUICK_RUN_MODEL))
    grades = [G.grade(folder) for _ in range(3)]
    for results in grades:
        R.validate(results)
    key = [[(t["number"], t["score"], t["status"]) for t in r["tests"]] for r in grades]
    assert key[0] == key[1] == key[2]
    accuracy = [[e["value"] for e in r.get("leaderboard", []) if e["name"] == "accuracy"]
                for r in grades]
    assert accuracy[0] and accuracy[0] == accuracy[1] == accuracy[2]
    assert grades[0]["score"] > 0
