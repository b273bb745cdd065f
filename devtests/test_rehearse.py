"""`python -m grader rehearse`: the zip run like Gradescope runs it, in a container of Gradescope's
size (cgroup v1 memory + cpu), killed at the deadline. Fast tests use a stand-in zip whose
run_autograder is a few lines of shell; the slow ones rehearse the real zip at 1 CPU / 1.5 GB."""
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import psutil
import pytest

import mpconfig as C
from grader import deadline, package, rehearse
from grader.sandbox import limits
from grader import results as R

needs_root_cgroups = pytest.mark.skipif(
    os.geteuid() != 0 or not all((rehearse.CGROUP_ROOT / c / "cgroup.procs").is_file()
                                 for c in ("memory", "cpu")),
    reason="the container is made of cgroup v1 memory and cpu cgroups: needs root")

VALID = json.dumps({"score": 1, "execution_time": 1, "output": "ok", "stdout_visibility": "hidden",
                    "tests": [{"name": "t", "number": "1.1", "score": 1, "max_score": 1,
                               "status": "passed", "visibility": "visible", "output": ""}]})


def stand_in_zip(tmp_path, run_autograder, timeout_min=1):
    """A zip with Gradescope's two entry points and deploy.json, nothing else."""
    path = tmp_path / "stand-in.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in (("setup.sh", "echo setup ran\n"),
                           ("run_autograder", "#!/usr/bin/env bash\n" + run_autograder)):
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o100755 << 16
            zf.writestr(info, text)
        zf.writestr(C.DEPLOY_FILE, deadline.config_text(timeout_min))
    return path


def leftover_cgroups(pid=None):
    """Containers left by rehearsals run from this process (or `pid`): others may be running."""
    name = f"mp09-rehearse-{pid or os.getpid()}-*"
    return [p for c in ("memory", "cpu") for p in limits.own_cgroup(c).glob(name)]


# --- the deadline setting --------------------------------------------------------------------
def test_the_deadline_travels_in_deploy_json(tmp_path):
    assert deadline.read_timeout_min(tmp_path) == C.GRADESCOPE_TIMEOUT_MIN   # a checkout
    (tmp_path / C.DEPLOY_FILE).write_text(deadline.config_text(7))
    assert deadline.read_timeout_min(tmp_path) == 7 and deadline.deadline_seconds(tmp_path) == 420


@pytest.mark.parametrize("value", [0, -1, 41, float("nan"), "10", True])
def test_a_timeout_gradescope_does_not_allow_is_refused(value):
    with pytest.raises(deadline.DeployError):
        deadline.config_text(value)


@pytest.mark.parametrize("text", ["", "{}", '{"timeout_min": 90}', '{"timeout_min": "ten"}'])
def test_a_broken_deploy_json_is_named(tmp_path, text):
    (tmp_path / C.DEPLOY_FILE).write_text(text)
    with pytest.raises(deadline.DeployError, match=C.DEPLOY_FILE):
        deadline.read_timeout_min(tmp_path)


def test_build_autograder_refuses_a_bad_timeout_before_writing_anything(tmp_path):
    run = subprocess.run([sys.executable, "-m", "grader", "build-autograder",
                          "--out", str(tmp_path / "a.zip"), "--timeout-min", "45"],
                         cwd=C.ROOT, capture_output=True, text=True)
    assert run.returncode == 1 and "outside Gradescope's range" in run.stderr
    assert list(tmp_path.iterdir()) == []


# --- the container (fast: stand-in zips) -------------------------------------------------------
@needs_root_cgroups
def test_the_deadline_kills_the_whole_container_and_no_results_survive(tmp_path):
    # results.json is there early, but run_autograder (and a process it left) outlive the deadline.
    script = (f"echo '{VALID}' > \"$AUTOGRADER_ROOT/results/results.json\"\n"
              "setsid sleep 600 &\nsleep 600\n")
    summary = rehearse.rehearse(1, 256, timeout_min=0.05, zip_path=stand_in_zip(tmp_path, script),
                                skip_install=True, echo=lambda *_: None)
    assert summary["timed_out"] and summary["score"] is None and not summary["ok"]
    assert not summary["results_before_deadline"] and summary["results_at_seconds"] is not None
    assert 3 <= summary["wall_seconds"] < 10
    assert "killed at the deadline" in rehearse.table(summary)
    assert leftover_cgroups() == []


