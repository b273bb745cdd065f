"""The grader graded: grade the reference and every catalogue entry, compare with expectations.

    python -m grader validate [--only NAME...] [--jobs N] [--keep DIR]

The reference and every correct variant must score 100 %; every mutant must fail the tests its
EXPECTED names and lose the points it says; every hostile submission must get no more than
its allowance. For every entry the grade must also write a valid results.json, finish within the
grade's configured time limit + 30 s, and leave no process behind. Prints a table and exits 1 on
any mismatch. The entries are recipes, grader/catalogue/<kind>/<name>.py (see its package
docstring), each built from the reference into a scratch folder when it is graded; --keep DIR
writes out DIR/<kind>/<name>/ with the graded submitted.py, its results.json and outcome.json.

How it grades: each worker is a separate process (``python -m grader.validate worker``) that
builds the grading knowledge once and then grades entries one after another, in-process, through
``grader.grade.grade``. The worker forks first: the parent half only reaps, as a child subreaper,
and the child half grades. A process a grade leaves behind either stays under the grading half
(found by the worker itself) or, orphaned by a double fork as init would adopt it on Gradescope,
lands under that worker's reaper, never under another worker's: so with several workers each
leftover is still charged to the entry that made it. Either way it is listed, killed and
reported. A worker that dies or overruns is killed and replaced; the entry is a mismatch.

Validation shortens run_model's time limit (mpconfig.VALIDATE_RUN_MODEL_LIMIT_S) so that the entries that
must time out cost minutes, not the production quarter hour; correct variants then prove they
finish well within the real limit.
"""
import argparse
import json
import math
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import mpconfig as C
from grader import catalogue
from grader.catalogue import KINDS

GRACE_S = 30                      # the brief's "configured limit + 30 s"
WORKER_START_S = 300              # building the knowledge: calibration, reference answers
RESULTS_MAX_BYTES = 1_000_000     # Gradescope shows results.json files up to about 1 MB
TIMED_OUT = re.compile(r"time(d)? ?out|time limit", re.I)
EPS = 1e-6


# --- the catalogue --------------------------------------------------------------------------------

def load_catalogue():
    """The reference, then every catalogue entry (grader/catalogue/<kind>/<name>.py)."""
    return [catalogue.REFERENCE, *catalogue.entries()]


def select_entries(entries, only):
    if not only:
        return entries
    chosen = [e for e in entries if e.name in only or e.label in only or e.kind in only]
    unknown = set(only) - {x for e in chosen for x in (e.name, e.label, e.kind)}
    if unknown:
        raise ValueError(f"--only: no catalogue entry named {', '.join(sorted(unknown))} "
                         f"(known: reference, {', '.join(KINDS)}, or kind/name)")
    return chosen


def grade_limit_s(run_model_limit_s):
    """The longest a grade may legitimately take: every probe at its time limit."""
    return C.PROBE_IMPORT_TIMEOUT_S + C.CHECKS_TIMEOUT_S + run_model_limit_s + C.RUN_MODEL_EXTRA_S


# --- judging one grade ------------------------------------------------------------------------------

@dataclass
class Outcome:
    results: dict | None = None   # the results.json the grade wrote (None: none, or unreadable)
    error: str = ""               # why there are no results, or what went wrong around the grade
    seconds: float = 0.0
    leaks: list = field(default_factory=list)     # processes left behind: "pid user cmdline"
    results_bytes: int = 0


def _tests(results):
    return {t.get("number", t.get("name")): t for t in results.get("tests", [])}


def lost_by_test(results):
    """{number: points lost} for every test below its max."""
    return {n: t["max_score"] - t["score"] for n, t in _tests(results).items()
            if t["score"] < t["max_score"] - EPS}


