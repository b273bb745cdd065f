"""Child-side helpers shared by every probe: guarded calls, student-facing tracebacks, the
description of returned values, the import check.

Runs inside the child only (copied into its scratch folder as ``grader.probes.common``), so it
imports nothing of the grader but this package, and no mpconfig: the parent passes what it needs.
"""
import importlib
import inspect
import os
import time
import traceback
from pathlib import Path

import torch

from grader.probes.timelimit import time_limited

# The scratch copy of the grader package; frames from files under it are the grader's own.
GRADER_DIR = Path(__file__).resolve().parent.parent
SCRATCH = GRADER_DIR.parent
TRACEBACK_LINES = 15     # child.py sets it from mpconfig.PROBE_TRACEBACK_LINES (passed by the parent)
DATA_DIR = "cifar10_batches"     # the public data, in the child's scratch folder
CHECKPOINT = "resnet18.pt"


def _is_grader_frame(filename):
    try:
        return Path(filename).resolve().is_relative_to(GRADER_DIR)
    except (OSError, ValueError):
        return False


def _strip(te, seen=None):
    """Drop the grader's frames from a TracebackException and its causes, in place.

    A traceback made only of grader frames is a grader bug: keep it whole for the staff."""
    seen = set() if seen is None else seen
    if te is None or id(te) in seen:
        return
    seen.add(id(te))
    kept = [f for f in te.stack if not _is_grader_frame(f.filename)]
    if kept:
        te.stack = traceback.StackSummary.from_list(kept)
    _strip(te.__cause__, seen)
    _strip(te.__context__, seen)


def traceback_tail(exc, lines=None):
    """The last lines of exc's traceback, without grader frames, paths relative to the submission."""
    te = traceback.TracebackException(type(exc), exc, exc.__traceback__)
    _strip(te)
    text = "".join(te.format()).replace(str(SCRATCH) + os.sep, "")
    tail = text.rstrip("\n").splitlines()[-(lines or TRACEBACK_LINES):]
    return "\n".join(tail)


def guard(fn, *args, **kwargs):
    """{"value": fn(*args, **kwargs)} or {"error": traceback tail}, so one broken function
    does not hide the rest of a probe's answers. SystemExit/KeyboardInterrupt count as errors."""
    try:
        return {"value": fn(*args, **kwargs)}
    except BaseException as exc:  # a student's sys.exit() must not end the whole probe
        return {"error": traceback_tail(exc)}


def limited(fn):
    """A part of the checks probe (grader/probes/functions.py) run as a whole: part(args, limit)
    is fn(args), guarded and stopped after `limit` seconds."""
    def part(args, limit):
        return guard(time_limited, limit, fn, args)
    part.__name__ = part.__qualname__ = fn.__name__
    return part


def describe(obj):
    """Type, shape and dtype of whatever a student function returned, as plain data."""
    out = {"type": f"{type(obj).__module__}.{type(obj).__qualname__}"}
    if isinstance(obj, torch.Tensor):
        out.update(shape=list(obj.shape), dtype=str(obj.dtype))
    elif hasattr(obj, "shape") and hasattr(obj, "dtype"):
        out.update(shape=[int(s) for s in obj.shape], dtype=str(obj.dtype))
    return out


def _kind(obj):
    if inspect.isclass(obj):
        return "class"
    if inspect.isfunction(obj) or inspect.isbuiltin(obj):
        return "function"
    if inspect.ismodule(obj):
        return "module"
    return type(obj).__name__


def _signature(obj):
    try:
        return str(inspect.signature(obj))
    except (TypeError, ValueError):
        return ""


def import_check(args):
    """Import ``submitted`` and describe the names asked for (args["names"]; default: every
    public name). Returns {"seconds": import time, "names": {name: kind or "missing"},
    "signatures": {name: "(a, b=1)"}, "bases": {name: ["module.Class", ...]}}.
    Kinds: "class", "function", "module", or the value's type name."""
    start = time.perf_counter()
    submitted = importlib.import_module("submitted")
    seconds = time.perf_counter() - start
    wanted = args.get("names")
    if wanted is None:
        wanted = sorted(n for n in vars(submitted) if not n.startswith("_"))
    names, signatures, bases = {}, {}, {}
    for name in wanted:
        if not hasattr(submitted, name):
            names[name] = "missing"
            continue
        obj = getattr(submitted, name)
        names[name] = _kind(obj)
        if callable(obj):
            signatures[name] = _signature(obj)
        if inspect.isclass(obj):
            bases[name] = [f"{c.__module__}.{c.__qualname__}" for c in obj.__mro__[1:]]
    return {"seconds": seconds, "names": names, "signatures": signatures, "bases": bases}
