"""Killing every process a probe left behind: its process group, its cgroups, and every process
of its probe user (root) or, not root, of ours that carries the probe's environment token."""
import contextlib
import logging
import os
import subprocess
import sys
import time

import psutil

from grader.processes import kill_group, kill_pids
from grader.sandbox.limits import cgroup_pids

log = logging.getLogger(__name__)

TOKEN_ENV = "MP09_PROBE_TOKEN"
_KILL_ALL = "import os, signal\ntry:\n os.kill(-1, signal.SIGKILL)\nexcept ProcessLookupError:\n pass"


def _leftover_pids(token, user):
    """Processes of the probe user (root mode) or, otherwise, of ours carrying the probe's token."""
    me, found = os.getpid(), set()
    for proc in psutil.process_iter(["uids", "status"]):
        if proc.pid == me or proc.info["status"] == psutil.STATUS_ZOMBIE or not proc.info["uids"]:
            continue
        if user is not None:
            if user.uid in proc.info["uids"]:
                found.add(proc.pid)
        elif token is not None and proc.info["uids"].real == os.getuid():
            with contextlib.suppress(psutil.Error):
                if proc.environ().get(TOKEN_ENV) == token:
                    found.add(proc.pid)
    return found


def _kill_as(user):
    """kill(-1, SIGKILL) sent from the probe user's own uid: one atomic call reaches every process
    of that uid, so even a fork bomb or a setsid'd double-forked daemon cannot outrun it."""
    subprocess.run([sys.executable, "-I", "-S", "-c", _KILL_ALL], user=user.uid, group=user.gid,
                   extra_groups=[], cwd="/", stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=30, check=False)


def kill(proc, token, user, cgroups):
    """Kill the probe `proc` (a Popen, or None), its group and everything it left behind."""
    if proc is not None:
        kill_group(proc.pid)
        proc.wait()
    deadline = time.monotonic() + 30
    while True:
        pids = cgroup_pids(cgroups) | _leftover_pids(token, user)
        if not pids:
            return
        if user is not None:
            _kill_as(user)
        kill_pids(pids)
        if time.monotonic() > deadline:
            log.error("sandbox: processes %s of a probe survive SIGKILL", sorted(pids))
            return
        time.sleep(0.02)