@needs_root_cgroups
def test_a_run_within_limits_reports_score_memory_and_what_it_left_behind(tmp_path):
    script = ("python3 -c 'b = bytearray(200 * 2**20); import time; time.sleep(1)'\n"
              f"setsid sleep 600 &\necho '{VALID}' > \"$AUTOGRADER_ROOT/results/results.json\"\n")
    summary = rehearse.rehearse(1, 512, timeout_min=1, zip_path=stand_in_zip(tmp_path, script),
                                skip_install=True, echo=lambda *_: None)
    assert summary["ok"] and summary["score"] == 1 and summary["results_before_deadline"]
    assert 190 <= summary["peak_rss_mb"] < 400, summary["peak_rss_mb"]
    assert summary["oom_kills"] == 0 and summary["left_behind"] == 1
    assert leftover_cgroups() == []


@needs_root_cgroups
def test_the_container_limits_memory_and_counts_the_oom_kill(tmp_path):
    script = (f"python3 -c 'b = bytearray(400 * 2**20)'\n"
              f"echo '{VALID}' > \"$AUTOGRADER_ROOT/results/results.json\"\n")
    summary = rehearse.rehearse(1, 128, timeout_min=1, zip_path=stand_in_zip(tmp_path, script),
                                skip_install=True, echo=lambda *_: None)
    assert summary["oom_kills"] == 1 and not summary["ok"]
    assert summary["peak_charge_mb"] <= 128
    assert leftover_cgroups() == []


LIMITS_SEEN = """python3 - <<'PY'
import json, os
seen = {}
for line in open("/proc/self/cgroup"):
    _, controllers, path = line.strip().split(":", 2)
    for c, files in (("cpu", ("cpu.cfs_quota_us", "cpu.cfs_period_us")),
                     ("memory", ("memory.limit_in_bytes",))):
        if c in controllers.split(","):
            for f in files:
                seen[f] = int(open(f"/sys/fs/cgroup/{c}{path}/{f}").read())
with open(os.environ["AUTOGRADER_ROOT"] + "/results/results.json", "w") as f:
    json.dump({"score": 0, "execution_time": 0, "output": json.dumps(seen),
               "stdout_visibility": "hidden", "tests": []}, f)
PY
"""


@needs_root_cgroups
def test_run_autograder_runs_inside_the_container_s_limits(tmp_path):
    # The limits as run_autograder's own process sees them (on a busy machine a quota cannot be
    # seen from the CPU time a process gets: the others take it first).
    summary = rehearse.rehearse(0.5, 256, timeout_min=1, zip_path=stand_in_zip(tmp_path, LIMITS_SEEN),
                                skip_install=True, echo=lambda *_: None)
    assert summary["ok"], rehearse.table(summary)
    assert json.loads(summary["output"]) == {"cpu.cfs_quota_us": 50_000, "cpu.cfs_period_us": 100_000,
                                             "memory.limit_in_bytes": 256 * 2**20}


def test_rehearse_refuses_a_missing_zip(tmp_path):
    run = subprocess.run([sys.executable, "-m", "grader", "rehearse", "--cpus", "1", "--memory-mb",
                          "1536", "--zip", str(tmp_path / "none.zip")],
                         cwd=C.ROOT, capture_output=True, text=True)
    assert run.returncode == 2 and "build-autograder" in run.stderr


# --- the real zip at 1 CPU / 1.5 GB (slow) ------------------------------------------------------
@pytest.fixture(scope="module")
def zips(tmp_path_factory):
    """The default zip (10 min) for the reference; a 4-min one for the hostile entries, so that an
    endless run_model meets the deadline within the test's time."""
    folder = tmp_path_factory.mktemp("dist")
    return {minutes: package.build(folder / f"autograder-{minutes}.zip", minutes)
            for minutes in (C.GRADESCOPE_TIMEOUT_MIN, 4)}


