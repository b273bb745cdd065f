"""Run student code in isolated child processes ("probes") that hand back plain data.

``run_probe(submission_dir, "module:function", args)`` copies the submission into a fresh
scratch folder, adds the canonical models.py, resnet18.pt and public data, and the child side
of the grader (child.py and grader/probes/, nothing else), then starts ``grader/child.py``
there: in its own session, as a dedicated unprivileged user when the grader is root, inside
memory and pids cgroups where cgroup v1 is writable, under hard rlimits (address space, file
size, processes), with a minimal environment and a wall-clock limit. Afterwards every process
the probe left behind is killed (process group, cgroups, the probe user's uid or, when not
root, the per-probe environment token), the answer is read with
``torch.load(weights_only=True)`` and the scratch folder is removed.

Layout of one probe's box (a root-owned folder the child cannot rename or replace)::

    box/work/      the scratch folder, the child's cwd: submission copy, models.py, resnet18.pt,
                   cifar10_batches/ (hard links), grader/child.py + grader/probes/*.py
    box/ctl/       control.json and args.json (root-owned: read-only for the child)
    box/out/       where the child writes result.pt (read back through a descriptor opened first)
    box/home/, box/tmp/, box/output.log (stdout+stderr)

``python -m grader.sandbox prepare`` readies a machine (root only; Gradescope's setup.sh calls
it): creates the probe users, makes the interpreter reachable for them, and closes the
grader's folder to them. ``python -m grader.sandbox startup`` measures a probe's start-up cost.
"""
import argparse
import contextlib
import fcntl
import json
import logging
import os
import pwd
import shutil
import signal
import stat
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import torch

import mpconfig as C

log = logging.getLogger(__name__)

GRADER_DIR = Path(__file__).resolve().parent
CHILD = GRADER_DIR / "child.py"
PROBES_DIR = GRADER_DIR / "probes"
MODELS_PY = C.ROOT / "models.py"
TOKEN_ENV = "MP09_PROBE_TOKEN"
CGROUP_ROOT = Path("/sys/fs/cgroup")   # v1 controllers below it (tests point it elsewhere)
# Names in a submission folder that the canonical files (or the grader's) take instead.
RESERVED = frozenset({"grader", "models.py", C.CHECKPOINT.name, C.DATA_DIR.name, "__pycache__"})
MiB = 1 << 20
BLOCK = 4096                           # every copied file costs at least this much of the budget
SIGNAL_HINTS = {
    signal.SIGXFSZ: f"it wrote a file larger than the {C.PROBE_MAX_FILE_MB} MB limit",
    signal.SIGSEGV: "a crash in native code",
    signal.SIGBUS: "a crash in native code",
    signal.SIGFPE: "an arithmetic fault in native code",
}
_KILL_ALL = "import os, signal\ntry:\n os.kill(-1, signal.SIGKILL)\nexcept ProcessLookupError:\n pass"


@dataclass
class ProbeResult:
    ok: bool            # the child finished and returned its data file
    data: dict = field(default_factory=dict)   # the probe's answer (plain data); {} when not ok
    error: str = ""     # "" when ok; else a plain-words, student-facing message
    output: str = ""    # the child's stdout+stderr, head and tail kept
    seconds: float = 0.0   # wall time of the child


@dataclass(frozen=True)
class ProbeUser:
    name: str
    uid: int
    gid: int


def _is_root():
    return os.geteuid() == 0


# --- preparing a machine (root) -----------------------------------------------------------------
def _slot_user_name(slot):
    return C.PROBE_USER if slot == 0 else f"{C.PROBE_USER}{slot}"


def _probe_user(slot, changes=None):
    """The dedicated user of a slot, created on demand (no login, no home)."""
    name = _slot_user_name(slot)
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        shell = "/usr/sbin/nologin" if os.path.exists("/usr/sbin/nologin") else "/bin/false"
        done = subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
                               "--shell", shell, "--user-group", name],
                              capture_output=True, text=True)
        try:  # a concurrent grader may have created it first: that is fine
            entry = pwd.getpwnam(name)
        except KeyError:
            raise RuntimeError(f"could not create the probe user {name!r} with useradd: "
                               f"{done.stderr.strip() or done.returncode}") from None
        if changes is not None:
            changes.append(f"created user {name} (uid {entry.pw_uid})")
    if entry.pw_uid == 0 or entry.pw_gid == 0:
        raise RuntimeError(f"probe user {name!r} has uid/gid 0: it must be a dedicated unprivileged user")
    return ProbeUser(name, entry.pw_uid, entry.pw_gid)


