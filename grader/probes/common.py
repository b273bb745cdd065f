"""Child-side helpers of every probe: guarded calls, student-facing tracebacks, descriptions of
returned values, the import check. Child only: nothing of the grader but this package, no mpconfig.
"""
import importlib
import inspect
import os
import re
import sys
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
    """Drop the grader's frames from a TracebackException and its causes, unless all are (a grader bug)."""
    seen = set() if seen is None else seen
    if te is None or id(te) in seen:
        return
    seen.add(id(te))
    kept = [f for f in te.stack if not _is_grader_frame(f.filename)]
    if kept:
        te.stack = traceback.StackSummary.from_list(kept)
    _strip(te.__cause__, seen)
    _strip(te.__context__, seen)


SUBMISSION_FILE = "submitted.py"
LIBRARIES = ("torch", "torchvision")     # their frames between the student's are folded to one line


def _library_dirs():
    """The folders of the libraries whose frames are folded (those imported by now)."""
    dirs = []
    for name in LIBRARIES:
        module = sys.modules.get(name)
        origin = getattr(module, "__file__", None)
        if origin:
            dirs.append((name, Path(origin).resolve().parent))
    return dirs


def _library_of(filename, dirs):
    try:
        path = Path(filename).resolve()
    except (OSError, ValueError):
        return None
    return next((name for name, folder in dirs if path.is_relative_to(folder)), None)


def _frame_blocks(te, dirs):
    """te's frames as blocks of lines, each a frame as traceback prints it or one line standing
    for a run of torch/torchvision frames; and the index of the deepest block in submitted.py."""
    blocks, deepest, run = [], None, []

    def flush():
        if run:
            names = "/".join(sorted({name for name, _ in run}))
            plural = "s" if len(run) > 1 else ""
            blocks.append([f"  ... {len(run)} frame{plural} inside {names} ..."])
            run.clear()
    last, repeats = None, 0
    for frame in te.stack:
        library = _library_of(frame.filename, dirs)
        if library:
            run.append((library, frame))
            last = None
            continue
        flush()
        text = "".join(traceback.StackSummary.from_list([frame]).format())
        block = text.rstrip("\n").splitlines()
        repeats, last = (repeats + 1 if block == last else 0), block
        if repeats >= 3:      # recursion: one line for the repeats, as traceback prints them
            if repeats == 3:
                blocks.append(["  [the frame above repeated more times]"])
            continue
        if Path(frame.filename).name == SUBMISSION_FILE:
            deepest = len(blocks)
        blocks.append(block)
    flush()
    return blocks, deepest


def _chain(te, seen=None):
    """[(lines before this exception's traceback, te)], outermost last, as traceback prints."""
    seen = set() if seen is None else seen
    if te is None or id(te) in seen:
        return []
    seen.add(id(te))
    if te.__cause__ is not None:
        return _chain(te.__cause__, seen) + [(["", "The above exception was the direct cause of the "
                                                    "following exception:", ""], te)]
    if te.__context__ is not None and not te.__suppress_context__:
        return _chain(te.__context__, seen) + [(["", "During handling of the above exception, "
                                                     "another exception occurred:", ""], te)]
    return [([], te)]


def _shorten(lines, keep):
    """At most keep lines of an exception's own text: its first line, "...", its last lines."""
    if len(lines) <= keep:
        return lines
    return lines[:1] + ["    ..."] + lines[len(lines) - max(keep - 2, 0):] if keep >= 2 else lines[:1]


