"""What container the grader runs in: its memory limit and CPU quota, read from the cgroups this
process belongs to (v1 or v2, the tightest of its own cgroup and every ancestor), so that probe
memory, thread counts and the minimum-size check follow the container Gradescope gives.

    container.memory_limit_mb()   # 1536.0 in a 1.5 GB container; None when nothing limits us
    container.cpu_limit()         # 1.0 under a one-CPU quota; the usable CPUs without one
    container.own_memory_mb()     # this process's anonymous resident memory (what a cgroup counts)
"""
import contextlib
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
MiB = 1 << 20
_UNLIMITED = 1 << 60          # v1 writes "no limit" as a huge number (9223372036854771712)


def own_paths():
    """{controller: path} from /proc/self/cgroup; the v2 hierarchy under the key ""."""
    paths = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for name in controllers.split(",") if controllers else [""]:
                paths[name] = path
    return paths


def _ancestors(base, path):
    """base/path, then each folder above it up to base (those that exist)."""
    here = base / path.lstrip("/")
    while True:
        if here.is_dir():
            yield here
        if here == base or base not in here.parents:
            return
        here = here.parent


def _settings(v1_controller, v1_names, v2_name):
    """The words of each of our cgroups' setting, own cgroup and ancestors: ("v1", [words of each
    of v1_names]) from the v1 controller's hierarchy, ("v2", words of v2_name) from the unified one."""
    paths = own_paths()
    if v1_controller in paths:
        for folder in _ancestors(CGROUP_ROOT / v1_controller, paths[v1_controller]):
            yield "v1", [_read(folder / name) or [] for name in v1_names]
    if "" in paths:
        for base in (CGROUP_ROOT / "unified", CGROUP_ROOT):
            for folder in _ancestors(base, paths[""]):
                words = _read(folder / v2_name)
                if words:
                    yield "v2", words


def _read(path):
    with contextlib.suppress(OSError, ValueError):
        return path.read_text().split()
    return None


def memory_limit_mb():
    """The tightest memory limit over our cgroups (v1 or v2), in MB; None when none is set."""
    found = []
    for version, words in _settings("memory", ("memory.limit_in_bytes",), "memory.max"):
        value = words[0] if version == "v2" else (words[0] or [""])[0]
        if value.isdigit() and int(value) < _UNLIMITED:
            found.append(int(value))
    return min(found) / MiB if found else None


def cpu_limit():
    """CPUs this process may use: the tightest quota over our cgroups (v1 cpu.cfs_quota_us /
    cpu.cfs_period_us, v2 cpu.max "quota period"), never more than the CPUs it may be scheduled on."""
    cpus = float(len(os.sched_getaffinity(0)))
    for version, words in _settings("cpu", ("cpu.cfs_quota_us", "cpu.cfs_period_us"), "cpu.max"):
        quota, period = (words + [""])[:2] if version == "v2" else [(w or [""])[0] for w in words]
        if quota.isdigit() and period.isdigit() and int(quota) > 0:   # "-1" and "max": no quota
            cpus = min(cpus, int(quota) / int(period))
    return cpus


def threads_for(cpus, most):
    """Threads worth running on `cpus` CPUs: never more than the CPUs, at least one, at most `most`."""
    return max(1, min(int(most), int(cpus + 1e-9)))


def own_memory_mb(pid="self"):
    """A process's RssAnon in MB: what a memory cgroup charges for it, shared libraries aside."""
    with contextlib.suppress(OSError, ValueError, StopIteration):
        with open(f"/proc/{pid}/status") as f:
            line = next(line for line in f if line.startswith("RssAnon:"))
        return int(line.split()[1]) / 1024
    return 0.0
