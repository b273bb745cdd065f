"""Rehearse a Gradescope run of the autograder zip, here, in a container of Gradescope's size.

    python -m grader rehearse --cpus 1 --memory-mb 1536 [--timeout-min N] [--submission DIR]
                              [--zip dist/autograder.zip] [--skip-install] [--summary FILE] [--keep]
    python -m grader rehearse --cpus 1 --memory-mb 1536 --catalogue hostile   # every entry, a table

What it does and reports: docs/deploying.md, "Rehearsal". The "container" is a cgroup
v1 memory cgroup (--memory-mb, swap included) and a cpu cgroup (--cpus quota), killed whole at the
deadline. Needs root. Exit status 0 when a valid results.json came before the deadline with no
OOM kill, 1 otherwise, 2 when the rehearsal could not run.
"""
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import psutil

import mpconfig as C
from grader.atomic_write import write_text
from grader.sandbox import limits
from grader import deadline
from grader import results as R

CGROUP_ROOT = limits.CGROUP_ROOT
CPU_PERIOD_US = 100_000
MiB = 2**20


class RehearsalError(RuntimeError):
    """The rehearsal itself cannot run (not root, no cgroup v1, no zip, setup.sh failed)."""


def _fields(path):
    """{name: int} of a cgroup file of "name value" lines; {} when it cannot be read."""
    with contextlib.suppress(OSError, ValueError):
        return {name: int(value) for name, value in (line.split() for line in path.read_text().splitlines())}
    return {}


class Container:
    """A memory cgroup and a cpu cgroup of one name; processes put in both before they exec."""

    def __init__(self, name, cpus, memory_mb):
        for controller in ("memory", "cpu"):
            if not (CGROUP_ROOT / controller / "cgroup.procs").is_file():
                raise RehearsalError(f"no cgroup v1 {controller} controller at {CGROUP_ROOT / controller}")
        # Nested in this process's own cgroups, as the sandbox nests its probes.
        self.memory = limits.own_cgroup("memory") / name
        self.cpu = limits.own_cgroup("cpu") / name
        self.made = []
        try:
            for path in (self.memory, self.cpu):
                path.mkdir()
                self.made.append(path)
            (self.memory / "memory.limit_in_bytes").write_text(str(memory_mb * MiB))
            memsw = self.memory / "memory.memsw.limit_in_bytes"
            if memsw.exists():  # no swap beyond the limit, as in a container of that size
                memsw.write_text(str(memory_mb * MiB))
            (self.cpu / "cpu.cfs_period_us").write_text(str(CPU_PERIOD_US))
            (self.cpu / "cpu.cfs_quota_us").write_text(str(round(cpus * CPU_PERIOD_US)))
        except OSError as exc:
            self.remove()
            raise RehearsalError(f"cannot make the container's cgroups ({exc}): run as root") from exc

    def join(self):
        """For preexec_fn: put the calling (child) process in both cgroups."""
        for path in (self.memory, self.cpu):
            (path / "cgroup.procs").write_text(str(os.getpid()))

    def pids(self):
        """Every process in the container, nested cgroups (the probes') included."""
        found = set()
        for top in (self.memory, self.cpu):
            for procs in top.rglob("cgroup.procs") if top.is_dir() else ():
                with contextlib.suppress(OSError, ValueError):
                    found.update(int(p) for p in procs.read_text().split())
        return found

    def kill_all(self, timeout=10.0):
        """SIGKILL everything in the container until it is empty; returns how many were killed."""
        killed, end = set(), time.monotonic() + timeout
        while time.monotonic() < end:
            pids = self.pids()
            if not pids:
                break
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            killed |= pids
            time.sleep(0.05)
        return len(killed)

    def rss(self):
        """Resident anonymous memory of every process in it, page cache aside (bytes)."""
        return _fields(self.memory / "memory.stat").get("total_rss", 0)

    def peak_charge(self):
        with contextlib.suppress(OSError, ValueError):
            return int((self.memory / "memory.max_usage_in_bytes").read_text())
        return 0

    def throttled(self):
        """(periods in which the quota ran out, seconds the container waited for CPU)."""
        fields = _fields(self.cpu / "cpu.stat")
        return fields.get("nr_throttled", 0), fields.get("throttled_time", 0) / 1e9

    def oom_kills(self):
        return _fields(self.memory / "memory.oom_control").get("oom_kill", 0)

    def remove(self):
        """Remove the cgroups, nested ones (left by a killed grader) first."""
        for top in reversed(self.made):
            limits.remove_cgroups(sorted((p for p in top.rglob("*") if p.is_dir()), reverse=True) + [top])
        self.made = []


