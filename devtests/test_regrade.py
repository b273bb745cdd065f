"""grader/regrade.py on Dask: rows, metadata, the CSV, the report, and the faults it must survive
(a worker killed mid-batch, Ctrl-C and a rerun), with a cheap stand-in for the grader; and the
same numbers as `grader grade` on a few catalogue entries, graded for real (slow)."""
import csv
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
import yaml
from hypothesis import given, settings, strategies as st

import mpconfig as C
from grader import regrade as R
from grader import regrade_report, regrade_task

# The stand-in grader: reads "KEY=value" words from submitted.py. POINTS=n scores n (of 44),
# SLEEP=s waits first, BROKEN exits without results, DAEMON leaves a process of its own session
# behind; every start leaves a mark file MARKS/<NAME>.<pid> (holding the pid), and every grade
# that was not killed during its sleep MARKS/<NAME>.<pid>.done.
FAKE_GRADER = r'''
import json, os, subprocess, sys, time
from pathlib import Path
sub, res = Path(sys.argv[1]), Path(sys.argv[2])
cfg = dict(w.split("=", 1) if "=" in w else (w, "1") for w in (sub / "submitted.py").read_text().split())
if "MARKS" in cfg:
    Path(cfg["MARKS"], f"{cfg['NAME']}.{os.getpid()}").write_text(str(os.getpid()))
if "DAEMON" in cfg:
    d = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"], start_new_session=True)
    Path(cfg["DAEMON"]).write_text(str(d.pid))
time.sleep(float(cfg.get("SLEEP", 0)))
if "MARKS" in cfg:
    Path(cfg["MARKS"], f"{cfg['NAME']}.{os.getpid()}.done").write_text("")
if "BROKEN" in cfg:
    print("the stand-in grader fails\nlast words")
    sys.exit(3)
p = int(cfg["POINTS"])
def test(num, name, mx, msg):
    return {"name": name, "number": num, "score": min(p, mx), "max_score": mx,
            "status": "passed" if p >= mx else "failed", "visibility": "visible",
            "output": "" if p >= mx else "Test Failed: " + msg}
tests = [test("1.1", "CIFAR10 length", 4, f"length {p} is wrong\ndetail"),
         test("7.1", "run_model finishes", 0, "x"),
         test("7.3", "hidden accuracy", 40, "timed out after 600 s: your code took longer")]
tests[1]["status"] = "passed"
res.write_text(json.dumps({"score": sum(t["score"] for t in tests), "execution_time": 1.0,
    "output": "", "stdout_visibility": "hidden", "tests": tests,
    "leaderboard": [{"name": "accuracy", "value": p / 100}, {"name": "seconds", "value": 10 + p}]}))
'''


@pytest.fixture(scope="module")
def fake_command(tmp_path_factory):
    script = tmp_path_factory.mktemp("fake") / "fake_grader.py"
    script.write_text(FAKE_GRADER)
    return [sys.executable, str(script), "{submission}", "{results}"]


@pytest.fixture(scope="module")
def client():
    """One local cluster of 2 single-thread workers for the cheap tests."""
    with R.dask_client(workers=2) as c:
        yield c


def make_export(root, specs, metadata=None):
    """specs: {folder: submitted.py text}; returns the export folder."""
    for name, text in specs.items():
        (root / name).mkdir(parents=True)
        (root / name / "submitted.py").write_text(text)
    if metadata:
        (root / "submission_metadata.yml").write_text(yaml.safe_dump(metadata, allow_unicode=True))
    return root


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def by_key(rows):
    return {r["submission"]: r for r in rows}


def marks(folder):
    """{submission: [pids of its grade's starts]}"""
    found = {}
    for p in Path(folder).iterdir():
        if p.suffix == ".done":
            continue
        name, pid = p.name.rsplit(".", 1)
        found.setdefault(name, []).append(int(pid))
    return found


