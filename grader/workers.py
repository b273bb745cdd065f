"""Grading worker processes: each grades submission after submission, isolated from its driver.

    worker = Worker(run_model_limit_s=None, log=open("workers.log", "a"), threads=1)
    report = worker.grade(submission_dir, results_path, timeout)     # a WorkerReport

Used by ``grader.validate``. A worker (``python -m grader.workers``) builds the grading knowledge
once, then grades in-process. It forks first: the parent half only reaps (a child subreaper), so a
process a grade leaves behind, even double-forked, lands under this worker and is charged to its
grade. A worker that dies or overruns is killed and replaced; its grade reports why. Limits are
passed in, never written into mpconfig: run_model's as an argument, threads in PROBE_THREADS_ENV.
"""
import argparse
import json
import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

import mpconfig as C
from grader.processes import (PR_SET_CHILD_SUBREAPER, PR_SET_PDEATHSIG, exit_description, kill_group,
                              kill_tree, leftover_processes, prctl)

GRACE_S = 30                      # the brief's "configured limit + 30 s"
WORKER_START_S = 300              # building the knowledge: calibration, reference answers


@dataclass
class WorkerReport:
    """One grade as the worker that ran it saw it from outside (validate judges these)."""
    results: dict | None = None   # the results.json the grade wrote (None: none, or unreadable)
    error: str = ""               # why there are no results, or what went wrong around the grade
    seconds: float = 0.0
    leaks: list = field(default_factory=list)     # processes left behind: "pid user cmdline"
    results_bytes: int = 0


def grade_limit_s(run_model_limit_s):
    """The longest a grade may legitimately take: every probe at its time limit."""
    return (C.PROBE_IMPORT_TIMEOUT_S + (C.CHECKS_TIMEOUT_S + run_model_limit_s) * C.CHECK_SCALE_MAX
            + C.RUN_MODEL_EXTRA_S)


def probe_threads(jobs):
    """Torch threads per probe with `jobs` grades at once: the cores shared out (too many threads spin)."""
    return max(1, min(C.PROBE_THREADS, (os.cpu_count() or 1) // jobs))


def set_subreaper():
    """Orphans of our descendants are re-parented here instead of to init (so they can be found)."""
    return prctl(PR_SET_CHILD_SUBREAPER, 1)


def split_reaper():
    """Fork (while single-threaded, before torch): the parent half only reaps, as a child subreaper,
    and exits with the child's status; the child half returns True. When the worker's starter dies
    (validate killed, Ctrl-C), the reaper half takes everything under it down."""
    starter = os.getppid()
    if not set_subreaper():
        return False
    child = os.fork()
    if child == 0:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)      # the grading half dies with its reaper
        return True

    def bail(*_):
        kill_tree(os.getpid())
        os._exit(1)
    signal.signal(signal.SIGTERM, bail)
    prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
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


def worker_main(run_model_limit_s=None):
    """Read one JSON task a line on stdin, grade it, answer one JSON line on the original stdout."""
    split_reaper()     # the reaper half catches this worker's orphans (see the module's doc)
    reply = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)                       # the grade's own printing goes to stderr (the log)
    sys.stdout = os.fdopen(1, "w", buffering=1)
    if os.environ.get(C.PROBE_THREADS_ENV):
        import torch  # only now: the split above must happen while this process has one thread
        from grader.sandbox.limits import default_threads
        torch.set_num_threads(default_threads())   # the grader's own reference answers too
    from grader import context
    from grader.grade import grade
    knowledge = context.load()
    production_limit_s = knowledge.run_model_limit_s
    me = psutil.Process()
    reply.write(json.dumps({"ready": True, "pid": os.getpid()}) + "\n")
    for line in sys.stdin:
        task = json.loads(line)
        # validate's shorter limit (the worker's, or the task's own), scaled by this machine's
        # speed as production's is (slow is no failure).
        limit_s = task.get("run_model_limit_s") or run_model_limit_s
        knowledge.run_model_limit_s = (production_limit_s if limit_s is None else
                                       float(limit_s) * context.speed_factor(knowledge.calibration_s))
        out = WorkerReport()
        start = time.monotonic()
        try:
            grade(task["submission"], task["results"])
        except BaseException as exc:  # a grader crash is a finding, not the worker's end
            import traceback
            out.error = "grade() raised: " + "".join(
                traceback.format_exception_only(type(exc), exc)).strip()[-500:]
        out.seconds = time.monotonic() - start
        # Leftovers under the grading half (orphans went to the reaper half: Worker.grade sweeps those).
        out.leaks = leftover_processes(me)
        path = Path(task["results"])
        if path.is_file():
            out.results_bytes = path.stat().st_size
            try:
                out.results = json.loads(path.read_text())
            except ValueError as exc:
                out.error = (out.error + "; " if out.error else "") + f"results.json is not JSON: {exc}"
        reply.write(json.dumps(asdict(out)) + "\n")


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
        env = dict(os.environ)
        if self.threads is not None:
            env[C.PROBE_THREADS_ENV] = str(self.threads)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "grader.workers", *limit],
            cwd=C.ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
            text=True, start_new_session=True)
        ready = self._read(WORKER_START_S)
        if ready and ready.get("ready"):
            self.grading_pid = ready.get("pid")
        else:
            died = self.proc.poll()
            self.stop()
            # Remembered: a worker that cannot build the grading knowledge will not on retry.
            self.broken = (f"the grading worker did not start ({exit_description(died)}; see the log)"
                           if died is not None else
                           f"the grading worker did not start within {WORKER_START_S} s")
            raise RuntimeError(self.broken)

    def _read(self, timeout):
        fd = self.proc.stdout
        if not select.select([fd], [], [], max(0.0, timeout))[0]:
            return None
        line = fd.readline()
        return json.loads(line) if line else None

    def grade(self, submission, results, timeout, run_model_limit_s=None):
        """A WorkerReport on grading `submission` into `results` within `timeout` s (run_model's
        limit: `run_model_limit_s` before scaling, or the worker's)."""
        if self.broken:
            raise RuntimeError(self.broken)
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        start = time.monotonic()
        try:
            self.proc.stdin.write(json.dumps({"submission": str(submission), "results": str(results),
                                              "run_model_limit_s": run_model_limit_s}) + "\n")
            self.proc.stdin.flush()
            answer = self._read(timeout)
        except (BrokenPipeError, OSError, ValueError):
            answer = None
        if answer is not None:
            report = WorkerReport(**answer)
            report.leaks += self.orphans()
            return report
        seconds = time.monotonic() - start
        died = self.proc.poll()
        self.stop()
        why = (f"the grading process died ({exit_description(died)})" if died is not None
               else f"the grade did not finish within {timeout:.0f} s: the worker was killed")
        return WorkerReport(error=why, seconds=seconds)

    def orphans(self):
        """Kill and describe what the last grade left under the reaper half (all but the grading half)."""
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
        kill_group(self.proc.pid)
        self.proc.wait()
        self.proc = None


if __name__ == "__main__":
    ap = argparse.ArgumentParser(prog="python -m grader.workers",
                                 description="a grading worker (internal: started by Worker)")
    ap.add_argument("--run-model-limit", type=float, default=None)
    worker_main(ap.parse_args().run_model_limit)