def unzip(zip_path, dest):
    """Like Gradescope's unzip: unix modes kept (zipfile's extractall drops them)."""
    with zipfile.ZipFile(zip_path) as zf:
        for info in zf.infolist():
            path = zf.extract(info, dest)
            mode = info.external_attr >> 16 & 0o777
            if mode:
                os.chmod(path, mode)


def _lay_out(root, zip_path, submission):
    source, upload = root / "source", root / "submission"
    unzip(zip_path, source)
    if submission is None:
        upload.mkdir()
        shutil.copyfile(C.REFERENCE_SOLUTION, upload / "submitted.py")
    else:
        shutil.copytree(submission, upload, symlinks=True)
    (root / "results").mkdir()
    # Gradescope copies run_autograder to /autograder/ and runs it from there.
    shutil.copyfile(source / "run_autograder", root / "run_autograder")
    (root / "run_autograder").chmod(0o755)
    return source


def _env(root, skip_install):
    env = dict(os.environ, AUTOGRADER_ROOT=str(root))
    for name in ("AUTOGRADER_SKIP_INSTALL", "AUTOGRADER_PYTHON"):  # set here, or not at all
        env.pop(name, None)
    if skip_install:
        env.update(AUTOGRADER_SKIP_INSTALL="1", AUTOGRADER_PYTHON=sys.executable)
    return env


def _other_graders_probes(container):
    """Probe-user processes outside the container: another grading here, holding probe slots and CPU."""
    ours = container.pids()
    return sum(1 for p in psutil.process_iter(["username"])
               if (p.info["username"] or "").startswith(C.PROBE_USER) and p.pid not in ours)


def _ends(text):
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return lines[:1] + lines[1:][-1:]


def _read_results(path):
    """(results dict or None, its problems)."""
    try:
        results = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        return None, [f"unreadable: {type(exc).__name__}: {exc}"]
    return results, R.problems(results)