def judge(entry, outcome, limit_s):
    """The list of ways this grade differs from the entry's expectations ([] = as expected)."""
    from grader.results import problems, is_grader_error
    e, r = entry.expected, outcome.results
    bad = []
    if outcome.error:
        bad.append(outcome.error)
    if outcome.leaks:
        bad.append(f"{len(outcome.leaks)} process(es) left behind: " + "; ".join(outcome.leaks[:3]))
    if outcome.seconds > limit_s + GRACE_S:
        bad.append(f"took {outcome.seconds:.0f} s, over the limit {limit_s:.0f} s + {GRACE_S} s")
    if r is None:
        return bad or ["no results.json"]
    bad += [f"invalid results.json: {p}" for p in problems(r)]
    if outcome.results_bytes > RESULTS_MAX_BYTES:
        bad.append(f"results.json is {outcome.results_bytes} bytes (> {RESULTS_MAX_BYTES})")
    if is_grader_error(r):
        bad.append("the grader itself failed: " + str(r.get("extra_data", {}).get("grader_error", ""))[-300:])
    if bad:
        return bad
    tests = _tests(r)
    total = r["score"]
    max_total = sum(t["max_score"] for t in tests.values())
    lost = max_total - total
    if "score" in e and total < max_total * e["score"] / 100 - EPS:
        bad.append(f"scored {total:g}/{max_total:g}, expected {e['score']} %")
    for n in e.get("must_fail", []):
        if n not in tests:
            bad.append(f"test {n} does not exist")
        elif tests[n]["score"] >= tests[n]["max_score"] - EPS:
            bad.append(f"test {n} passed, but must fail")
    if e.get("must_fail_any") and not any(
            n in tests and tests[n]["score"] < tests[n]["max_score"] - EPS for n in e["must_fail_any"]):
        bad.append(f"none of tests {', '.join(e['must_fail_any'])} failed; one must")
    if "min_lost" in e and lost < e["min_lost"] - EPS:
        bad.append(f"lost {lost:g} points, must lose at least {e['min_lost']:g}")
    if "max_lost" in e and lost > e["max_lost"] + EPS:
        bad.append(f"lost {lost:g} points, may lose at most {e['max_lost']:g}")
    if "max_points" in e and total > e["max_points"] + EPS:
        bad.append(f"got {total:g} points, may get at most {e['max_points']:g}")
    if "min_points" in e and total < e["min_points"] - EPS:
        bad.append(f"got {total:g} points, should still earn {e['min_points']:g}")
    text = json.dumps(r)
    if e.get("times_out") and not TIMED_OUT.search(text):
        bad.append("no test output says it timed out")
    bad += [f"output lacks {s!r}" for s in e.get("output_has", []) if s not in text]
    bad += [f"output contains {s!r}" for s in e.get("output_lacks", []) if s in text]
    return bad


def expected_summary(e):
    if "score" in e:
        return f"{e['score']} %"
    parts = []
    if e.get("must_fail"):
        parts.append("fail " + ",".join(e["must_fail"]))
    if e.get("must_fail_any"):
        parts.append("fail one of " + ",".join(e["must_fail_any"]))
    if "min_lost" in e or "max_lost" in e:
        parts.append(f"lose {e.get('min_lost', 0):g}" + (f"-{e['max_lost']:g}" if "max_lost" in e else "+"))
    if "max_points" in e:
        parts.append(f"<= {e['max_points']:g} pts" + (f", >= {e['min_points']:g}" if "min_points" in e else ""))
    if e.get("times_out"):
        parts.append("times out")
    return "; ".join(parts)


# --- the worker (a separate process) -------------------------------------------------------------------

PR_SET_PDEATHSIG, PR_SET_CHILD_SUBREAPER = 1, 36


def _prctl(option, value):
    """Linux prctl(2); False where it fails or does not exist."""
    try:
        import ctypes
        return ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _set_subreaper():
    return _prctl(PR_SET_CHILD_SUBREAPER, 1)


