"""A probe's limits: the rlimits the child sets on itself, its thread count, and memory and pids
cgroups (v1) that cap it for real and list every process it started."""
import contextlib
import logging
import os
import time
from pathlib import Path

import psutil

import mpconfig as C
from grader import container

log = logging.getLogger(__name__)

MiB = container.MiB
CGROUP_ROOT = Path("/sys/fs/cgroup")   # v1 controllers below it (tests point it elsewhere)


def child_limits(memory_mb, own_user):
    """The rlimits for control.json; a probe sharing our uid gets our threads added to RLIMIT_NPROC."""
    max_procs = C.PROBE_MAX_PROCS if own_user else _own_task_count() + C.PROBE_MAX_PROCS
    return {"address_space_bytes": (memory_mb + C.PROBE_ADDRESS_SPACE_EXTRA_MB) * MiB,
            "max_file_bytes": C.PROBE_MAX_FILE_MB * MiB, "max_procs": max_procs}


def probe_memory_mb():
    """The next probe's memory cap: mpconfig.PROBE_MEMORY_MB, or less in a smaller container, so
    the probe hits its own cap and a message, not the kernel's choice of victim (the grader)."""
    limit = container.memory_limit_mb()
    if limit is None:
        return C.PROBE_MEMORY_MB
    room = limit - container.own_memory_mb() - C.CONTAINER_RESERVE_MB
    return int(max(C.PROBE_MEMORY_MIN_MB, min(C.PROBE_MEMORY_MB, room)))


def default_threads():
    """Threads per probe: what the grader's starter set in the environment (a worker sharing cores),
    else what the container's CPU quota holds, at most PROBE_THREADS (more only spin against it)."""
    value = os.environ.get(C.PROBE_THREADS_ENV, "")
    if not value:
        return container.threads_for(container.cpu_limit(), C.PROBE_THREADS)
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{C.PROBE_THREADS_ENV}={value!r}: expected a whole number of threads >= 1")
    return int(value)


def thread_env(threads):
    """The environment that holds the numeric libraries to `threads` threads."""
    return {name: str(threads) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}


def _own_task_count():
    """Threads of our user now: RLIMIT_NPROC counts them all when the probe shares our uid."""
    me, count = os.getuid(), 0
    for proc in psutil.process_iter(["uids", "num_threads"]):
        if proc.info["uids"] and proc.info["uids"].real == me:
            count += proc.info["num_threads"] or 0
    return count


# --- cgroups (v1): a real memory cap, a pids cap and a complete list of the probe's processes ---
_cgroup_warned = False


def own_cgroup(controller):
    """This process's v1 cgroup of `controller` (or None): cgroups made there nest within our own limits."""
    base = CGROUP_ROOT / controller
    if not (base / "cgroup.procs").is_file():
        return None
    path = container.own_paths().get(controller)
    if path is None:
        return base
    nested = base / path.lstrip("/")
    return nested if nested.is_dir() else base


def make_cgroups(token, memory_mb, max_procs):
    """The probe's memory and pids cgroups, where the machine lets us make them ([] if none)."""
    global _cgroup_warned
    made = []
    wanted = (("memory", (("memory.limit_in_bytes", memory_mb * MiB, True),
                          ("memory.memsw.limit_in_bytes", memory_mb * MiB, False))),
              ("pids", (("pids.max", max_procs, True),)))
    for controller, settings in wanted:
        parent = own_cgroup(controller)
        if parent is None:
            continue
        path = parent / f"{C.PROBE_USER}-{token}"
        try:
            path.mkdir()
            for name, value, required in settings:
                try:
                    (path / name).write_text(str(value))
                except OSError:
                    if required:
                        raise
            made.append(path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                path.rmdir()
            if not _cgroup_warned:
                log.warning("sandbox: no %s cgroup for probes (%s); rlimits only", controller, exc)
                _cgroup_warned = True
    return made


def cgroup_pids(cgroups):
    pids = set()
    for path in cgroups:
        with contextlib.suppress(OSError, ValueError):
            pids.update(int(p) for p in (path / "cgroup.procs").read_text().split())
    return pids


def oom_killed(cgroups):
    for path in cgroups:
        with contextlib.suppress(OSError, ValueError):
            fields = dict(line.split() for line in (path / "memory.oom_control").read_text().splitlines())
            if "oom_kill" in fields:
                return int(fields["oom_kill"]) > 0
            return int((path / "memory.failcnt").read_text()) > 0
    return False


def remove_cgroups(cgroups):
    for path in cgroups:
        for _ in range(50):  # a killed task may take a moment to leave
            try:
                path.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.02)
        else:
            log.warning("sandbox: could not remove cgroup %s", path)