def rehearse(cpus, memory_mb, timeout_min=None, submission=None, zip_path=C.AUTOGRADER_ZIP,
             skip_install=False, keep=False, echo=print):
    """Run the rehearsal; returns its summary (a dict; see the module docstring)."""
    if os.geteuid() != 0:
        raise RehearsalError("run as root: the container is made of cgroups, and the grader's "
                             "sandbox runs probes as other users only when root (as on Gradescope)")
    zip_path = Path(zip_path)
    if not zip_path.is_file():
        raise RehearsalError(f"{zip_path} does not exist: build it with `python -m grader "
                             "build-autograder [--timeout-min N]`")
    if submission is not None and not Path(submission).is_dir():
        raise RehearsalError(f"--submission {submission} is not a folder")
    if not (cpus > 0 and memory_mb > 0):
        raise RehearsalError("--cpus and --memory-mb must be positive")
    root = Path(tempfile.mkdtemp(prefix="mp09-rehearse-"))
    container = None
    try:
        source = _lay_out(root, zip_path, submission)
        zip_timeout = deadline.read_timeout_min(source)
        if timeout_min is None:
            timeout_min = zip_timeout
        elif timeout_min != zip_timeout:
            echo(f"rehearse: warning: the zip was built for a {zip_timeout:g}-min timeout, the "
                 f"rehearsal kills at {timeout_min:g} min: the grader plans for the zip's")
        deadline.check_timeout_min(timeout_min)
        env = _env(root, skip_install)

        echo(f"rehearse: setup.sh in {root}" + (" (no install)" if skip_install else ""))
        t0 = time.monotonic()
        with open(root / "setup.log", "w") as log:
            setup = subprocess.run(["bash", str(source / "setup.sh")], cwd=source, env=env,
                                   stdout=log, stderr=subprocess.STDOUT)
        setup_seconds = time.monotonic() - t0
        if setup.returncode != 0:
            tail = (root / "setup.log").read_text()[-3000:]
            raise RehearsalError(f"setup.sh failed (exit {setup.returncode}):\n{tail}")

        container = Container(f"mp09-rehearse-{os.getpid()}-{root.name[-8:]}", cpus, memory_mb)
        results_path = root / "results" / "results.json"
        limit = timeout_min * 60
        load = os.getloadavg()
        echo(f"rehearse: run_autograder in {cpus:g} CPU / {memory_mb} MB, killed at {limit:g} s "
             f"(machine load {load[0]:.1f})")
        peak_rss = peak_at = 0.0
        results_at, timed_out, killed, others, samples = None, False, 0, 0, 0
        with open(root / "run_autograder.log", "w") as log:
            start = time.monotonic()
            proc = subprocess.Popen([str(root / "run_autograder")], cwd=root, env=env, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True,
                                    preexec_fn=container.join)
            while True:
                now = time.monotonic() - start
                rss = container.rss()
                if rss > peak_rss:
                    peak_rss, peak_at = rss, now
                if results_at is None and results_path.exists():
                    results_at = now
                if samples % 5 == 0:   # about once a second: the scan costs more than a read
                    others = max(others, _other_graders_probes(container))
                samples += 1
                if proc.poll() is not None:
                    break
                if now >= limit:
                    timed_out = True
                    killed = container.kill_all()
                    proc.wait()
                    break
                time.sleep(C.REHEARSAL_SAMPLE_S)
            wall = time.monotonic() - start
        leftovers = container.kill_all()   # Gradescope stops the container when the run ends
        oom_kills, peak_charge = container.oom_kills(), container.peak_charge()
        throttled_periods, throttled_s = container.throttled()
        results, problems = (None, ["killed at the deadline: Gradescope keeps no results"]) \
            if timed_out else _read_results(results_path)
        summary = {
            "zip": str(zip_path), "submission": str(submission or "the reference solution"),
            "cpus": cpus, "memory_mb": memory_mb, "timeout_min": timeout_min,
            "zip_timeout_min": zip_timeout, "installed": not skip_install,
            "machine_load_at_start": [round(x, 2) for x in load], "other_graders_probes_max": others,
            "setup_seconds": round(setup_seconds, 1), "wall_seconds": round(wall, 1),
            "deadline_seconds": limit, "timed_out": timed_out,
            "exit_status": None if timed_out else proc.returncode,
            "results_at_seconds": None if results_at is None else round(results_at, 1),
            "results_before_deadline": not timed_out and results is not None and not problems,
            "margin_seconds": None if timed_out else round(limit - wall, 1),
            "results_valid": results is not None and not problems, "results_problems": problems,
            "score": results.get("score") if results else None,
            "max_score": sum(t.get("max_score", 0) for t in results.get("tests", [])) if results else None,
            "grader_seconds": results.get("execution_time") if results else None,
            "output": (results.get("output", "") if results else "")[:2000],
            # Each test that lost points, with its output's first and last lines (the cause, a traceback's end).
            "lost": [[t.get("number"), t.get("score"), t.get("max_score"), _ends(t.get("output"))]
                     for t in (results or {}).get("tests", []) if t.get("score", 0) < t.get("max_score", 0)],
            "peak_rss_mb": round(peak_rss / MiB), "peak_rss_at_seconds": round(peak_at, 1),
            "peak_charge_mb": round(peak_charge / MiB), "oom_kills": oom_kills,
            "cpu_throttled_periods": throttled_periods, "cpu_throttled_seconds": round(throttled_s, 1),
            "container": container.memory.name, "killed_at_deadline": killed, "left_behind": leftovers,
            "run_autograder_log_tail": (root / "run_autograder.log").read_text(errors="replace")[-3000:],
        }
        summary["ok"] = summary["results_before_deadline"] and oom_kills == 0
        if keep:
            summary["root"] = str(root)
        return summary
    finally:
        if container is not None:
            container.kill_all()
            container.remove()
        if not keep:
            shutil.rmtree(root, ignore_errors=True)