def wait_until(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def finished(mark_dir, pid):
    return any(p.name.endswith(f".{pid}.done") for p in Path(mark_dir).iterdir())


def gone(pids, timeout=15):
    """True when none of pids is alive (zombies count as dead) within timeout."""
    def dead(pid):
        try:
            return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(dead(p) for p in pids):
            return True
        time.sleep(0.2)
    return False


# --- rows, metadata, histogram, report (a shared 2-worker cluster) ------------------------------------

def test_rows_metadata_histogram_and_report(tmp_path, client, fake_command):
    export = make_export(tmp_path / "export", {
        "submission_101": "POINTS=44",
        "submission_102": "BROKEN",
        "submission_104": "POINTS=39"})
    (export / "submission_103" / "mp09").mkdir(parents=True)     # uploaded inside a folder
    (export / "submission_103" / "mp09" / "submitted.py").write_text("POINTS=3")
    # Gradescope's layout: Ruby-symbol keys, one mapping per submission folder.
    meta = {"submission_101": {":submitters": [{":name": "Ada Lovelace", ":email": "ada@example.edu"}]},
            "submission_103": {":submitters": [{":name": "Alan Turing", ":email": "alan@example.edu"},
                                               {":name": "Kurt Gödel", ":email": "kurt@example.edu"}]}}
    (export / "submission_metadata.yml").write_text(yaml.safe_dump(meta, allow_unicode=True))
    out = tmp_path / "grades.csv"
    rows = R.regrade(export, out, client=client, grade_command=fake_command, progress=False)
    assert len(rows) == 4
    got = by_key(read_rows(out))
    assert set(got) == {"submission_101", "submission_102", "submission_103", "submission_104"}
    ada = got["submission_101"]
    assert (ada["name"], ada["email"], ada["submission_id"]) == ("Ada Lovelace", "ada@example.edu", "101")
    assert (ada["status"], ada["total"], ada["max_total"], ada["accuracy"]) == ("graded", "44", "44", "0.44")
    assert ada["test 1.1 CIFAR10 length"] == "4" and ada["test 7.3 hidden accuracy"] == "40"
    assert float(ada["seconds"]) > 0
    broken = got["submission_102"]
    assert broken["status"] == "error" and broken["total"] == ""
    assert "no results.json (exit code 3)" in broken["error"] and "last words" in broken["error"]
    pair = got["submission_103"]
    assert pair["name"] == "Alan Turing; Kurt Gödel" and pair["total"] == "6"
    # The results are kept for the report; the histogram and the report are written.
    assert sorted(p.stem for p in R.results_dir(out).iterdir()) == ["submission_101", "submission_103",
                                                                    "submission_104"]
    png = R.histogram_path(out)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = R.report_path(out).read_text()
    assert "![histogram of the total scores](grades_histogram.png)" in report
    # 1.1: one of three graded lost points, its message's first line (without the prefix).
    assert "| 1.1 CIFAR10 length | 4 | 1 of 3 |" in report and "1× length 3 is wrong" in report
    assert "2× timed out after 600 s" in report              # 7.3: 103 and 104 fell short
    assert "(grades_report_accuracy.png)" in report
    assert (tmp_path / "grades_report_accuracy.png").is_file()
    trouble = report.split("## Submissions that timed out or crashed")[1]
    assert "submission_102" in trouble and "grade failed" in trouble
    assert "| submission_104 |" in trouble and "| submission_101 |" not in trouble


def test_the_grade_leaves_nothing_behind(tmp_path, fake_command):
    """A process the grade started in a session of its own (as a probe or a daemon) is killed
    by the launcher when the grade ends, not left to init."""
    sub = tmp_path / "sub"
    sub.mkdir()
    pidfile = tmp_path / "daemon.pid"
    (sub / "submitted.py").write_text(f"POINTS=4 DAEMON={pidfile}")
    out = regrade_task.grade_task(regrade_task.pack(sub), 1, fake_command)
    assert out["results"]["score"] == 8, out
    daemon = int(pidfile.read_text())
    assert gone([daemon], timeout=5), "the grade's leftover process is still running"
    assert "left behind" in out["log"]


def test_pack_ships_regular_files_and_refuses_escapes(tmp_path):
    sub = tmp_path / "s"
    (sub / "deep").mkdir(parents=True)
    (sub / "submitted.py").write_text("x = 1\n")
    (sub / "deep" / "data.bin").write_bytes(b"\0\1")
    (sub / "link.py").symlink_to("/etc/passwd")
    shipped = regrade_task.pack(sub)
    assert sorted(shipped["files"]) == ["deep/data.bin", "submitted.py"]
    dest = regrade_task.unpack(shipped, tmp_path / "d")
    assert (dest / "deep" / "data.bin").read_bytes() == b"\0\1"
    with pytest.raises(ValueError, match="not a path inside"):
        regrade_task.unpack({"files": {"../evil.py": b""}}, tmp_path / "e")


def test_duplicate_and_cut_rows_are_repaired(tmp_path):
    out = tmp_path / "g.csv"
    header = list(R.META_COLUMNS)
    out.write_text(R._format(header, [dict(zip(header, header)), {"submission": "a", "total": "1"},
                                      {"submission": "b"}, {"submission": "a", "total": "2"}])
                   + "c,,,")                                  # cut short by a crash
    sink = R.CsvSink(out)
    assert [(r["submission"], r["total"]) for r in sink.rows] == [("a", "1"), ("b", "")]
    assert [r["submission"] for r in read_rows(out)] == ["a", "b"]
    assert sink.add({"submission": "a", "total": "3"}) is False
    assert sink.add({"submission": "c"}) is True
    assert [r["submission"] for r in read_rows(out)] == ["a", "b", "c"]


def test_header_widens_when_first_row_has_no_tests(tmp_path):
    out = tmp_path / "grades.csv"
    sink = R.CsvSink(out)
    sink.add(R.row_from_outcome("s1", {}, RuntimeError("boom")))
    results = {"tests": [{"number": "7.3", "name": "hidden accuracy", "score": 1, "max_score": 40,
                          "output": ""}], "score": 1}
    sink.add(R.row_from_outcome("s2", {}, {"results": results, "seconds": 2}))
    header, rows = R.read_csv(out)
    assert "test 7.3 hidden accuracy" in header
    assert [r["status"] for r in rows] == ["error", "graded"]
    assert rows[0]["error"] == "RuntimeError: boom"


def test_a_worker_without_root_is_named_once(caplog):
    warned = set()
    for outcome in ({"host": "node1", "euid": 0}, {"host": "node2", "euid": 1000},
                    {"host": "node2", "euid": 1000}):
        R.warn_if_not_root(outcome, warned)
    assert len(caplog.records) == 1
    message = caplog.records[0].getMessage()
    assert "node2" in message and "not root" in message and "cgroups" in message


def test_bad_input_is_named(tmp_path):
    with pytest.raises(R.RegradeError, match="does not exist"):
        R.regrade(tmp_path / "nope", tmp_path / "g.csv", progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(R.RegradeError, match="no submission folders"):
        R.regrade(tmp_path / "empty", tmp_path / "g.csv", progress=False)
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    (tmp_path / "empty" / "s1").mkdir()
    with pytest.raises(R.RegradeError, match="not a regrade CSV"):
        R.regrade(tmp_path / "empty", tmp_path / "other.csv", progress=False)
    with pytest.raises(R.RegradeError, match="--workers"):
        R.regrade(tmp_path / "empty", tmp_path / "g.csv", workers=0, progress=False)
    with pytest.raises(R.RegradeError, match="--threads-per-grade"):
        R.regrade(tmp_path / "empty", tmp_path / "g.csv", threads_per_grade=0, progress=False)


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_any_text_survives_the_csv_on_one_line(text):
    """Names and error messages with commas, quotes or newlines: one line, same text back."""
    header = list(R.META_COLUMNS)
    body = R._format(header, [{"submission": "s", "name": text, "error": text}])
    assert body.count("\n") == 1 and body.endswith("\n")
    row = next(csv.DictReader([R._format(header, [dict(zip(header, header))]), body]))
    assert row["name"] == R._one_line(text)
    assert "\n" not in row["name"] and "\r" not in row["name"]


def test_report_groups_messages_by_first_line(tmp_path):
    def results(msg, score):
        return {"tests": [{"number": "2.1", "name": "loader", "score": score, "max_score": 6,
                           "status": "failed", "output": msg}], "score": score}
    saved = {"a": results("Test Failed: batch size 64, expected 17\nmore", 0),
             "b": results("Test Failed: batch size 64, expected 5\nother", 0),
             "c": results("Test Failed: killed by signal SIGSEGV (a crash in native code)", 0),
             "d": results("", 6)}
    (tmp_path / "res").mkdir()
    for name, r in saved.items():
        (tmp_path / "res" / f"{name}.json").write_text(json.dumps(r))
    rows = [{"submission": n, "status": "graded", "total": str(r["score"]), "max_total": "6"}
            for n, r in saved.items()]
    path = regrade_report.write_report(tmp_path / "g_report.md", rows, tmp_path / "res")
    text = path.read_text()
    assert "| 2.1 loader | 6 | 3 of 4 |" in text
    assert "- 2× batch size 64, expected 17 (2 wordings)" in text
    assert "- 1× killed by signal SIGSEGV" in text
    trouble = text.split("## Submissions that timed out or crashed")[1]
    assert "| c |" in trouble and "crashed" in trouble and "| a |" not in trouble


# --- faults: a worker killed mid-batch; Ctrl-C and a rerun --------------------------------------------

def test_worker_killed_mid_batch_loses_no_row_and_duplicates_none(tmp_path, fake_command):
    """kill -9 of one of 2 workers while it grades: its grade is re-run elsewhere, every
    submission gets exactly one row, and the killed worker's grade does not run on."""
    mark_dir = tmp_path / "marks"
    mark_dir.mkdir()
    names = [f"submission_{i}" for i in range(8)]
    export = make_export(tmp_path / "export", {
        n: f"NAME={n} POINTS={i + 30} SLEEP=2 MARKS={mark_dir}" for i, n in enumerate(names)})
    out = tmp_path / "grades.csv"
    killed = {}

    def kill_a_worker():
        wait_until(lambda: any(mark_dir.iterdir()), 120, "a grade to start")
        victim_mark = next(mark_dir.iterdir())
        grade = psutil.Process(int(victim_mark.read_text()))
        worker = grade.parent().parent()          # fake grader <- launcher <- worker process
        killed.update(name=victim_mark.name.rsplit(".", 1)[0], grade=grade.pid, worker=worker.pid,
                      cmd=" ".join(worker.cmdline()))
        os.kill(worker.pid, signal.SIGKILL)
        killed["at"] = time.monotonic()

    killer = threading.Thread(target=kill_a_worker, daemon=True)
    killer.start()
    rows = R.regrade(export, out, workers=2, grade_command=fake_command, progress=False,
                     report=False)
    killer.join(5)
    assert killed, "no worker was killed"
    assert "python" in killed["cmd"] and killed["worker"] != os.getpid()
    on_disk = [r["submission"] for r in read_rows(out)]
    assert sorted(on_disk) == names                       # each exactly once
    assert [r["status"] for r in rows] == ["graded"] * len(names), [r["error"] for r in rows]
    assert by_key(rows)[killed["name"]]["total"] == str(4 + 30 + names.index(killed["name"]))
    assert len(marks(mark_dir)[killed["name"]]) == 2      # started again after the kill
    assert gone([killed["grade"]]), "the killed worker's grade is still running"
    time.sleep(max(0.0, killed["at"] + 3 - time.monotonic()))    # its sleep (2 s) is over
    assert not finished(mark_dir, killed["grade"]), "the killed worker's grade ran on"


def test_ctrl_c_then_rerun_finishes_the_rest(tmp_path, fake_command):
    # Long enough that the interrupt, sent once the first row is in, finds grades in flight even
    # on a loaded machine (with 4 s, a whole run once finished before the interrupt arrived).
    LONG_S = 15
    mark_dir = tmp_path / "marks"
    mark_dir.mkdir()
    names = [f"submission_{i}" for i in range(6)]
    export = make_export(tmp_path / "export", {
        # The first finishes soon; the interrupt then finds grades with seconds still to go.
        n: f"NAME={n} POINTS={i} SLEEP={1 if i == 0 else LONG_S} MARKS={mark_dir}"
        for i, n in enumerate(names)})
    out = tmp_path / "grades.csv"
    cmd = [sys.executable, "-m", "grader", "regrade", str(export), "--out", str(out),
           "--workers", "2", "--no-report", "--grade-command", json.dumps(fake_command)]
    # A session of its own, so that the SIGINT goes to its whole group, as Ctrl-C at a terminal.
    # SIGINT restored to its default: a shell starts background jobs (CI's, say) with SIGINT
    # ignored, and an ignored signal stays ignored across exec, so Ctrl-C would never arrive.
    proc = subprocess.Popen(cmd, cwd=C.ROOT, start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        wait_until(lambda: out.is_file() and len(read_rows(out)) >= 1, 180, "the first row")
        os.killpg(proc.pid, signal.SIGINT)
        output = proc.communicate(timeout=120)[0]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, output
    assert "run the same command again" in output
    first = read_rows(out)
    assert 1 <= len(first) < len(names)
    interrupted = [pid for pids in marks(mark_dir).values() for pid in pids
                   if not finished(mark_dir, pid)]
    assert interrupted, "no grade was in flight at the interrupt"
    assert gone(interrupted), "a grade of the interrupted run is still running"
    time.sleep(LONG_S + 0.5)                                        # their sleep is over
    assert not any(finished(mark_dir, pid) for pid in interrupted), "an interrupted grade ran on"
    done_before = {r["submission"] for r in first}

    again = subprocess.run(cmd, cwd=C.ROOT, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    final = read_rows(out)
    assert sorted(r["submission"] for r in final) == names          # each exactly once
    assert all(r["status"] == "graded" for r in final)
    runs = marks(mark_dir)
    assert all(len(runs[n]) == 1 for n in done_before)              # not regraded


# --- the same numbers as `grader grade` (real grades) ------------------------------------------------

SAME_NUMBER_ENTRIES = ("mutants/checkpoint_after_head", "hostile/sys_exit_in_optimizer",
                       "mutants/untrained_model")


def catalogue_source(entry):
    from grader import catalogue
    return next(e for e in catalogue.entries() if e.label == entry).source(C.REFERENCE_SOLUTION.read_text())


# The grader's fixed per-part time limits (issue 13) fire on a heavily loaded machine: a test
# that hit one in only one of the two grades measures the load, not regrade.
TIME_LIMIT = re.compile(r"stopped after \d+ s|timed out after", re.I)


def load_flukes(a, b):
    """Test numbers whose output shows a time limit in exactly one of the two results."""
    hit = lambda r: {t["number"] for t in r["tests"] if TIME_LIMIT.search(t["output"])}  # noqa: E731
    return hit(a) ^ hit(b)


def scores(results, skip=()):
    """Every test's score and the leaderboard's accuracy (its seconds are a timing, not a score)."""
    return ({t["number"]: t["score"] for t in results["tests"] if t["number"] not in skip},
            {e["name"]: e["value"] for e in results.get("leaderboard", []) if e["name"] != "seconds"})


def same_numbers(tmp_path, entries):
    sources = {e.replace("/", "-"): catalogue_source(e) if e != "reference"
               else Path(C.REFERENCE_SOLUTION).read_text() for e in entries}
    export = make_export(tmp_path / "export", sources)
    out = tmp_path / "grades.csv"
    # The probes on as many threads as `grade` gives them, so float results may match exactly.
    rows = by_key(R.regrade(export, out, workers=1, threads_per_grade=C.PROBE_THREADS,
                            progress=False, report=False))
    for name in sources:
        assert rows[name]["status"] == "graded", rows[name]["error"]
        direct = tmp_path / f"{name}.json"
        done = subprocess.run([sys.executable, "-m", "grader", "grade", "--submission",
                               str(export / name), "--results", str(direct)],
                              cwd=C.ROOT, capture_output=True, text=True, timeout=1800)
        assert direct.is_file(), done.stderr[-2000:]
        via_regrade = json.loads((R.results_dir(out) / f"{name}.json").read_text())
        via_grade = json.loads(direct.read_text())
        flukes = load_flukes(via_regrade, via_grade)
        assert len(flukes) <= 3, f"{name}: time limits hit in one grade only: {sorted(flukes)}"
        assert scores(via_regrade, flukes) == scores(via_grade, flukes), name
        tests, board = scores(via_regrade)
        for number, score in tests.items():                         # and the CSV says the same
            column = next(k for k in rows[name] if k.startswith(f"{R.TEST_PREFIX}{number} "))
            assert float(rows[name][column]) == pytest.approx(score, abs=1e-3)


@pytest.mark.slow
def test_same_numbers_as_grade(tmp_path):
    same_numbers(tmp_path, SAME_NUMBER_ENTRIES)


@pytest.mark.slow
def test_same_numbers_as_grade_reference(tmp_path):
    same_numbers(tmp_path, ("reference",))
