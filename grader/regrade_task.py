"""One grade of a regrade, as it runs on a Dask worker: the task, and the launcher it starts.

``grade_task`` unpacks the shipped submission into a private temporary folder and starts, from the
repository root, ``python -m grader.regrade_task launch --parent PID -- <the grading half>``: a child
subreaper that only waits while the grading half runs ``grader grade``'s code on the task's threads.
The launcher dies with its worker (PR_SET_PDEATHSIG) and kills everything under it, probes in their
own sessions included; the grading half dies with the launcher; a task the client cancels is noticed
within a second and killed the same way; whatever a grade leaves behind is killed and logged.

The task returns plain data and writes nowhere but its temporary folder: the client is the only
writer of the CSV.
"""
import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path, PurePosixPath

import psutil

import mpconfig as C
from grader.processes import PR_SET_CHILD_SUBREAPER, PR_SET_PDEATHSIG, exit_description, prctl

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
               "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")
SHIP_MAX_BYTES = 8 << 20          # larger submission folders are read on the worker (shared disk)
START_S = 300                     # interpreter, torch, calibration, the reference's answers
# The longest a grade may legitimately take: every probe at its production limit, plus start-up.
GRADE_LIMIT_S = (C.PROBE_IMPORT_TIMEOUT_S + C.CHECKS_TIMEOUT_S * C.CHECK_SCALE_MAX + C.RUN_MODEL_TIMEOUT_CAP_S
                 + C.RUN_MODEL_EXTRA_S + START_S)
POLL_S = 1.0                      # how soon a cancelled task kills its grade
STOP_GRACE_S = 10                 # SIGTERM (the launcher sweeps its tree), then SIGKILL
LOG_TAIL_BYTES = 4000


def pack(folder):
    """{"files": {posix path: bytes}} of a small folder (regular files, as the sandbox copies), else
    {"path": str}: a large folder is read where it lies (the worker must share the file system)."""
    folder = Path(folder)
    files, size = {}, 0
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if "__MACOSX" in rel.parts or path.is_symlink() or not path.is_file():
            continue
        size += path.stat().st_size
        if size > SHIP_MAX_BYTES:
            return {"path": str(folder.resolve())}
        files[rel.as_posix()] = path.read_bytes()
    return {"files": files}


def unpack(shipped, dest):
    """The submission folder on this host: written under dest, or the shipped path."""
    if "path" in shipped:
        folder = Path(shipped["path"])
        if not folder.is_dir():
            raise FileNotFoundError(
                f"submission folder {folder} is over {SHIP_MAX_BYTES >> 20} MB, so it is not "
                f"shipped, and this worker ({socket.gethostname()}) cannot see it: put the export "
                "on a file system the workers share")
        return folder
    dest.mkdir(parents=True)
    for rel, data in shipped["files"].items():
        parts = PurePosixPath(rel).parts
        if not parts or rel.startswith("/") or ".." in parts:
            raise ValueError(f"refusing to unpack {rel!r}: not a path inside the submission")
        target = dest.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return dest


def default_command(threads):
    return [sys.executable, "-m", "grader.regrade_task", "grade", "--threads", str(threads),
            "--submission", "{submission}", "--results", "{results}"]


