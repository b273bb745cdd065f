"""`python -m grader rehearse`: the zip run like Gradescope runs it, in a container of Gradescope's
size (cgroup v1 memory + cpu), killed at the deadline. Fast tests use a stand-in zip whose
run_autograder is a few lines of shell; the slow ones rehearse the real zip at 1 CPU / 1.5 GB."""
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

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
    # run_model's limit is calibrated (300-1,500 s) whatever the deadline: killed at 240 s with no
    # results.json (measured). Strict: once stage limits derive from the deadline (issue 12's
    # run-time half), this passes and the marker must go.
    pytest.param("run_model_infinite_loop", "time limit", marks=pytest.mark.xfail(
        strict=True, reason="stage limits do not derive from the deadline yet (issue 12)")),
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