def table(s):
    """The summary as a two-column plain-text table."""
    def mb(x):
        return f"{x:,} MB"
    if s["timed_out"]:
        score = "none: killed at the deadline (on Gradescope: 0, and no feedback at all)"
    elif s["results_valid"]:
        score = f"{s['score']:g} / {s['max_score']:g}"
    else:
        score = "invalid results.json: " + "; ".join(s["results_problems"])[:200]
    rows = [
        ("container", f"{s['cpus']:g} CPU / {mb(s['memory_mb'])}, deadline {s['timeout_min']:g} min"
                      f" (zip built for {s['zip_timeout_min']:g})"),
        ("submission", s["submission"]),
        ("setup.sh", f"{s['setup_seconds']:.1f} s" + ("" if s["installed"] else " (no install)")),
        ("score", score),
        ("wall time", f"{s['wall_seconds']:.1f} s (grader's own: {s['grader_seconds']} s)"),
        ("results.json before the deadline",
         "yes, {:.0f} s to spare".format(s["margin_seconds"]) if s["results_before_deadline"] else "NO"),
        ("peak resident memory", f"{mb(s['peak_rss_mb'])} (memory.stat total_rss, at "
                                 f"{s['peak_rss_at_seconds']:.0f} s)"),
        ("peak charge (page cache included)", mb(s["peak_charge_mb"])),
        ("OOM kills", str(s["oom_kills"])),
        ("waited for CPU (quota spent)", f"{s['cpu_throttled_seconds']:.1f} s"),
        ("processes killed at the deadline / left behind",
         f"{s['killed_at_deadline']} / {s['left_behind']}"),
        ("machine load at start", " ".join(f"{x:.1f}" for x in s["machine_load_at_start"])),
        ("other graders' probes on this machine", f"{s['other_graders_probes_max']} at most"),
    ]
    width = max(len(r[0]) for r in rows)
    out = [f"{name:<{width}}  {value}" for name, value in rows]
    for number, got, most, first in s["lost"]:
        out.append(f"{'lost ' + str(number):<{width}}  {got:g}/{most:g} {' '.join(first)[:120]}")
    return "\n".join(out)


def _write_summary(path, summary):
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_text(path, json.dumps(summary, indent=2) + "\n")


def rehearse_catalogue(kind, cpus, memory_mb, zip_path=C.AUTOGRADER_ZIP, skip_install=False,
                       echo=print):
    """Rehearse every catalogue entry of `kind` in the same container: [(label, summary, what is
    wrong: [] for a valid results.json in time, no OOM kill, no point it did not earn)]."""
    from grader import catalogue
    rows = []
    with tempfile.TemporaryDirectory(prefix="mp09-rehearse-catalogue-") as tmp:
        for entry in (e for e in catalogue.entries() if e.kind == kind):
            summary = rehearse(cpus, memory_mb, submission=entry.build(Path(tmp) / entry.name),
                               zip_path=zip_path, skip_install=skip_install, echo=lambda *_: None)
            wrong = [] if summary["ok"] else ["no valid results.json before the deadline, or an OOM kill"]
            most = entry.expected.get("max_points")
            if most is not None and (summary["score"] or 0) > most + 1e-6:
                wrong.append(f"{summary['score']:g} points, at most {most:g} expected")
            rows.append((entry.label, summary, wrong))
            echo(catalogue_row(entry.label, summary, wrong))
    return rows


