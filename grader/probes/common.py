"""Child-side helpers of every probe: guarded calls, student-facing tracebacks, descriptions of
returned values, the import check. Child only: nothing of the grader but this package, no mpconfig.
"""
import contextlib
import difflib
import importlib
import inspect
import os
import re
import site
import sys
import sysconfig
import time
import traceback
from pathlib import Path

import torch

from grader.probes.timelimit import time_limited

# The scratch copy of the grader package; frames from files under it are the grader's own.
GRADER_DIR = Path(__file__).resolve().parent.parent
SCRATCH = GRADER_DIR.parent
TRACEBACK_LINES = 15     # child.py sets it from mpconfig.PROBE_TRACEBACK_LINES (passed by the parent)
# The stub's functions and classes: {name: [its line in the stub, "def test(test_dataloader, model)",
# "function" or "class"]}; child.py sets it from the probe's args (grader/submission.py: stub_definitions).
STUB_DEFS = {}
DATA_DIR = "cifar10_batches"     # the public data, in the child's scratch folder
CHECKPOINT = "resnet18.pt"


def _is_grader_frame(filename):
    try:
        return Path(filename).resolve().is_relative_to(GRADER_DIR)
    except (OSError, ValueError):
        return False


def _is_import_machinery(filename):
    """Frames of Python's import system (above an error raised while importing submitted.py)."""
    return filename.startswith("<frozen ") or Path(filename).parent.name == "importlib"


def _strip(te, seen=None):
    """Drop the grader's frames and the import system's from a TracebackException and its causes.
    When every frame is the grader's, none is shown: the exception's own line says what happened."""
    seen = set() if seen is None else seen
    if te is None or id(te) in seen:
        return
    seen.add(id(te))
    te.stack = traceback.StackSummary.from_list(
        [f for f in te.stack if not (_is_grader_frame(f.filename) or _is_import_machinery(f.filename))])
    _strip(te.__cause__, seen)
    _strip(te.__context__, seen)


SUBMISSION_FILE = "submitted.py"
# Folders where Python and its packages are installed: their frames fold to one line named by the
# package ("... 3 frames inside torch ..."), and their paths never reach a student.
_INSTALL_PARTS = ("site-packages", "dist-packages")
_INSTALL_PATH = re.compile(r"""(?:[A-Za-z]:)?[^\s"'<>()=,]*?"""
                           r"""(?:[/\\](?:site-packages|dist-packages|lib[/\\]python3\.\d+))+[/\\]""")