def _interpreter_paths():
    paths = {Path(sys.executable).resolve().parent, Path(sys.prefix), Path(sys.base_prefix),
             Path(sys.exec_prefix), Path(sys.base_exec_prefix)}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        with contextlib.suppress(KeyError):
            paths.add(Path(sysconfig.get_path(key)))
    return {p.resolve() for p in paths} | paths


def _make_reachable():
    """o+x (search, not list) on every folder above the interpreter, its prefixes and site-packages:
    e.g. pyenv under /root (mode 0700) would otherwise keep the probe user from starting python."""
    changes = []
    for path in _interpreter_paths():
        for folder in (path, *path.parents):
            st = folder.stat()
            if stat.S_ISDIR(st.st_mode) and not st.st_mode & stat.S_IXOTH:
                folder.chmod(stat.S_IMODE(st.st_mode) | stat.S_IXOTH)
                changes.append(f"made {folder} searchable by other users (o+x) so probes can run python")
    return changes


def _protect_grader_files():
    """o-rwx on every entry of the grader's folder except the interpreter's and the checkpoint
    (hard-linked into each scratch folder, so its inode must stay readable): the probe user
    then cannot read the grader, the reference, hidden data or anything added later."""
    changes = []
    keep = {C.CHECKPOINT.resolve()}
    for entry in C.ROOT.iterdir():
        st = entry.lstat()
        if stat.S_ISLNK(st.st_mode) or entry.resolve() in keep or not st.st_mode & 0o007:
            continue
        if any(p.is_relative_to(entry.resolve()) for p in _interpreter_paths()):
            continue
        entry.chmod(stat.S_IMODE(st.st_mode) & ~0o007)
        changes.append(f"closed {entry} to other users (o-rwx)")
    return changes


def prepare():
    """Make this machine ready to run probes as root; returns the changes made (logged).
    Idempotent and cheap when nothing needs changing. Not root: nothing to do."""
    if not _is_root():
        return []
    changes = []
    users = [_probe_user(slot, changes) for slot in range(C.PROBE_SLOTS)]
    changes += _make_reachable()
    changes += _protect_grader_files()
    public = sorted(C.DATA_DIR.iterdir()) if C.DATA_DIR.is_dir() else []
    for path in (C.CHECKPOINT, *public):  # public, hard-linked into scratch: must stay readable
        st = path.lstat()
        if stat.S_ISREG(st.st_mode) and st.st_mode & 0o004 == 0:
            path.chmod(stat.S_IMODE(st.st_mode) | 0o004)
            changes.append(f"made public file {path} readable (o+r)")
    for change in changes:
        log.warning("sandbox prepare: %s", change)
    find_torch = "import importlib.util as u; assert u.find_spec('torch') and u.find_spec('torchvision')"
    check = subprocess.run([sys.executable, "-I", "-c", find_torch], user=users[0].uid,
                           group=users[0].gid, extra_groups=[], cwd="/", capture_output=True, text=True)
    if check.returncode:
        raise RuntimeError(f"the probe user {users[0].name} cannot run {sys.executable} and find torch: "
                           f"{check.stderr.strip()[-2000:]}")
    return changes


_prepared = False


def _prepare_once():
    global _prepared
    if _prepared:
        if _is_root():  # again: entries added since (e.g. dist/ with the autograder zip) get closed too
            for change in _protect_grader_files():
                log.warning("sandbox prepare: %s", change)
        return
    if not _is_root():
        log.warning("sandbox: the grader is not running as root, so probes run as %s without a "
                    "user of their own: student code could read the grader's files and hidden "
                    "data. Grade as root (as Gradescope does) for real isolation.",
                    pwd.getpwuid(os.getuid()).pw_name)
    else:
        prepare()
    _prepared = True