def leftover_processes(me, exclude=(), wait_s=2.0):
    """Kill and describe every descendant of `me` still alive, except the pids in `exclude`
    (and theirs). Zombies are reaped one by one, never with waitpid(-1): that would steal the
    exit status a subprocess.Popen of ours is waiting for."""
    import psutil
    deadline = time.monotonic() + wait_s
    while True:
        alive = []
        skip = set(exclude)
        for pid in exclude:
            try:
                skip |= {c.pid for c in psutil.Process(pid).children(recursive=True)}
            except psutil.Error:
                pass
        for p in me.children(recursive=True):
            try:
                if p.pid in skip:
                    continue
                if p.status() == psutil.STATUS_ZOMBIE:
                    _reap(p.pid)
                else:
                    alive.append(p)
            except psutil.NoSuchProcess:
                pass
        if not alive or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    found = []
    for p in alive:
        try:
            found.append(f"{p.pid} {p.username()} {' '.join(p.cmdline())[:100] or p.name()}")
            p.kill()
        except psutil.Error:
            pass
    for p in psutil.wait_procs(alive, timeout=5)[0]:
        _reap(p.pid)
    return found


def _reap(pid):
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:  # not our child (a grandchild's zombie): its parent reaps it
        pass


def kill_tree(pid):
    """Kill every descendant of `pid` at once. Probes run in sessions of their own, so killing
    the worker's process group alone would leave them running."""
    import psutil
    try:
        leftover_processes(psutil.Process(pid), wait_s=0)
    except psutil.Error:
        pass


def split_reaper():
    """Fork; the parent half becomes a child subreaper that only reaps, and exits with the
    child's status; the child half returns (True if the split happened). Call it while the
    process has one thread (before torch). When the process that started the worker dies
    (validate killed, Ctrl-C), the reaper half takes everything under it down with it."""
    starter = os.getppid()
    if not _set_subreaper():
        return False
    child = os.fork()
    if child == 0:
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)      # the grading half dies with its reaper
        return True

    def bail(*_):
        kill_tree(os.getpid())
        os._exit(1)
    signal.signal(signal.SIGTERM, bail)
    _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != starter:                       # it died before the line above
        bail()
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            os._exit(0)
        except KeyboardInterrupt:
            continue
        if pid == child:
            os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