def _install_dirs():
    """Python's own library folders and its package folders, longest first."""
    paths = sysconfig.get_paths()
    dirs = {paths.get(key) for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    with contextlib.suppress(AttributeError):
        dirs.update(site.getsitepackages())
    return sorted((Path(d).resolve() for d in dirs if d), key=lambda d: -len(str(d)))


# A grader file named in captured output (a library warning raised from a probe's line, say).
_GRADER_FILE = re.compile(r"""[^\s"'<>()=,]*\bgrader[/\\](?:child|(?:probes|sandbox|suites)[/\\]\w+)\.py(?::\d+)?""")


def scrub_paths(text):
    """`text` with every install path cut to what follows it ("torch/nn/modules/module.py") and
    any grader file named "the grader": a student never reads where Python or its packages are
    installed, nor the grader's files (in messages, warnings, captured output)."""
    text = _GRADER_FILE.sub("the grader", _INSTALL_PATH.sub("", text))
    for folder in _install_dirs():   # an install folder of another shape (a distribution's)
        text = text.replace(str(folder) + os.sep, "")
    return text


def _library_dirs():
    """The install folders whose frames are folded."""
    return _install_dirs()


def _library_of(filename, dirs):
    """The package a frame's file belongs to when it is installed (torch, numpy, json...), else None."""
    try:
        path = Path(filename).resolve()
    except (OSError, ValueError):
        return None
    parts = path.parts
    for marker in _INSTALL_PARTS:    # first: a checkout's .venv may lie inside the scratch's parent
        if marker in parts:
            rest = parts[parts.index(marker) + 1:]
            return Path(rest[0]).stem if rest else marker
    if path.is_relative_to(SCRATCH):
        return None
    for folder in dirs:
        if path.is_relative_to(folder):
            rest = path.relative_to(folder).parts
            return Path(rest[0]).stem if rest else "python"
    return None


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
    """exc's traceback as the student reads it: no grader or import-system frames, the frames of
    installed packages (torch, numpy, the standard library) folded, paths relative, at most `lines`
    lines plus a hint for common errors. It always keeps the deepest submitted.py frame and the
    exception's line, leaving out what comes before. A name the grader asked of submitted.py and
    did not find is said in one paragraph instead."""
    missing = missing_name(exc)
    if missing:
        return missing
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
    text = scrub_paths("\n".join(text_lines)).replace(str(SCRATCH) + os.sep, "")
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


def _stub_says(name):
    where = STUB_DEFS.get(name)
    return f"the stub defines it at line {where[0]}: {where[1]}" if where else ""


def _close_matches(name, defined):
    """Names `defined` has that look like `name` (test_model, Test), the stub's other names aside."""
    others = [n for n in defined if n not in STUB_DEFS and not n.startswith("__")]
    found = [n for n in others if n.lower() == name.lower()]
    found += [n for n in others if name.lower() in n.lower() and n not in found]
    found += [n for n in difflib.get_close_matches(name, others, n=3, cutoff=0.6) if n not in found]
    return found[:3]


# How missing_name's message starts: the parent says it as it is, not as an error the call raised.
MISSING_NAME_START = f"{SUBMISSION_FILE} defines no "


def missing_name(exc):
    """For an AttributeError the grader met asking submitted.py for a name it does not define:
    that, in the student's terms, a close match it does define, and where the stub has it; else None."""
    module = sys.modules.get("submitted")
    if not (isinstance(exc, AttributeError) and module is not None
            and getattr(exc, "obj", None) is module and getattr(exc, "name", None)):
        return None
    name = exc.name
    kind = STUB_DEFS[name][2] if name in STUB_DEFS else "function or class"
    text = f"{MISSING_NAME_START}`{name}` {kind}, and this test calls it."
    close = _close_matches(name, vars(module))
    if close:
        shown = " or ".join(f"`{n}`" for n in close)
        text += f" It defines {shown}: if that is the one, name it `{name}`."
    said = _stub_says(name)
    return text + (f" ({said})" if said else "")


def _signature_hint(exc):
    """A TypeError of the grader's call to a stub function: how the grader calls it."""
    match = re.match(r"(\w+)(?:\.__init__)?\(\) (takes|missing|got)", str(exc))
    if not match or match.group(1) not in STUB_DEFS:
        return None
    return (f"the grader calls {match.group(1)} as the stub defines it ({_stub_says(match.group(1))}): "
            "keep its parameters as they are")


_LINEAR_SHAPES = re.compile(r"mat1 and mat2 shapes cannot be multiplied \((\d+)x(\d+) and (\d+)x(\d+)\)")
_WRONG_DTYPE = re.compile(r"Input type \((unsigned char|double|long|int)\) and (bias|weight) type|"
                          r"mat1 and mat2 must have the same dtype, but got (Byte|Double|Long|Int)|"
                          r"expected scalar type \w+ but found \w+|"
                          r"could not infer output dtype\. Input dtype must be either a floating point")
_CHANNELS_LAST = re.compile(r"expected input\[\d+, (\d+), (\d+), 3\] to have 3 channels")


def _torch_hint(text):
    """Advice for the crashes real code of this MP hits in torch, or None."""
    if "Expected more than 1 value per channel when training" in text:
        return ("batch norm in training mode got a batch of one image: the backbone's last feature "
                "map is 1x1, so it needs at least 2 images per batch in training mode; evaluate in "
                "eval mode (model.eval() before the loop in test()), or use batches of more than one image")
    match = _LINEAR_SHAPES.search(text)
    if match and match.group(2) != match.group(3):
        got, wants = match.group(2), match.group(3)
        return (f"a Linear layer that takes {wants} features per image got {got}: the backbone gives "
                "512 features per image, shaped (N, 512, 1, 1) after its avgpool; flatten them with "
                "torch.flatten(x, 1) and give the head nn.Linear(512, ...)")
    if _WRONG_DTYPE.search(text):
        return ("the network got integer (uint8) or float64 images where it wants float32: convert "
                "each image with transforms.ToTensor() (uint8 HWC -> float32 CHW in [0, 1]), or "
                "with .float() / .to(torch.float32)")
    match = _CHANNELS_LAST.search(text)
    if match:
        return ("the network got images shaped (N, 32, 32, 3), channels last; it wants (N, 3, 32, 32): "
                "transforms.ToTensor() turns an HWC image into CHW (or use .permute(2, 0, 1) per image)")
    if ("Torch not compiled with CUDA enabled" in text or "Found no NVIDIA driver" in text
            or "No CUDA GPUs are available" in text
            or "Attempting to deserialize object on a CUDA device" in text):
        return ("the grader runs on a CPU without a GPU: remove .cuda() calls, or pick the device with "
                "torch.device('cuda' if torch.cuda.is_available() else 'cpu') and use .to(device); "
                "torch.load(..., map_location='cpu') for a file saved on a GPU")
    if "Trying to backward through the graph a second time" in text:
        return ("backward() ran twice through one graph: compute the outputs and the loss inside the "
                "loop, once per batch, and call loss.backward() once per loss; to add losses up for "
                "printing, add loss.item()")
    if "does not require grad and does not have a grad_fn" in text:
        return ("loss.backward() found no trainable parameter behind the loss: the forward pass ran "
                "under torch.no_grad(), or every parameter has requires_grad=False; keep the head "
                "trainable and compute the training loss outside torch.no_grad()")
    return None


def hint_for(exc):
    """One line of advice for the common errors, or None."""
    text = str(exc)
    if isinstance(exc, KeyError):
        return _keys_passed(exc)
    if isinstance(exc, TypeError):
        hint = _signature_hint(exc)
        if hint:
            return hint
    if isinstance(exc, NameError) and getattr(exc, "name", None) in STUB_DEFS:
        return (f"{SUBMISSION_FILE} uses `{exc.name}` but does not define it "
                f"({_stub_says(exc.name)})")
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
    return _torch_hint(text)


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