# --- slots: one probe user per concurrent probe, so killing by uid never hits a sibling ---------
@contextlib.contextmanager
def _slot():
    if not _is_root():
        yield None
        return
    locks = Path(tempfile.gettempdir()) / f"{C.PROBE_USER}-slots"
    with contextlib.suppress(FileExistsError):
        locks.mkdir(mode=0o700)
    st = locks.lstat()
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != 0 or st.st_mode & 0o077:
        raise RuntimeError(f"{locks} must be a folder private to root; remove it and grade again")
    while True:
        for slot in range(C.PROBE_SLOTS):
            fd = os.open(locks / f"slot{slot}", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            try:
                user = _probe_user(slot)
                _kill_leftovers(None, None, user, [])  # of a grader that crashed mid-probe
                yield user
            finally:
                os.close(fd)
            return
        time.sleep(0.1)


# --- cgroups (v1): a real memory cap, a pids cap and a complete list of the probe's processes ---
_cgroup_warned = False


def _own_cgroup(controller):
    base = CGROUP_ROOT / controller
    if not (base / "cgroup.procs").is_file():
        return None
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            if controller in controllers.split(","):
                nested = base / path.lstrip("/")
                return nested if nested.is_dir() else base
    return base


def _make_cgroups(token, memory_mb, max_procs):
    global _cgroup_warned
    made = []
    wanted = (("memory", (("memory.limit_in_bytes", memory_mb * MiB, True),
                          ("memory.memsw.limit_in_bytes", memory_mb * MiB, False))),
              ("pids", (("pids.max", max_procs, True),)))
    for controller, settings in wanted:
        parent = _own_cgroup(controller)
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


def _cgroup_pids(cgroups):
    pids = set()
    for path in cgroups:
        with contextlib.suppress(OSError, ValueError):
            pids.update(int(p) for p in (path / "cgroup.procs").read_text().split())
    return pids


def _oom_killed(cgroups):
    for path in cgroups:
        with contextlib.suppress(OSError, ValueError):
            fields = dict(line.split() for line in (path / "memory.oom_control").read_text().splitlines())
            if "oom_kill" in fields:
                return int(fields["oom_kill"]) > 0
            return int((path / "memory.failcnt").read_text()) > 0
    return False


def _remove_cgroups(cgroups):
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


# --- killing everything a probe left behind -----------------------------------------------------
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


def _kill_leftovers(proc, token, user, cgroups):
    if proc is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + 30
    while True:
        pids = _cgroup_pids(cgroups) | _leftover_pids(token, user)
        if not pids:
            return
        if user is not None:
            _kill_as(user)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        if time.monotonic() > deadline:
            log.error("sandbox: processes %s of a probe survive SIGKILL", sorted(pids))
            return
        time.sleep(0.02)


# --- the scratch box ----------------------------------------------------------------------------
def _link_or_copy(src, dst):
    try:
        os.link(src, dst)
    except OSError:  # another filesystem: a copy, owned by root, does as well
        shutil.copyfile(src, dst)
        os.chmod(dst, 0o644)


def _copy_submission(src_root, dst_root):
    """Copy regular files (no symlinks, fifos, devices, bytecode) within the size budget.
    Returns notes on what was left out."""
    notes, budget = [], C.PROBE_MAX_COPY_MB * MiB
    for folder, dirs, files in os.walk(src_root):  # followlinks=False: linked folders stay out
        rel = Path(folder).relative_to(src_root)
        dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not Path(folder, d).is_symlink()
                         and not (rel == Path(".") and d in RESERVED))
        for d in dirs:
            (dst_root / rel / d).mkdir()
        for name in sorted(files):
            if rel == Path(".") and name in RESERVED or name.endswith(".pyc"):
                continue
            src = Path(folder, name)
            st = src.lstat()
            if not stat.S_ISREG(st.st_mode):
                notes.append(f"not copied: {rel / name} (not a regular file)")
                continue
            if st.st_size > C.PROBE_MAX_FILE_MB * MiB:
                notes.append(f"not copied: {rel / name} (larger than {C.PROBE_MAX_FILE_MB} MB)")
                continue
            budget -= max(st.st_size, BLOCK)
            if budget < 0:
                notes.append(f"not copied: {rel / name} and the rest (the folder is over "
                             f"{C.PROBE_MAX_COPY_MB} MB)")
                return notes
            shutil.copyfile(src, dst_root / rel / name, follow_symlinks=False)
    return notes


