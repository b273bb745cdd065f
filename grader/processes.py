"""Processes: finding, killing and reaping them (psutil), and naming how one ended.

A leaf (it imports no grader module): the sandbox, the grade and the worker pool share it.
Zombies are reaped one by one, never with waitpid(-1): that would steal the exit status a
subprocess.Popen of the caller is waiting for.
"""
import contextlib
import os
import signal
import time

import psutil

PR_SET_PDEATHSIG, PR_SET_CHILD_SUBREAPER = 1, 36


def prctl(option, value):
    """Linux prctl(2); False where it fails or does not exist."""
    try:
        import ctypes
        return ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def signal_name(number):
    """"SIGKILL" for 9; "signal 99" for a number that names no signal."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def exit_description(returncode):
    """How a child ended, from its Popen return code: "killed by SIGKILL" or "exit code 1"."""
    if returncode is not None and returncode < 0:
        return f"killed by {signal_name(-returncode)}"
    return f"exit code {returncode}"


def kill_pids(pids):
    """SIGKILL each pid; one already gone, or not ours to kill, is skipped."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def kill_group(pgid):
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def reap(pid):
    with contextlib.suppress(ChildProcessError):  # not our child (a grandchild's zombie): its parent reaps it
        os.waitpid(pid, os.WNOHANG)


def kill_and_reap(procs, timeout=5):
    """SIGKILL each psutil.Process and the group it leads, wait up to `timeout` s, reap our children."""
    for p in procs:
        with contextlib.suppress(psutil.Error, OSError):
            if os.getpgid(p.pid) == p.pid:
                kill_group(p.pid)
        with contextlib.suppress(psutil.Error):
            p.kill()
    for p in psutil.wait_procs(procs, timeout=timeout)[0]:
        reap(p.pid)


def descendants(proc=None):
    """Every live descendant of `proc` (default: this process); [] when it is gone."""
    try:
        return (proc or psutil.Process()).children(recursive=True)
    except psutil.Error:
        return []


def _created(p):
    try:
        return p.create_time()
    except psutil.Error:
        return float("inf")


def kill_started_after(started_after):
    """Kill and return this process's live descendants started at or after `started_after` (epoch s)."""
    victims = [p for p in descendants() if _created(p) >= started_after]
    kill_and_reap(victims)
    return victims


def _describe(p):
    try:
        return f"{p.pid} {p.username()} {' '.join(p.cmdline())[:100] or p.name()}"
    except psutil.Error:
        return None


def leftover_processes(root, exclude=(), wait_s=2.0):
    """Kill and describe ("pid user cmdline") every descendant of the psutil.Process `root` still
    alive after up to `wait_s` s, except the pids in `exclude` and their descendants."""
    deadline = time.monotonic() + wait_s
    while True:
        alive = []
        candidates = descendants(root)
        # The excluded trees are read after the candidates: a process an excluded worker starts
        # between the two readings (another entry's next probe) is in its tree by then.
        skip = set(exclude)
        for pid in exclude:
            with contextlib.suppress(psutil.Error):
                skip |= {c.pid for c in psutil.Process(pid).children(recursive=True)}
        for p in candidates:
            with contextlib.suppress(psutil.NoSuchProcess):
                if p.pid in skip:
                    continue
                if p.status() == psutil.STATUS_ZOMBIE:
                    reap(p.pid)
                else:
                    alive.append(p)
        if not alive or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    found = [d for d in map(_describe, alive) if d is not None]
    kill_and_reap(alive)
    return found


def kill_tree(pid):
    """Kill every descendant of `pid` at once, even those in sessions of their own (beyond its group)."""
    with contextlib.suppress(psutil.Error):
        leftover_processes(psutil.Process(pid), wait_s=0)