def probe_threads(jobs):
    """Torch threads for each probe when `jobs` grades run at once: the cores shared out, never
    more than production's. Two probes of two spinning OpenMP threads each on two cores run
    several times slower than one after the other."""
    return max(1, min(C.PROBE_THREADS, (os.cpu_count() or 1) // jobs))


def worker_main(run_model_limit_s, threads=None):
    """Read one JSON task a line on stdin, grade it, answer one JSON line on the original stdout."""
    split_reaper()     # the reaper half catches this worker's orphans (see the module's doc)
    import psutil
    reply = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)                       # the grade's own printing goes to stderr (the log)
    sys.stdout = os.fdopen(1, "w", buffering=1)
    if run_model_limit_s is not None:
        # Validation's shorter run_model limit; context.run_model_limit() clamps to these.
        C.RUN_MODEL_TIMEOUT_S = C.RUN_MODEL_TIMEOUT_FLOOR_S = C.RUN_MODEL_TIMEOUT_CAP_S = run_model_limit_s
    if threads is not None:
        C.PROBE_THREADS = threads          # read by the sandbox for every probe
        import torch
        torch.set_num_threads(threads)     # and the grader's own reference answers
    from grader import context
    from grader.grade import grade
    context.load()
    me = psutil.Process()
    reply.write(json.dumps({"ready": True, "pid": os.getpid()}) + "\n")
    for line in sys.stdin:
        task = json.loads(line)
        out = Outcome()
        start = time.monotonic()
        try:
            grade(task["submission"], task["results"])
        except BaseException as exc:  # a grader crash is a finding, not the worker's end
            import traceback
            out.error = "grade() raised: " + "".join(
                traceback.format_exception_only(type(exc), exc)).strip()[-500:]
        out.seconds = time.monotonic() - start
        # Only descendants still attached to the grading half; orphans (a daemon's double fork)
        # go to the reaper half, as they would go to init on Gradescope: Worker.grade sweeps those.
        out.leaks = leftover_processes(me)
        path = Path(task["results"])
        if path.is_file():
            out.results_bytes = path.stat().st_size
            try:
                out.results = json.loads(path.read_text())
            except ValueError as exc:
                out.error = (out.error + "; " if out.error else "") + f"results.json is not JSON: {exc}"
        reply.write(json.dumps(out.__dict__) + "\n")


class Worker:
    """One worker process, driven over pipes, replaced when it dies or overruns."""

    def __init__(self, run_model_limit_s, log, threads=None):
        self.limit = run_model_limit_s
        self.threads = threads
        self.log = log
        self.proc = None            # the reaper half (the whole worker if it could not fork)
        self.grading_pid = None     # the grading half
        self.broken = ""

    def start(self):
        limit = [] if self.limit is None else ["--run-model-limit", str(self.limit)]
        limit += [] if self.threads is None else ["--threads", str(self.threads)]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "grader.validate", "worker", *limit],
            cwd=C.ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
            text=True, start_new_session=True)
        ready = self._read(WORKER_START_S)
        if ready and ready.get("ready"):
            self.grading_pid = ready.get("pid")
        else:
            died = self.proc.poll()
            self.stop()
            # Remembered: a worker that cannot build the grading knowledge will not on retry.
            self.broken = (f"the grading worker did not start ({_signal_name(died)}; see the log)"
                           if died is not None else
                           f"the grading worker did not start within {WORKER_START_S} s")
            raise RuntimeError(self.broken)

    def _read(self, timeout):
        fd = self.proc.stdout
        if not select.select([fd], [], [], max(0.0, timeout))[0]:
            return None
        line = fd.readline()
        return json.loads(line) if line else None

    def grade(self, submission, results, timeout):
        if self.broken:
            raise RuntimeError(self.broken)
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        start = time.monotonic()
        try:
            self.proc.stdin.write(json.dumps({"submission": str(submission), "results": str(results)}) + "\n")
            self.proc.stdin.flush()
            answer = self._read(timeout)
        except (BrokenPipeError, OSError, ValueError):
            answer = None
        if answer is not None:
            outcome = Outcome(**answer)
            outcome.leaks += self.orphans()
            return outcome
        seconds = time.monotonic() - start
        died = self.proc.poll()
        self.stop()
        why = (f"the grading process died ({_signal_name(died)})" if died is not None
               else f"the grade did not finish within {timeout:.0f} s: the worker was killed")
        return Outcome(error=why, seconds=seconds)

    def orphans(self):
        """Kill and describe what the last grade left under this worker's reaper half
        (everything there but the grading half)."""
        import psutil
        if self.proc is None or self.grading_pid in (None, self.proc.pid):
            return []
        try:
            reaper = psutil.Process(self.proc.pid)
        except psutil.Error:
            return []
        return leftover_processes(reaper, exclude=(self.grading_pid,), wait_s=0.5)

    def stop(self):
        if self.proc is None:
            return
        kill_tree(self.proc.pid)
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        self.proc = None


class IsolatedGrader:
    """grade(submission_dir, results_path) -> results dict, each thread with its own worker
    (production time limits); raises RuntimeError when there are no results. For regrade."""

    def __init__(self, log_path, jobs=1):
        self.log = open(log_path, "a")
        self.threads = probe_threads(jobs)
        self.local = threading.local()
        self.workers = []
        self.timeout = grade_limit_s(C.RUN_MODEL_TIMEOUT_CAP_S) + GRACE_S + WORKER_START_S

    def __call__(self, submission_dir, results_path):
        worker = getattr(self.local, "worker", None)
        if worker is None:
            worker = self.local.worker = Worker(None, self.log, self.threads)
            self.workers.append(worker)
        outcome = worker.grade(submission_dir, results_path, self.timeout)
        if outcome.results is None:
            raise RuntimeError(outcome.error or "the grader wrote no results.json")
        if outcome.leaks:  # already killed; worth a line in the log
            print(f"{submission_dir}: killed leftover processes {outcome.leaks}", file=self.log, flush=True)
        return outcome.results

    def close(self):
        for w in self.workers:
            w.stop()
        self.log.close()