def _chown_tree(path, user):
    os.lchown(path, user.uid, user.gid)
    for folder, dirs, files in os.walk(path):
        for name in dirs + files:
            os.lchown(os.path.join(folder, name), user.uid, user.gid)


def _probe_modules(probe_dirs):
    """{module name: path} of the grader's probes plus the extra folders' (tests)."""
    modules = {}
    for folder in (PROBES_DIR, *map(Path, probe_dirs)):
        for path in sorted(folder.glob("*.py")):
            if path.stem in modules and folder != PROBES_DIR:
                raise ValueError(f"run_probe: probe module {path.stem!r} of {folder} clashes with "
                                 f"{modules[path.stem]}")
            modules[path.stem] = path
    return modules


def _fill_box(box, submission, modules, files, user):
    """Lay out the box (see the module docstring); returns notes for the output."""
    work, out, ctl, home, tmp = (box / n for n in ("work", "out", "ctl", "home", "tmp"))
    for folder in (work, out, home, tmp):
        folder.mkdir(mode=0o700)
    ctl.mkdir(mode=0o755)
    notes = _copy_submission(submission, work)
    for name, content in files.items():
        (work / name).write_bytes(content)
    if user is not None:
        for folder in (work, out, home, tmp):
            _chown_tree(folder, user)
    # Canonical and grader files: root-owned, so the child cannot change what it was given.
    shutil.copyfile(MODELS_PY, work / "models.py")
    _link_or_copy(C.CHECKPOINT, work / C.CHECKPOINT.name)
    (work / C.DATA_DIR.name).mkdir(mode=0o755)
    for path in sorted(C.DATA_DIR.iterdir()):
        if path.is_file() and not path.is_symlink():
            _link_or_copy(path, work / C.DATA_DIR.name / path.name)
    (work / "grader" / "probes").mkdir(parents=True)
    (work / "grader" / "__init__.py").write_text('"""The child side of the grader (copied by grader/sandbox.py)."""\n')
    shutil.copyfile(CHILD, work / "grader" / "child.py")
    for name, path in modules.items():
        shutil.copyfile(path, work / "grader" / "probes" / f"{name}.py")
    for path in (work / "models.py", work / C.DATA_DIR.name, work / "grader", *(work / "grader").rglob("*")):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return notes


def _remove(box):
    def retry(func, path, _):
        with contextlib.suppress(OSError):  # not root: the student may have chmod-ed a folder 0
            os.chmod(os.path.dirname(path), 0o700)
            if os.path.isdir(path) and not os.path.islink(path):
                os.chmod(path, 0o700)
            func(path)
    shutil.rmtree(box, onerror=retry)
    if box.exists():
        log.warning("sandbox: could not remove %s", box)


# --- reading back ------------------------------------------------------------------------------
def _read_output(path):
    keep = C.PROBE_OUTPUT_KEEP_BYTES
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size <= 2 * keep:
            return f.read().decode("utf-8", "replace")
        head = f.read(keep)
        f.seek(size - keep)
        tail = f.read()
    return (head.decode("utf-8", "replace") + f"\n[... {size - 2 * keep} bytes cut ...]\n"
            + tail.decode("utf-8", "replace"))


def _read_result(out_fd):
    """(payload, None), (None, None) when absent, or (None, reason). Never follows a link,
    never blocks on a fifo, never unpickles anything but plain data."""
    try:
        fd = os.open("result.pt", os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=out_fd)
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, f"its answer file could not be opened ({exc.strerror})"
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            return None, "its answer file is not a regular file"
        if st.st_size > C.PROBE_MAX_RESULT_MB * MiB:
            return None, f"its answer file is larger than {C.PROBE_MAX_RESULT_MB} MB"
        try:
            payload = torch.load(f, map_location="cpu", weights_only=True)
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            return None, f"the grader refused its answer file: not plain data ({first})"
    if not isinstance(payload, dict) or not isinstance(payload.get("ok"), bool):
        return None, "its answer file is not a probe answer"
    if payload["ok"] and not isinstance(payload.get("data"), dict):
        return None, "its answer holds no data dict"
    if not payload["ok"] and not isinstance(payload.get("error"), str):
        return None, "its answer holds no error message"
    return payload, None