def _hostile(name, dest):
    """The catalogue's hostile entry, built from its recipe: (its folder, its EXPECTED)."""
    from grader import catalogue
    entry = next(e for e in catalogue.entries() if (e.kind, e.name) == ("hostile", name))
    return entry.build(dest / name), entry.expected


@pytest.mark.slow
@needs_root_cgroups
def test_rehearsal_of_the_reference_at_1_cpu_1_5_gb_gives_full_marks(zips, tmp_path):
    out = tmp_path / "summary.json"
    run = subprocess.run([sys.executable, "-m", "grader", "rehearse", "--cpus", "1", "--memory-mb",
                          "1536", "--zip", str(zips[C.GRADESCOPE_TIMEOUT_MIN]), "--skip-install",
                          "--summary", str(out)],
                         cwd=C.ROOT, capture_output=True, text=True, timeout=1200)
    summary = json.loads(out.read_text())
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert summary["score"] == summary["max_score"] == 100, summary["lost"]
    assert summary["results_before_deadline"] and summary["oom_kills"] == 0
    assert "peak resident memory" in run.stdout
    assert not any((limits.own_cgroup(c) / summary["container"]).exists() for c in ("memory", "cpu"))


@pytest.mark.slow
@needs_root_cgroups
@pytest.mark.parametrize("name, cause", [
    ("memory_bomb", "memory"),
    # run_model's limit is what the 4-minute deadline leaves (grader/deadline.py: Budget)
    ("run_model_infinite_loop", "time limit"),
])
def test_rehearsal_of_a_hostile_run_model_yields_results_before_the_deadline(zips, name, cause, tmp_path):
    folder, expected = _hostile(name, tmp_path)
    summary = rehearse.rehearse(1, 1536, zip_path=zips[4], submission=folder, skip_install=True,
                                echo=lambda *_: None)
    assert summary["results_before_deadline"], rehearse.table(summary)
    # No point it did not earn. (Not min_points: at 1.5 GB the bomb can fill the container while
    # the checks probe runs beside it, and tests 6.1-6.2 then fail too: 47 once, 55 once.)
    assert summary["score"] <= expected["max_points"], summary["lost"]
    assert summary["oom_kills"] == 0
    first_lines = " ".join(" ".join(first) for number, *_, first in summary["lost"]
                           if number.startswith("7."))
    assert cause in first_lines, first_lines
    assert leftover_cgroups() == []


# --- the budget: every stage's limit from what is left of the deadline ----------------------------
def test_a_stage_keeps_time_for_the_later_ones_and_never_goes_past_the_reserve():
    now = time.time()
    budget = deadline.Budget(now + 600)
    left = 600 - C.DEADLINE_RESERVE_S
    assert budget.allow(60, keep=270) == pytest.approx(60, abs=1)
    assert budget.allow(1000, keep=200) == pytest.approx(left - 200, abs=1)
    assert budget.allow(1000) == pytest.approx(left, abs=1)
    short = deadline.Budget(now + 240)             # too short to keep every floor: keeps half
    assert short.allow(1000, keep=500) == pytest.approx((240 - C.DEADLINE_RESERVE_S) / 2, abs=1)
    assert deadline.Budget(now + C.DEADLINE_RESERVE_S - 5).allow(60) == 0.0


def test_the_clock_starts_when_run_autograder_does(monkeypatch, tmp_path):
    (tmp_path / C.DEPLOY_FILE).write_text(deadline.config_text(7))
    monkeypatch.setenv(deadline.STARTED_ENV, "1000.5")
    assert deadline.Budget.from_deploy(tmp_path).deadline == 1000.5 + 420
    monkeypatch.delenv(deadline.STARTED_ENV)
    assert deadline.started_at() == pytest.approx(psutil.Process().create_time())