def catalogue_row(label, s, wrong):
    """One markdown table row of a catalogue rehearsal."""
    score = "killed at the deadline" if s["timed_out"] else f"{s['score']:g}"
    spare = "NO" if not s["results_before_deadline"] else f"{s['margin_seconds']:.0f} s"
    return (f"| {label} | {score} | {s['wall_seconds']:.0f} s | {spare} | {s['peak_rss_mb']:,} MB "
            f"| {s['oom_kills']} | {'; '.join(wrong) or 'ok'} |")


def cmd_rehearse(args):
    if args.catalogue:
        try:
            print("| entry | score | wall time | results.json to spare | peak resident | OOM kills | verdict |")
            print("|---|---|---|---|---|---|---|")
            rows = rehearse_catalogue(args.catalogue, args.cpus, args.memory_mb, args.zip,
                                      args.skip_install, echo=lambda row: print(row, flush=True))
        except (RehearsalError, deadline.DeployError) as exc:
            print(f"rehearse: {exc}", file=sys.stderr)
            return 2
        _write_summary(args.summary, [dict(s, entry=label, wrong=wrong) for label, s, wrong in rows])
        print(f"summary written to {args.summary}")
        return 0 if not any(wrong for *_, wrong in rows) else 1
    try:
        summary = rehearse(args.cpus, args.memory_mb, args.timeout_min, args.submission, args.zip,
                           args.skip_install, args.keep)
    except (RehearsalError, deadline.DeployError) as exc:
        print(f"rehearse: {exc}", file=sys.stderr)
        return 2
    print(table(summary))
    _write_summary(args.summary, summary)
    print(f"summary written to {args.summary}")
    return 0 if summary["ok"] else 1


def add_parser(subparsers):
    sizes = ", ".join(f"{c:g}/{m}" for c, m in C.GRADESCOPE_SIZES)
    p = subparsers.add_parser(
        "rehearse", help="run the autograder zip like Gradescope, in a container of a given size",
        description=__doc__.split("\n\n")[0] + f" Gradescope's sizes (CPUs/MB): {sizes}.")
    p.add_argument("--cpus", type=float, required=True, help="CPU quota, e.g. 1")
    p.add_argument("--memory-mb", type=int, required=True, help="memory limit in MB, e.g. 1536")
    p.add_argument("--timeout-min", type=float, default=None,
                   help="kill at this many minutes (default: the timeout the zip was built for)")
    p.add_argument("--submission", type=Path, default=None,
                   help="the folder a student uploads (default: the reference solution)")
    p.add_argument("--zip", type=Path, default=C.AUTOGRADER_ZIP,
                   help=f"the autograder zip (default: {C.AUTOGRADER_ZIP.relative_to(C.ROOT)})")
    p.add_argument("--skip-install", action="store_true",
                   help="setup.sh without apt/pip, using this Python and its packages")
    p.add_argument("--summary", type=Path, default=C.REHEARSAL_SUMMARY,
                   help=f"JSON summary to write (default: {C.REHEARSAL_SUMMARY.relative_to(C.ROOT)})")
    p.add_argument("--keep", action="store_true", help="keep the temporary root (its path is printed)")
    p.add_argument("--catalogue", choices=("hostile", "mutants", "variants"), default=None,
                   help="rehearse every catalogue entry of this kind instead of one submission "
                        "(a table: each must get a valid results.json before the deadline, no OOM "
                        "kill and no point it did not earn)")
    p.set_defaults(func=cmd_rehearse)