def _signal_name(code):
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            pass
    return f"exit code {code}"


# --- the run --------------------------------------------------------------------------------------------

def validate(entries, *, jobs=C.VALIDATE_JOBS, keep=None, run_model_limit_s=C.VALIDATE_RUN_MODEL_LIMIT_S,
             log_path=None, progress=print):
    """Grade every entry; returns [(entry, outcome, mismatches)] in catalogue order."""
    import psutil
    if jobs < 1:
        raise ValueError(f"--jobs must be at least 1, got {jobs}")
    limit = grade_limit_s(run_model_limit_s)
    # Every orphan of a grade (a double-forked daemon, the children of a killed worker) is
    # re-parented here instead of to init, so it can be found and killed below.
    _set_subreaper()
    tmp = Path(tempfile.mkdtemp(prefix="mp09-validate-"))
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
    log_path = Path(log_path or (Path(keep) / "workers.log" if keep else tmp / "workers.log"))
    log = open(log_path, "a")
    # The entries that must time out go first: with several workers they overlap the rest.
    order = sorted(range(len(entries)), key=lambda i: not entries[i].expected.get("times_out"))
    todo = list(order)
    lock = threading.Lock()
    done = {}
    n = min(jobs, len(entries))
    workers = [Worker(run_model_limit_s, log, probe_threads(n)) for _ in range(n)]
    me = psutil.Process()

    def run(worker):
        while True:
            with lock:
                if not todo:
                    return
                i = todo.pop(0)
            entry = entries[i]
            folder = tmp / f"{entry.kind}-{entry.name}"
            results = folder / "results.json"
            try:
                # Only submitted.py: the grade sees exactly what a student would upload.
                entry.build(folder / "submission")
                outcome = worker.grade(folder / "submission", results, limit + GRACE_S + 60)
            except Exception as exc:  # e.g. the worker cannot start: every entry says so
                outcome = Outcome(error=f"validate could not grade: {exc}")
            # Orphans re-parented to us: only those of a worker whose reaper half died.
            with lock:
                live = {w.proc.pid for w in workers if w.proc is not None}
            outcome.leaks += leftover_processes(me, exclude=live, wait_s=0.5)
            bad = judge(entry, outcome, limit)
            if keep:
                dest = Path(keep) / entry.kind / entry.name
                dest.mkdir(parents=True, exist_ok=True)
                for path in (folder / "submission" / "submitted.py", results):
                    if path.is_file():
                        shutil.copy2(path, dest / path.name)
                (dest / "outcome.json").write_text(
                    json.dumps({"outcome": outcome.__dict__, "mismatches": bad}, indent=1))
            with lock:
                done[i] = (entry, outcome, bad)
                progress(f"[{len(done)}/{len(entries)}] {entry.label}: "
                         f"{_got(outcome)} in {outcome.seconds:.0f} s"
                         + ("" if not bad else f"  MISMATCH: {bad[0]}"))

    threads = [threading.Thread(target=run, args=(w,), daemon=True) for w in workers]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for w in workers:
            w.stop()
        log.close()
        if any(bad for _, _, bad in done.values()):
            # The graders' own messages (stderr of the workers) explain most mismatches.
            tail = log_path.read_text(errors="replace")[-3000:]
            progress(f"--- last lines of the grading log {log_path}:\n{tail}")
        shutil.rmtree(tmp, ignore_errors=True)
    return [done[i] for i in range(len(entries)) if i in done]


def _got(outcome):
    r = outcome.results
    if not r or "tests" not in r:
        return "no results"
    max_total = sum(t.get("max_score", 0) for t in r["tests"])
    return f"{r.get('score', 0):g}/{max_total:g}"