def _signal_name(number):
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _verdict(probe, proc, timed_out, oom, output, payload, problem, timeout, memory_mb):
    """(ok, data, error) from how the child ended and what it left."""
    if timed_out:
        return False, {}, (f"timed out after {timeout:g} s: your code took longer than the time "
                           f"limit ({timeout:g} s) in {probe}")
    if payload is not None and payload["ok"]:
        return True, payload["data"], ""
    memory_words = ("std::bad_alloc", "Cannot allocate memory", "can't allocate memory")
    if oom or (proc.returncode < 0 and any(w in output for w in memory_words)):
        detail = payload["error"] if payload is not None else ""
        if detail.startswith("ran out of memory"):
            return False, {}, detail
        return False, {}, f"ran out of memory (limit {memory_mb} MB)" + (f"\n{detail}" if detail else "")
    if proc.returncode < 0:
        name = _signal_name(-proc.returncode)
        hint = SIGNAL_HINTS.get(-proc.returncode)
        return False, {}, f"killed by signal {name}" + (f" ({hint})" if hint else "")
    if problem:
        return False, {}, f"the grader could not use what your code's process returned: {problem}"
    if payload is None:
        return False, {}, (f"exited with code {proc.returncode} before returning (os._exit / sys.exit?): "
                           "the grader got no answer; do not call sys.exit, os._exit or quit in submitted.py")
    return False, {}, payload["error"]


# --- the entry point ---------------------------------------------------------------------------
def _check_files(files):
    files = dict(files or {})
    for name, content in files.items():
        if (not isinstance(name, str) or not name or name in (".", "..") or "/" in name
                or "\0" in name or name in RESERVED):
            raise ValueError(f"run_probe: files key {name!r} is not a plain file name "
                             f"(no '/', not one of {sorted(RESERVED)})")
        if not isinstance(content, (bytes, bytearray)):
            raise TypeError(f"run_probe: files[{name!r}] must be bytes, not {type(content).__name__}")
    return files


def run_probe(submission_dir, probe, args=None, *, timeout=C.PROBE_TIMEOUT_S,
              memory_mb=C.PROBE_MEMORY_MB, files=None, probe_dirs=()):
    """Run ``grader/probes/<module>.py:<function>(args)`` on a copy of submission_dir in an
    isolated child; see the module docstring. ``files`` ({name: bytes}) are written into the
    scratch folder first; ``probe_dirs`` adds folders of probe modules (tests). Bad arguments
    raise; anything the student's code does ends up in the ProbeResult."""
    submission = Path(submission_dir)
    if not submission.is_dir():
        raise FileNotFoundError(f"run_probe: submission folder {submission} does not exist")
    module, _, function = probe.partition(":")
    modules = _probe_modules(probe_dirs)
    if not (module.isidentifier() and function.isidentifier()):
        raise ValueError(f"run_probe: probe {probe!r} is not 'module:function'")
    if module not in modules:
        raise ValueError(f"run_probe: no probe module {module!r} (have {sorted(modules)})")
    try:
        args_text = json.dumps({} if args is None else args)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"run_probe: args of {probe} are not JSON-able: {exc}") from None
    if not timeout > 0 or not memory_mb > 0:
        raise ValueError(f"run_probe: timeout ({timeout}) and memory_mb ({memory_mb}) must be positive")
    files = _check_files(files)
    for needed in (C.CHECKPOINT, C.DATA_DIR, MODELS_PY):
        if not needed.exists():
            raise FileNotFoundError(f"run_probe: {needed} is missing (python3 dev.py setup builds the data)")
    _prepare_once()
    with _slot() as user:
        box = Path(tempfile.mkdtemp(prefix=f"{C.PROBE_USER}-"))
        try:
            box.chmod(0o711)
            notes = _fill_box(box, submission, modules, files, user)
            return _run(box, probe, args_text, timeout, memory_mb, user, notes)
        finally:
            _remove(box)