def grade_task(shipped, threads, command=None):
    """Grade a shipped submission, never raising for its sake: {results, error, seconds, host, euid, log}."""
    start = time.monotonic()
    out = {"results": None, "error": "", "seconds": 0.0, "host": socket.gethostname(),
           "euid": os.geteuid(), "log": ""}
    tmp = Path(tempfile.mkdtemp(prefix="mp09-regrade-"))
    try:
        submission = unpack(shipped, tmp / "submission")
        results, log = tmp / "results.json", tmp / "grade.log"
        cmd = [part.format(submission=submission, results=results)
               for part in (command or default_command(threads))]
        code, why = _run(cmd, log, threads)
        out["log"] = _tail(log)
        if results.is_file():
            try:
                out["results"] = json.loads(results.read_text(encoding="utf-8"))
            except ValueError as exc:
                out["error"] = f"results.json is not JSON: {exc}"
        else:
            out["error"] = why or f"the grader wrote no results.json ({exit_description(code)})"
    except Exception as exc:  # e.g. the folder cannot be unpacked: a row, not a lost task
        out["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out["seconds"] = round(time.monotonic() - start, 1)
    return out


def _run(cmd, log, threads):
    """(exit code, "" or why the grade was stopped)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", **{v: str(threads) for v in THREAD_VARS})
    launcher = [sys.executable, "-m", "grader.regrade_task", "launch", "--parent", str(os.getpid()),
                "--cleanup", str(Path(log).parent), "--", *cmd]
    still_wanted = _still_wanted()
    with open(log, "wb") as f:
        # Its own session: the client's Ctrl-C is the client's, and the group can be killed whole.
        # No preexec_fn (unsafe in a threaded Dask worker): the launcher sets its death signal itself.
        proc = subprocess.Popen(launcher, cwd=C.ROOT, env=env, stdin=subprocess.DEVNULL,
                                stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + GRADE_LIMIT_S
    try:
        while True:
            with contextlib.suppress(subprocess.TimeoutExpired):
                return proc.wait(timeout=POLL_S), ""
            if not still_wanted():
                _stop(proc)
                return proc.returncode, "the task was cancelled"
            if time.monotonic() > deadline:
                _stop(proc)
                return proc.returncode, (f"the grade did not finish within {GRADE_LIMIT_S} s "
                                         "(every probe's limit plus start-up): it was killed")
    except BaseException:
        _stop(proc)
        raise


def _still_wanted():
    """A function telling whether this Dask task is still wanted (always, outside a worker)."""
    try:
        from distributed import get_worker
        from distributed.worker import thread_state
        worker, key = get_worker(), thread_state.key
    except (ImportError, ValueError, AttributeError):
        return lambda: True

    def check():
        ts = worker.state.tasks.get(key)
        return ts is not None and ts.state not in ("cancelled", "released", "forgotten")
    return check


def _stop(proc):
    """SIGTERM to the launcher's group (the launcher then kills its whole tree), then SIGKILL."""
    for sig, wait in ((signal.SIGTERM, STOP_GRACE_S), (signal.SIGKILL, None)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _tail(path):
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.fstat(f.fileno()).st_size - LOG_TAIL_BYTES))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _kill_tree(wait_s=5.0):
    """Kill every descendant (orphans land here: we are their subreaper) until none is left; describe them."""
    me, found = psutil.Process(), []
    deadline = time.monotonic() + wait_s
    while True:
        alive = [p for p in me.children(recursive=True) if _alive(p)]
        if not alive or time.monotonic() > deadline:
            break
        for p in alive:
            with contextlib.suppress(psutil.Error):
                found.append(f"{p.pid} {' '.join(p.cmdline())[:100] or p.name()}")
                p.kill()
        psutil.wait_procs(alive, timeout=1)
        _reap_all()
    return found


def _alive(p):
    with contextlib.suppress(psutil.Error, ChildProcessError):
        if p.status() != psutil.STATUS_ZOMBIE:
            return True
        os.waitpid(p.pid, os.WNOHANG)
    return False


def _reap_all():
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                return
        except ChildProcessError:
            return


def launch(parent, cmd, cleanup=None):
    """Run cmd under this process; on a signal, kill the tree and remove `cleanup`. Returns its exit code."""
    prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:          # the worker died before the line above
        return 1
    prctl(PR_SET_CHILD_SUBREAPER, 1)

    def bail(signum, _frame):
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)   # a second signal must not cut this one short
        killed = _kill_tree()
        print(f"regrade launcher: {signal.Signals(signum).name}; killed {len(killed)} process(es)",
              file=sys.stderr, flush=True)
        if cleanup:
            shutil.rmtree(cleanup, ignore_errors=True)
        os._exit(128 + signum)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, bail)
    # This launcher is single-threaded, so preexec_fn is safe here.
    child = subprocess.Popen(cmd, cwd=C.ROOT,
                             preexec_fn=lambda: prctl(PR_SET_PDEATHSIG, signal.SIGKILL))
    code = child.wait()
    leftovers = _kill_tree()
    if leftovers:
        print(f"regrade launcher: killed {len(leftovers)} process(es) the grade left behind: "
              + "; ".join(leftovers[:5]), file=sys.stderr, flush=True)
    return code


def grade_half(threads, submission, results):
    """`python -m grader grade ...` with every probe on `threads` threads: the task's share of cores."""
    os.environ[C.PROBE_THREADS_ENV] = str(threads)   # read by the sandbox for each probe
    import torch
    torch.set_num_threads(threads)
    from grader import cli
    return cli.main(["grade", "--submission", str(submission), "--results", str(results)])


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m grader.regrade_task",
                                 description="internal: one regrade task (see grader/regrade.py)")
    sub = ap.add_subparsers(dest="what", required=True)
    la = sub.add_parser("launch")
    la.add_argument("--parent", type=int, required=True)
    la.add_argument("--cleanup", type=Path, default=None)
    la.add_argument("cmd", nargs=argparse.REMAINDER)
    gr = sub.add_parser("grade")
    gr.add_argument("--threads", type=int, required=True)
    gr.add_argument("--submission", type=Path, required=True)
    gr.add_argument("--results", type=Path, required=True)
    args = ap.parse_args(argv)
    if args.what == "launch":
        cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
        if not cmd:
            ap.error("launch needs a command after --")
        return launch(args.parent, cmd, args.cleanup)
    return grade_half(args.threads, args.submission, args.results)


if __name__ == "__main__":
    sys.exit(main())
