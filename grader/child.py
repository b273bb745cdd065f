"""The probe runner inside the child process: limits itself, then runs one probe function.

Started by grader/sandbox/box.py as ``python -I -B -u <scratch>/grader/child.py <control.json>`` in
the scratch folder, already as the probe user when the grader is root. Before any student code it
waits for the parent's go (sent once it sits in its cgroups), sets rlimits and no_new_privs,
verifies the privilege drop cannot be undone, and imports torch before the submission folder is
on sys.path (no student file can stand in for it). It writes its answer with torch.save through
grader/atomic_write.py and leaves by os._exit, so student atexit handlers and stray threads cannot
hold it up. Standard library only until then.
"""
import contextlib
import ctypes
import importlib
import json
import os
import resource
import sys


def _limit(ctl):
    for name, value in (("RLIMIT_AS", ctl["address_space_bytes"]),
                        ("RLIMIT_FSIZE", ctl["max_file_bytes"]),
                        ("RLIMIT_NPROC", ctl["max_procs"]),
                        ("RLIMIT_CORE", 0)):
        if value is not None:
            # soft == hard: an unprivileged process can lower a hard limit but never raise it
            resource.setrlimit(getattr(resource, name), (value, value))
    with contextlib.suppress(OSError, AttributeError):  # setuid binaries (su, sudo...) lose their power
        ctypes.CDLL(None, use_errno=True).prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS


def _check_dropped(uid, gid):
    """Refuse to run student code unless root's privileges are gone for good."""
    problems = []
    if os.getresuid() != (uid, uid, uid) or os.getresgid() != (gid, gid, gid):
        problems.append(f"ids {os.getresuid()} {os.getresgid()}")
    if os.getgroups():
        problems.append(f"supplementary groups {os.getgroups()}")
    with open("/proc/self/status") as f:
        cap = next((line.split()[1] for line in f if line.startswith("CapEff:")), "0")
    if int(cap, 16):
        problems.append(f"capabilities {cap}")
    with contextlib.suppress(PermissionError):
        os.setuid(0)
        problems.append("setuid(0) succeeded")
    if problems:
        raise SystemExit(f"grader error: privileges not dropped: {', '.join(problems)}")


def _plain(x, torch, path="data", depth=0):
    """x as plain data (what torch.load(weights_only=True) reads back), or a TypeError naming where not."""
    if depth > 64:
        raise TypeError(f"{path}: nested too deeply")
    t = type(x)
    if x is None or t in (bool, int, float, str, bytes):
        return x
    if isinstance(x, torch.Tensor):
        y = x.detach().cpu().as_subclass(torch.Tensor)
        return y.clone() if y.layout == torch.strided else y.to_dense()
    if t.__module__ == "numpy" and hasattr(x, "dtype"):  # numpy scalars/arrays: convert, not refuse
        import numpy as np
        return torch.from_numpy(np.array(x)) if t is np.ndarray else x.item()
    if isinstance(x, dict):  # OrderedDict (state_dict()) and friends become plain dicts
        out = {}
        for k, v in x.items():
            if type(k) not in (str, int, float, bool) and k is not None:
                raise TypeError(f"{path}: key {k!r} of type {type(k).__name__} is not plain")
            out[k] = _plain(v, torch, f"{path}[{k!r}]", depth + 1)
        return out
    if isinstance(x, (list, tuple)):
        kind = tuple if isinstance(x, tuple) else list
        return kind(_plain(v, torch, f"{path}[{i}]", depth + 1) for i, v in enumerate(x))
    raise TypeError(f"{path} is a {t.__module__}.{t.__qualname__}, not plain data "
                    "(dict, list, tuple, str, bytes, int, float, bool, None or tensor)")


def _describe(exc, common, memory_message):
    """A plain-words, student-facing account of an exception out of the probe."""
    tail = common.traceback_tail(exc)
    if isinstance(exc, SystemExit):
        return (f"your code called sys.exit({exc.code!r}) (or exit()/quit()) while the grader was "
                f"running it; remove that call from submitted.py\n{tail}")
    if isinstance(exc, KeyboardInterrupt):
        return f"your code raised KeyboardInterrupt\n{tail}"
    text = str(exc)
    if isinstance(exc, MemoryError) or (isinstance(exc, RuntimeError) and (
            "can't allocate memory" in text or "not enough memory" in text)):
        return f"{memory_message}\n{tail}"
    return tail


def main():
    if sys.stdin.buffer.readline().strip() != b"go":  # the parent died or gave up before the start
        os._exit(3)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)  # input() in student code gets EOF at once instead of hanging
    with open(sys.argv[1]) as f:
        ctl = json.load(f)
    _limit(ctl)
    if ctl["uid"] is not None:
        _check_dropped(ctl["uid"], ctl["gid"])
    os.umask(0o077)

    import torch  # before the submission folder is on sys.path
    torch.set_num_threads(ctl["threads"])
    sys.path.insert(0, ctl["scratch"])
    from grader.atomic_write import open_atomic
    from grader.probes import common
    common.TRACEBACK_LINES = ctl["traceback_lines"]

    module, function = ctl["probe"].split(":")
    try:
        probe = getattr(importlib.import_module(f"grader.probes.{module}"), function)
        with open(ctl["args_path"]) as f:
            args = json.load(f)
        common.STUB_DEFS = args.pop("stub_definitions", None) or {}   # protocol.STUB_DEFS_ARG
        data = probe(args)
        if not isinstance(data, dict):
            raise TypeError(f"grader error: probe {ctl['probe']} returned a "
                            f"{type(data).__name__}, not a dict")
        payload = {"ok": True, "data": _plain(data, torch)}
    except BaseException as exc:  # SystemExit and KeyboardInterrupt from student code included
        payload = {"ok": False, "error": _describe(exc, common, ctl["memory_message"])}
    try:
        with open_atomic(ctl["result_path"], "wb", perms=None) as f:
            torch.save(payload, f)
    except BaseException as exc:
        with open_atomic(ctl["result_path"], "wb", perms=None) as f:
            torch.save({"ok": False, "error": f"grader error: could not save the probe's answer: {exc}"}, f)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(BaseException):
            stream.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