def table(rows):
    """submission | expected | got | verdict | points lost per test, then the reasons."""
    head = ("submission", "expected", "got", "s", "verdict", "lost per test")
    lines = []
    for entry, outcome, bad in rows:
        lost = lost_by_test(outcome.results) if outcome.results and "tests" in outcome.results else {}
        lines.append((entry.label, expected_summary(entry.expected), _got(outcome),
                      f"{outcome.seconds:.0f}", "ok" if not bad else "MISMATCH",
                      " ".join(f"{n}:-{v:g}" for n, v in lost.items()) or "-"))
    widths = [max(len(str(x)) for x in col) for col in zip(head, *lines)]
    fmt = lambda r: "  ".join(f"{str(x):<{w}}" for x, w in zip(r, widths)).rstrip()  # noqa: E731
    out = [fmt(head), fmt(["-" * w for w in widths])] + [fmt(r) for r in lines]
    for entry, outcome, bad in rows:
        if bad:
            out.append(f"\n{entry.label} ({entry.description}):")
            out += [f"  - {b}" for b in bad]
    return "\n".join(out)


# --- command line -----------------------------------------------------------------------------------------

def add_parser(subparsers):
    p = subparsers.add_parser("validate", help="grade the reference and the catalogue; check expectations",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("--only", nargs="+", metavar="NAME",
                   help="entries to grade: reference, a kind (variants, mutants, hostile), a name or kind/name")
    p.add_argument("--jobs", type=int, default=C.VALIDATE_JOBS,
                   help=f"entries graded at once (default {C.VALIDATE_JOBS})")
    p.add_argument("--keep", type=Path, metavar="DIR",
                   help="write each graded entry out to DIR/<kind>/<name>/: submitted.py, "
                        "results.json and outcome.json (the judgement)")
    p.add_argument("--run-model-limit", type=float, default=C.VALIDATE_RUN_MODEL_LIMIT_S,
                   help=f"run_model's time limit while validating (default {C.VALIDATE_RUN_MODEL_LIMIT_S} s)")
    p.set_defaults(func=main)
    return p


def main(args):
    try:
        entries = select_entries(load_catalogue(), args.only)
        reference = C.REFERENCE_SOLUTION.read_text()
        for entry in entries:
            entry.source(reference)   # a recipe that no longer applies stops the run here, named
    except ValueError as exc:
        print(f"validate: {exc}", file=sys.stderr)
        return 2
    start = time.monotonic()
    rows = validate(entries, jobs=args.jobs, keep=args.keep, run_model_limit_s=args.run_model_limit,
                    progress=lambda m: print(m, file=sys.stderr, flush=True))
    print(table(rows))
    failed = sum(bool(bad) for _, _, bad in rows)
    print(f"\nvalidate: {len(rows)} submissions, {failed} mismatches, "
          f"{time.monotonic() - start:.0f} s (jobs={args.jobs})")
    return 1 if failed or len(rows) < len(entries) else 0


def bench(args=None):
    """`python -m grader bench validate`: the whole catalogue, timed."""
    ns = argparse.Namespace(only=None, jobs=C.VALIDATE_JOBS, keep=None,
                            run_model_limit=C.VALIDATE_RUN_MODEL_LIMIT_S)
    start = time.monotonic()
    code = main(ns)
    print(f"bench validate: {time.monotonic() - start:.1f} s total")
    return code


if __name__ == "__main__":
    if sys.argv[1:2] == ["worker"]:
        ap = argparse.ArgumentParser(prog="python -m grader.validate worker")
        ap.add_argument("worker")
        ap.add_argument("--run-model-limit", type=float, default=None)
        ap.add_argument("--threads", type=int, default=None)
        args = ap.parse_args()
        worker_main(args.run_model_limit, args.threads)
    else:
        sys.exit("use: python -m grader validate  (python -m grader.validate worker is internal)")