def _run(box, probe, args_text, timeout, memory_mb, user, notes):
    token = uuid.uuid4().hex
    work = box / "work"
    (box / "ctl" / "args.json").write_text(args_text)
    max_procs = C.PROBE_MAX_PROCS if user is not None else _own_task_count() + C.PROBE_MAX_PROCS
    control = {
        "probe": probe, "scratch": str(work), "args_path": str(box / "ctl" / "args.json"),
        "result_path": str(box / "out" / "result.pt"), "memory_mb": memory_mb,
        "address_space_bytes": (memory_mb + C.PROBE_ADDRESS_SPACE_EXTRA_MB) * MiB,
        "max_file_bytes": C.PROBE_MAX_FILE_MB * MiB, "max_procs": max_procs,
        "uid": user.uid if user else None, "gid": user.gid if user else None,
        "threads": C.PROBE_THREADS, "traceback_lines": C.PROBE_TRACEBACK_LINES,
    }
    (box / "ctl" / "control.json").write_text(json.dumps(control))
    for path in (box / "ctl" / "args.json", box / "ctl" / "control.json"):
        path.chmod(0o644)
    threads = str(C.PROBE_THREADS)
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(box / "home"), "TMPDIR": str(box / "tmp"), "LANG": "C.UTF-8",
        "USER": user.name if user else pwd.getpwuid(os.getuid()).pw_name,
        "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1", "MPLBACKEND": "Agg",
        "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads,
        TOKEN_ENV: token,
    }
    drop = {"user": user.uid, "group": user.gid, "extra_groups": []} if user else {}
    out_fd = os.open(box / "out", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    cgroups = _make_cgroups(token, memory_mb, C.PROBE_MAX_PROCS) if user else []
    try:
        with open(box / "output.log", "wb") as log_file:
            started = time.monotonic()
            proc = subprocess.Popen(
                [sys.executable, "-I", "-B", "-u", str(work / "grader" / "child.py"),
                 str(box / "ctl" / "control.json")],
                cwd=work, env=env, stdin=subprocess.PIPE, stdout=log_file, stderr=subprocess.STDOUT,
                start_new_session=True, close_fds=True, umask=0o077, **drop)
            timed_out = False
            try:
                for path in cgroups:  # before the go: no student code runs outside them
                    (path / "cgroup.procs").write_text(str(proc.pid))
                proc.stdin.write(b"go\n")
                proc.stdin.close()
            except OSError:  # the child died at start-up; its exit status tells
                pass
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
            seconds = time.monotonic() - started
            _kill_leftovers(proc, token, user, cgroups)
        oom = _oom_killed(cgroups)
        output = _read_output(box / "output.log")
        payload, problem = (None, None) if timed_out or proc.returncode else _read_result(out_fd)
    finally:
        os.close(out_fd)
        _remove_cgroups(cgroups)
    ok, data, error = _verdict(probe, proc, timed_out, oom, output, payload, problem, timeout, memory_mb)
    if notes:
        output = "".join(f"[grader] {note}\n" for note in notes) + output
    return ProbeResult(ok=ok, data=data, error=error, output=output, seconds=seconds)


def _own_task_count():
    """Threads of our user now: RLIMIT_NPROC counts them all when the probe shares our uid."""
    me, count = os.getuid(), 0
    for proc in psutil.process_iter(["uids", "num_threads"]):
        if proc.info["uids"] and proc.info["uids"].real == me:
            count += proc.info["num_threads"] or 0
    return count


# --- command line ------------------------------------------------------------------------------
def startup_seconds(submission_dir, repeats=3):
    """Median wall time of the import check (python + torch + import submitted) on a submission."""
    times = []
    for _ in range(repeats):
        result = run_probe(submission_dir, "common:import_check", {"names": []},
                           timeout=C.PROBE_IMPORT_TIMEOUT_S)
        if not result.ok:
            raise RuntimeError(f"import check failed: {result.error}")
        times.append(result.seconds)
    return statistics.median(times)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m grader.sandbox", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("prepare", help="(root) create the probe users, make python reachable for them, "
                                   "close the grader's folder to them")
    startup = sub.add_parser("startup", help="median start-up seconds of a probe")
    startup.add_argument("--submission", default=str(C.REFERENCE_SOLUTION.parent))
    startup.add_argument("--repeats", type=int, default=3)
    opts = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if opts.command == "prepare":
        if not _is_root():
            print("not root: nothing to prepare (probes run as this user, with weaker isolation)")
            return 0
        changes = prepare()
        print(f"sandbox ready: {C.PROBE_SLOTS} probe users, {len(changes)} change(s) made")
        return 0
    print(f"probe start-up (python + torch + import submitted), median of {opts.repeats}: "
          f"{startup_seconds(opts.submission, opts.repeats):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
