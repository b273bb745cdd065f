"""The scratch box of one probe: laid out, the child run in it, its answer read back, removed.

Layout of one probe's box (a root-owned folder the child cannot rename or replace)::

    box/work/      the child's cwd: submission copy, models.py, resnet18.pt, cifar10_batches/
                   (hard links), grader/ (child.py, atomic_write.py, probes/*.py)
    box/ctl/       control.json and args.json (root-owned: read-only for the child)
    box/out/       where the child writes result.pt (read back through a descriptor opened first)
    box/home/, box/tmp/, box/output.log (stdout+stderr)
"""
import contextlib
import json
import logging
import os
import pwd
import shutil
import stat
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import torch

import mpconfig as C
from grader.sandbox import leftovers, limits, machine
from grader.sandbox.limits import MiB
from grader.sandbox.verdict import memory_message, verdict

log = logging.getLogger(__name__)

GRADER_DIR = Path(__file__).resolve().parents[1]
CHILD = GRADER_DIR / "child.py"
# The child's side of the grader besides the probes: child.py and the leaf modules it imports.
CHILD_FILES = (CHILD, GRADER_DIR / "atomic_write.py")
PROBES_DIR = GRADER_DIR / "probes"
MODELS_PY = C.ROOT / "models.py"
# Names in a submission folder that the canonical files (or the grader's) take instead.
RESERVED = frozenset({"grader", "models.py", C.CHECKPOINT.name, C.DATA_DIR.name, "__pycache__"})
BLOCK = 4096                           # every copied file costs at least this much of the budget


@dataclass
class ProbeResult:
    ok: bool            # the child finished and returned its data file
    data: dict = field(default_factory=dict)   # the probe's answer (plain data); {} when not ok
    error: str = ""     # "" when ok; else a plain-words, student-facing message
    output: str = ""    # the child's stdout+stderr, head and tail kept
    seconds: float = 0.0   # wall time of the child


def _link_or_copy(src, dst):
    try:
        os.link(src, dst)
    except OSError:  # another filesystem: a copy, owned by root, does as well
        shutil.copyfile(src, dst)
        os.chmod(dst, 0o644)


def _copy_submission(src_root, dst_root):
    """Copy regular files (no links, fifos, devices, bytecode) within budget; notes on what was left out."""
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
    (work / "grader" / "__init__.py").write_text('"""The child side of the grader (copied by grader/sandbox/box.py)."""\n')
    for path in CHILD_FILES:
        shutil.copyfile(path, work / "grader" / path.name)
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
    """(payload, None), (None, None) when absent, or (None, why): no links, no fifos, plain data only."""
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
              memory_mb=None, threads=None, files=None, probe_dirs=()):
    """Run ``grader/probes/<module>.py:<function>(args)`` on a copy of submission_dir in an isolated
    child (see grader/sandbox/__init__.py), with ``files`` ({name: bytes}) in its scratch folder and
    ``probe_dirs`` of extra probe modules (tests). Bad arguments raise; anything the student's
    code does ends up in the ProbeResult."""
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
    memory_mb = limits.probe_memory_mb() if memory_mb is None else memory_mb
    if not timeout > 0 or not memory_mb > 0:
        raise ValueError(f"run_probe: timeout ({timeout}) and memory_mb ({memory_mb}) must be positive")
    files = _check_files(files)
    threads = limits.default_threads() if threads is None else threads
    if not (isinstance(threads, int) and threads >= 1):
        raise ValueError(f"run_probe: threads ({threads!r}) must be a whole number >= 1")
    for needed in (C.CHECKPOINT, C.DATA_DIR, MODELS_PY):
        if not needed.exists():
            raise FileNotFoundError(f"run_probe: {needed} is missing (python3 dev.py setup builds the data)")
    machine.prepare_once()
    with machine.slot() as user:
        box = Path(tempfile.mkdtemp(prefix=f"{C.PROBE_USER}-"))
        try:
            box.chmod(0o711)
            notes = _fill_box(box, submission, modules, files, user)
            return _run(box, probe, args_text, timeout, memory_mb, threads, user, notes)
        finally:
            _remove(box)


def _run(box, probe, args_text, timeout, memory_mb, threads, user, notes):
    token = uuid.uuid4().hex
    work = box / "work"
    (box / "ctl" / "args.json").write_text(args_text)
    control = {
        "probe": probe, "scratch": str(work), "args_path": str(box / "ctl" / "args.json"),
        "result_path": str(box / "out" / "result.pt"), "memory_mb": memory_mb,
        "memory_message": memory_message(memory_mb),   # the child words it as the parent does
        **limits.child_limits(memory_mb, own_user=user is not None),
        "uid": user.uid if user else None, "gid": user.gid if user else None,
        "threads": threads, "traceback_lines": C.PROBE_TRACEBACK_LINES,
    }
    (box / "ctl" / "control.json").write_text(json.dumps(control))
    for path in (box / "ctl" / "args.json", box / "ctl" / "control.json"):
        path.chmod(0o644)
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(box / "home"), "TMPDIR": str(box / "tmp"), "LANG": "C.UTF-8",
        "USER": user.name if user else pwd.getpwuid(os.getuid()).pw_name,
        "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1", "MPLBACKEND": "Agg",
        **limits.thread_env(threads),
        leftovers.TOKEN_ENV: token,
    }
    command = [sys.executable, "-I", "-B", "-u", str(work / "grader" / "child.py"),
               str(box / "ctl" / "control.json")]
    isolated = machine.isolated_command(command, user)   # no network, and the user switch
    drop = {"user": user.uid, "group": user.gid, "extra_groups": []} if user and not isolated else {}
    out_fd = os.open(box / "out", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    cgroups = limits.make_cgroups(token, memory_mb, C.PROBE_MAX_PROCS) if user else []
    try:
        with open(box / "output.log", "wb") as log_file:
            started = time.monotonic()
            proc = subprocess.Popen(
                isolated or command, cwd=work, env=env, stdin=subprocess.PIPE, stdout=log_file, stderr=subprocess.STDOUT,
                start_new_session=True, close_fds=True, umask=0o077, **drop)
            timed_out = False
            with contextlib.suppress(OSError):  # the child died at start-up: its exit status tells
                for path in cgroups:  # before the go: no student code runs outside them
                    (path / "cgroup.procs").write_text(str(proc.pid))
                proc.stdin.write(b"go\n")
                proc.stdin.close()
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
            seconds = time.monotonic() - started
            leftovers.kill(proc, token, user, cgroups)
        oom = limits.oom_killed(cgroups)
        output = _read_output(box / "output.log")
        payload, problem = (None, None) if timed_out or proc.returncode else _read_result(out_fd)
    finally:
        os.close(out_fd)
        limits.remove_cgroups(cgroups)
    ok, data, error = verdict(probe, proc.returncode, timed_out, oom, output, payload, problem,
                              timeout, memory_mb)
    if notes:
        output = "".join(f"[grader] {note}\n" for note in notes) + output
    return ProbeResult(ok=ok, data=data, error=error, output=output, seconds=seconds)


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