def traceback_tail(exc, lines=None):
    """exc's traceback as the student reads it: no grader frames, torch/torchvision frames folded,
    paths relative, at most `lines` lines plus a hint for common data errors. It always keeps the
    deepest submitted.py frame and the exception's line, leaving out what comes before."""
    limit = lines or TRACEBACK_LINES
    te = traceback.TracebackException(type(exc), exc, exc.__traceback__)
    _strip(te)
    dirs = _library_dirs()
    chain = _chain(te)
    before = []
    for k, (lead, part) in enumerate(chain):
        before += lead
        blocks, deepest = _frame_blocks(part, dirs)
        head = ["Traceback (most recent call last):"] if part.stack else []
        own = "".join(part.format_exception_only()).rstrip("\n").splitlines()
        if k < len(chain) - 1:
            before += head + [line for block in blocks for line in block] + own
            continue
        # The last exception: its deepest submitted.py frame onwards must stay.
        if deepest is None:
            deepest = len(blocks)
        must_frames = [line for block in blocks[deepest:] for line in block]
        if deepest < len(blocks) and len(must_frames) + len(own) > limit:
            later = blocks[deepest + 1:]
            must_frames = blocks[deepest] + ([f"  ... {len(later)} more frames ..."] if later else [])
        own = _shorten(own, max(limit - len(must_frames), 1))
        must = must_frames + own
        # Before them, whole frames from the nearest back, as many as fit.
        room, kept = limit - len(must), []
        for block in reversed([[line] for line in before] + [head] + blocks[:deepest]):
            if len(block) > room:
                break
            kept[:0], room = block, room - len(block)
        text_lines = kept + must
    text = "\n".join(text_lines).replace(str(SCRATCH) + os.sep, "")
    hint = hint_for(exc)
    return text + (f"\nhint: {hint}" if hint else "")


_TRANSFORM_WANTS_TENSOR_OR_PIL = re.compile(
    r"(should be|expected) (a )?(PIL Image|Tensor Image|torch tensor|Tensor or PIL Image)"
    r"[^.]*\. Got <class 'numpy\.ndarray'>", re.I)


def _keys_passed(exc):
    """For a KeyError: which keys the dict arguments of the deepest submitted.py function on the
    traceback held (what the grader, or the student's own code, passed it), or None."""
    tb, frame = exc.__traceback__, None
    while tb is not None:
        if Path(tb.tb_frame.f_code.co_filename).name == SUBMISSION_FILE:
            frame = tb.tb_frame
        tb = tb.tb_next
    if frame is None:
        return None
    code = frame.f_code
    names = code.co_varnames[:code.co_argcount + code.co_kwonlyargcount]
    found = [f"{name} with the keys {', '.join(repr(k) for k in list(value)[:8])}"
             for name, value in ((n, frame.f_locals.get(n)) for n in names)
             if isinstance(value, dict) and len(value) <= 50]
    if not found or not exc.args:
        return None
    return (f"{code.co_name}() got {' and '.join(found)}; no key {exc.args[0]!r} (its docstring lists "
            "the keys the grader passes)")


def hint_for(exc):
    """One line of advice for the common data errors, or None."""
    text = str(exc)
    if isinstance(exc, KeyError):
        return _keys_passed(exc)
    if "pic should be 2/3 dimensional" in text:
        return ("transforms.ToTensor() takes one image, a (32, 32, 3) HWC uint8 array: a row of "
                "b'data' holds 3072 values, so reshape it in __getitem__ with "
                "row.reshape(3, 32, 32).transpose(1, 2, 0), and apply the transform to that one image")
    if "pic should be PIL Image or ndarray" in text:
        return ("transforms.ToTensor() was given something that is already a tensor: it takes the "
                "HWC uint8 numpy array (or a PIL image); convert the image to a tensor in one place only")
    if _TRANSFORM_WANTS_TENSOR_OR_PIL.search(text):
        return ("a transform got the HWC uint8 numpy array where it wants a tensor or a PIL image: "
                "in a Compose, put RandomHorizontalFlip, crops and Normalize after "
                "transforms.ToTensor() (or start with transforms.ToPILImage())")
    if re.search(r"expected (scalar type|target dtype to be) Long", text) or \
            "0D or 1D target tensor expected" in text:
        return ("the labels reach the loss as floats or as tensors of shape (1,): a label must be an "
                "int (0..7), so that a batch of labels is an int64 tensor of shape (N,); return "
                "int(label) from __getitem__")
    return None


def guard(fn, *args, **kwargs):
    """{"value": fn(...)} or {"error": traceback tail}, so one broken function hides nothing else."""
    try:
        return {"value": fn(*args, **kwargs)}
    except BaseException as exc:  # a student's sys.exit() must not end the whole probe
        return {"error": traceback_tail(exc)}


def limited(fn):
    """A part of the checks probe: part(args, limit) is fn(args), guarded and stopped after `limit` s."""
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
    """Import ``submitted`` and describe args["names"] (default: every public name): {"seconds",
    "names": {name: class/function/module/type name or "missing"}, "signatures", "bases"}."""
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