def test_a_stage_the_deadline_left_no_time_for_is_not_run_and_says_why(tmp_path):
    from grader import context
    (tmp_path / "submitted.py").write_text("x = 1\n")
    knowledge = context.Knowledge(reference=None, checkpoint={}, hidden_rows=None,
                                  hidden_labels=None, hidden_file=b"", calibration_s=0.05,
                                  run_model_limit_s=300.0)
    ctx = context.Context(knowledge, tmp_path, budget=deadline.Budget(time.time() + 30))
    result = ctx.probe(context.IMPORT_PROBE)
    assert not result.ok and result.error.startswith("not run: the grading time ran out")
    assert "could not be imported" not in context.import_failure_summary(result)
    assert ctx.seconds == {}                      # no child was started


def test_a_container_below_the_minimum_is_a_grader_error_named_for_the_instructor(
        monkeypatch, tmp_path, capsys):
    from grader import container, grade
    monkeypatch.setattr(container, "memory_limit_mb", lambda: 768.0)
    (tmp_path / "submitted.py").write_text("x = 1\n")
    outcome = grade.run(tmp_path, tmp_path / "results.json")
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["score"] == 0 and saved["output"].startswith(R.GRADER_ERROR)
    assert "768 MB" in outcome.grader_error and "1.0 CPU / 1.5 GB" in outcome.grader_error
    assert "768 MB" in capsys.readouterr().err          # run_autograder's output: staff only
    assert "768" not in saved["output"]


def test_the_probes_memory_cap_is_what_the_container_leaves(monkeypatch):
    from grader import container
    monkeypatch.setattr(container, "memory_limit_mb", lambda: 1536.0)
    monkeypatch.setattr(container, "own_memory_mb", lambda: 500.0)
    assert limits.probe_memory_mb() == 1536 - 500 - C.CONTAINER_RESERVE_MB
    monkeypatch.setattr(container, "memory_limit_mb", lambda: None)
    assert limits.probe_memory_mb() == C.PROBE_MEMORY_MB


def test_threads_follow_the_cpu_quota(monkeypatch):
    from grader import container
    monkeypatch.delenv(C.PROBE_THREADS_ENV, raising=False)
    for cpus, threads in ((0.5, 1), (1.0, 1), (2.0, min(2, C.PROBE_THREADS)), (4.0, C.PROBE_THREADS)):
        monkeypatch.setattr(container, "cpu_limit", lambda cpus=cpus: cpus)
        assert limits.default_threads() == threads, cpus


def test_the_container_s_limits_are_read_from_its_cgroups(tmp_path, monkeypatch):
    """v1: the tightest limit of our cgroup and its ancestors; v2 likewise, from memory.max/cpu.max."""
    from grader import container
    (tmp_path / "memory" / "a" / "b").mkdir(parents=True)
    (tmp_path / "memory" / "memory.limit_in_bytes").write_text("9223372036854771712\n")
    (tmp_path / "memory" / "a" / "memory.limit_in_bytes").write_text(f"{1536 << 20}\n")
    (tmp_path / "memory" / "a" / "b" / "memory.limit_in_bytes").write_text(f"{3072 << 20}\n")
    (tmp_path / "cpu" / "a").mkdir(parents=True)
    (tmp_path / "cpu" / "a" / "cpu.cfs_quota_us").write_text("50000\n")
    (tmp_path / "cpu" / "a" / "cpu.cfs_period_us").write_text("100000\n")
    monkeypatch.setattr(container, "CGROUP_ROOT", tmp_path)
    monkeypatch.setattr(container, "own_paths", lambda: {"memory": "/a/b", "cpu": "/a"})
    assert container.memory_limit_mb() == 1536 and container.cpu_limit() == 0.5
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "memory.max").write_text(f"{768 << 20}\n")
    (tmp_path / "c" / "cpu.max").write_text("100000 100000\n")
    monkeypatch.setattr(container, "own_paths", lambda: {"": "/c"})
    assert container.memory_limit_mb() == 768 and container.cpu_limit() == min(1.0, len(os.sched_getaffinity(0)))
