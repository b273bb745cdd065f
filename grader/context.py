"""The grading context: what the parent knows before any child starts, and what the children said.

Trusted knowledge, loaded once per process before the first child runs (so nothing a child does can
change what a submission is compared with): the checkpoint, the hidden batch and labels, the reference,
every check's inputs and the reference's results, the run_model limit calibrated on this machine.

Per submission, a Context: its folder and probe results, each probe run at most once and its answer
checked against its schema. The import check runs first; when it fails, every later probe fails
with its message instead of running (a hanging import must not cost one timeout per probe).

    ctx = context.for_submission("path/to/folder")   # loads the knowledge first if needed
    suite = context.load_suites(ctx)                  # unittest.TestSuite, in Gradescope order

Each test gets its Context as self.ctx; Context(knowledge, folder, results={...}) grades probe
results in hand without any child.
"""
import contextlib
import ctypes
import functools
import gc
import hashlib
import importlib
import importlib.util
import io
import logging
import pkgutil
import statistics
import sys
import time
import unittest
from dataclasses import dataclass, field, replace
from pathlib import Path

import mpconfig as C

if str(C.ROOT) not in sys.path:  # the reference solution imports models.py from the repo root
    sys.path.insert(0, str(C.ROOT))

import torch  # noqa: E402

import models  # noqa: E402
from grader import schema  # noqa: E402
from grader.probes import fixtures  # noqa: E402
from grader.protocol import (API_NAMES, FUNCTIONS_PROBE, HIDDEN_SCRATCH_NAME,  # noqa: E402
                             IMPORT_PROBE, RUN_MODEL_PROBE, STUB_DEFS_ARG, TAMPERING)
from grader.sandbox import ProbeResult, run_probe  # noqa: E402
from grader.submission import stub_definitions  # noqa: E402
from grader.sandbox.limits import default_threads  # noqa: E402
from grader.suites.base import GradedCase  # noqa: E402

SUITES_DIR = Path(__file__).resolve().parent / "suites"


def _first_number(module):
    """The module's lowest Gradescope test number, as a sortable tuple."""
    numbers = [tuple(int(p) for p in fn.__number__.split("."))
               for case in vars(module).values()
               if isinstance(case, type) and issubclass(case, GradedCase)
               for fn in vars(case).values() if hasattr(fn, "__number__")]
    return min(numbers, default=(float("inf"),))


def _find_suites():
    """Every suite module of grader/suites/, in Gradescope order: a new one needs listing nowhere."""
    names = [m.name for m in pkgutil.iter_modules([str(SUITES_DIR)]) if m.name != "base"]
    return tuple(sorted((importlib.import_module(f"grader.suites.{name}") for name in names),
                        key=_first_number))


def suite_name(module):
    """The key of a suite's probe args and expected results: its module's own name."""
    return module.__name__.rsplit(".", 1)[-1]


SUITES = _find_suites()
# The import check's answer (grader/probes/common.py: import_check), read by the import gate below.
IMPORT_SCHEMA = schema.obj({"seconds": schema.NUM, "names": schema.obj(values=schema.STR),
                            "signatures": schema.obj(values=schema.STR),
                            "bases": schema.obj(values=schema.STRS)})


def _probe_schemas(suites):
    """{probe: its answer's schema}: the checks probe's from its suites' PART_SCHEMAS, else SCHEMA."""
    parts, schemas = {}, {IMPORT_PROBE: IMPORT_SCHEMA}
    for suite in suites:
        if suite.PROBE == FUNCTIONS_PROBE:
            parts.update(suite.PART_SCHEMAS)
        else:
            schemas[suite.PROBE] = suite.SCHEMA
    schemas[FUNCTIONS_PROBE] = schema.obj(parts)
    return schemas


SCHEMAS = _probe_schemas(SUITES)
_VALIDATORS = {name: schema.Validator(s) for name, s in SCHEMAS.items()}


@dataclass
class Knowledge:
    """Trusted facts and the reference's results; the same for every submission."""
    reference: object                 # reference/submitted.py, imported in-process
    checkpoint: dict                  # resnet18.pt's state dict
    hidden_rows: object               # uint8 (N, 3072)
    hidden_labels: object             # int64 (N,): never leave this process
    hidden_file: bytes                # the hidden images as a CIFAR batch, placeholder labels
    calibration_s: float              # this machine's time for the calibration workload
    run_model_limit_s: float          # run_model()'s time limit on this machine, deadline aside
    check_part_timeout_s: float = C.CHECK_PART_TIMEOUT_S   # each part of the checks probe
    probe_args: dict = field(default_factory=dict)       # probe name -> its args
    expected: dict = field(default_factory=dict)         # suite name -> the reference's results
    _public: dict = field(default_factory=dict, repr=False)

    def public(self, name):
        """(rows, labels) of a public batch file, read once."""
        if name not in self._public:
            self._public[name] = fixtures.read_batch(C.DATA_DIR / name)
        return self._public[name]


def import_reference(path=C.REFERENCE_SOLUTION):
    """The reference solution as a module of its own name (never "submitted")."""
    spec = importlib.util.spec_from_file_location("mp09_reference_solution", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def calibrate(repeats=C.CALIBRATION_REPEATS, images=C.CALIBRATION_IMAGES, threads=None):
    """Median seconds of a fixed ResNet-18 pass on the probes' threads: the speed the limits scale with."""
    net = models.resnet18().eval()
    x = torch.rand(images, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    times, before = [], torch.get_num_threads()
    torch.set_num_threads(default_threads() if threads is None else threads)
    try:
        with torch.no_grad():
            net(x[:8])  # warm-up: first-call allocations are not the machine's speed
            for _ in range(repeats):
                start = time.perf_counter()
                net(x)
                times.append(time.perf_counter() - start)
    finally:
        torch.set_num_threads(before)
    return statistics.median(times)


def speed_factor(calibration_s):
    """How much slower than the dev machine this one is, in [1, CHECK_SCALE_MAX]: the checks' limit factor."""
    return min(C.CHECK_SCALE_MAX, max(1.0, calibration_s / C.CALIBRATION_REFERENCE_S))


def run_model_limit(calibration_s):
    """The default limit scaled by this machine's speed relative to the dev machine, clamped."""
    scaled = C.RUN_MODEL_TIMEOUT_S * calibration_s / C.CALIBRATION_REFERENCE_S
    return float(min(C.RUN_MODEL_TIMEOUT_CAP_S, max(C.RUN_MODEL_TIMEOUT_FLOOR_S, scaled)))


def build_knowledge(prepared=None):
    """This process's knowledge: the reference's results from `prepared` if given, else computed here."""
    rows, labels = fixtures.read_batch(C.HIDDEN_DIR / C.HIDDEN_FILE)
    calibration_s = calibrate()
    k = Knowledge(reference=None if prepared else import_reference(),
                  checkpoint=models.load_checkpoint(C.CHECKPOINT),
                  hidden_rows=rows, hidden_labels=labels,
                  hidden_file=fixtures.cifar_batch_bytes(rows, [0] * len(labels), "evaluation batch"),
                  calibration_s=calibration_s, run_model_limit_s=run_model_limit(calibration_s),
                  check_part_timeout_s=C.CHECK_PART_TIMEOUT_S * speed_factor(calibration_s))
    if prepared is not None:
        k.probe_args, k.expected = prepared["probe_args"], prepared["expected"]
    else:
        _prepare(k)
    k.probe_args[FUNCTIONS_PROBE]["part_timeout"] = k.check_part_timeout_s   # this machine's
    return k


def _prepare(k):
    """Each suite's probe args and the reference's results on them, into `k`."""
    parts = {}    # the checks probe: suite -> {part: its args}, run in this order by the child
    k.probe_args = {FUNCTIONS_PROBE: {"part_timeout": k.check_part_timeout_s, "parts": parts}}
    for module in SUITES:
        name = suite_name(module)
        args, k.expected[name] = module.prepare(k)
        if module.PROBE == FUNCTIONS_PROBE:
            if set(args) != set(module.PART_SCHEMAS):
                raise RuntimeError(f"grader/suites/{name}.py: prepare() gives args for "
                                   f"{sorted(args)} but PART_SCHEMAS names {sorted(module.PART_SCHEMAS)}")
            parts[name] = args
        else:
            k.probe_args[module.PROBE] = args


# The reference's results, computed when the zip is built and shipped in it (package.py): a grade
# on Gradescope neither imports nor re-runs the reference (less memory, an earlier first probe).
# The fingerprint covers every file those results come from: a stale file is ignored, never trusted.
PREPARED_FILE = C.ROOT / C.PREPARED_KNOWLEDGE


def fingerprint():
    """SHA-256 over the files the reference's expected results depend on."""
    grader_dir = Path(__file__).resolve().parent
    paths = [C.ROOT / "mpconfig.py", C.ROOT / "models.py", C.REFERENCE_SOLUTION, C.CHECKPOINT,
             C.DATA_MANIFEST, Path(__file__).resolve(),
             *sorted(SUITES_DIR.glob("*.py")), *sorted((grader_dir / "probes").glob("*.py"))]
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def prepared_bytes():
    """The prepared knowledge file's content, computed here (the reference imported)."""
    k = build_knowledge()
    buffer = io.BytesIO()
    torch.save({"fingerprint": fingerprint(), "probe_args": k.probe_args, "expected": k.expected},
               buffer)
    return buffer.getvalue()


def read_prepared(path=PREPARED_FILE):
    """The prepared knowledge if `path` holds one made from these very files; else None (stale: logged)."""
    if not path.is_file():
        return None
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
        if data["fingerprint"] == fingerprint():
            return data
        why = "it was made from other files than these"
    except Exception as exc:  # unreadable: computed here instead, as in a checkout
        why = f"{type(exc).__name__}: {exc}"
    logging.getLogger(__name__).warning("grader: ignoring %s (%s); computing the reference's "
                                        "results here", path, why)
    return None


@dataclass
class Context:
    """One submission's grade: the knowledge, the folder, and its probe results so far."""
    knowledge: Knowledge
    submission: Path
    results: dict = field(default_factory=dict)     # probe name -> ProbeResult
    seconds: dict = field(default_factory=dict)     # probe name -> wall seconds in the parent
    budget: object = None           # a deadline.Budget (Gradescope's timeout), or None: no deadline
    run_model_given_s: float = None  # run_model's limit in this grade, once its probe has started

    @property
    def run_model_limit_s(self):
        """run_model()'s time limit in this grade: the machine's, cut to what the deadline left."""
        given = self.run_model_given_s
        return self.knowledge.run_model_limit_s if given is None else given

    def expected(self, suite):
        """What the reference gives on the checks of `suite` (a grader/suites module name)."""
        return self.knowledge.expected[suite]

    def probe(self, name):
        """The ProbeResult of one probe of this submission, run on first use."""
        if name not in self.results:
            gate = self._import_gate()
            self.results[name] = gate if gate is not None else self._run(name)
        return self.results[name]

    def _import_gate(self):
        """None when the submission imports; else a failed result carrying the reason."""
        if IMPORT_PROBE not in self.results:
            self.results[IMPORT_PROBE] = self._run(IMPORT_PROBE)
        result = self.results[IMPORT_PROBE]
        if result.ok:
            return None
        if result.error.startswith(NOT_RUN):       # the deadline, not the code: say that
            return result
        # One line per test: the traceback and the output are said once, in the summary.
        return replace(result, ok=False, data={}, output="",
                       error=f"submitted.py could not be imported ({last_line(result.error)}); "
                             "the details are in the summary at the top")

    def _allow(self, wanted, keep):
        """`wanted`, cut so the later stages keep `keep` s and results.json still beats the deadline."""
        return wanted if self.budget is None else self.budget.allow(wanted, keep)

    def _run(self, name):
        k = self.knowledge
        after_checks = C.RUN_MODEL_MIN_S + C.RUN_MODEL_EXTRA_S
        if name == IMPORT_PROBE:
            call = dict(args={"names": list(API_NAMES)},
                        timeout=self._allow(C.PROBE_IMPORT_TIMEOUT_S, C.CHECKS_MIN_S + after_checks))
        elif name == FUNCTIONS_PROBE:
            wanted = C.CHECK_PARTS * k.check_part_timeout_s + C.CHECKS_STARTUP_S
            call = dict(args=k.probe_args[name], timeout=self._allow(wanted, after_checks))
        elif name == RUN_MODEL_PROBE:
            timeout = self._allow(k.run_model_limit_s + C.RUN_MODEL_EXTRA_S, 0.0)
            self.run_model_given_s = max(0.0, timeout - C.RUN_MODEL_EXTRA_S)
            call = dict(args=dict(k.probe_args[name], hidden_file=HIDDEN_SCRATCH_NAME,
                                  time_limit=self.run_model_given_s),
                        files={HIDDEN_SCRATCH_NAME: k.hidden_file}, timeout=timeout)
        else:
            raise KeyError(f"unknown probe {name}")
        if call["timeout"] < C.STAGE_MIN_S or (name == RUN_MODEL_PROBE and self.run_model_given_s < C.STAGE_MIN_S):
            return ProbeResult(ok=False, error=(
                f"{NOT_RUN} before this part (the earlier parts of your "
                "code used it up, e.g. by hanging); make them finish and resubmit"))
        call["args"] = dict(call["args"], **{STUB_DEFS_ARG: stub_definitions()})
        start = time.perf_counter()
        result = run_probe(self.submission, name, **call)
        self.seconds[name] = time.perf_counter() - start
        return checked(name, result)


NOT_RUN = "not run: the grading time ran out"   # a stage the deadline left no time for


def last_line(text):
    """The last non-blank line of a message (an exception's own line), shortened."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    line = lines[-1] if lines else "no reason given"
    if line.startswith("hint:") and len(lines) > 1:
        line = lines[-2]
    return line if len(line) <= 200 else line[:197] + "..."


def import_failure_summary(result, output_chars=800):
    """The summary of a failed import check: why, said once, and the end of the code's output."""
    if result.error.startswith(NOT_RUN):
        return f"No function of your submitted.py could be tested: {result.error}"
    text = f"Your submitted.py could not be imported, so no function in it could be tested:\n{result.error}"
    output = (result.output or "").strip()
    if output:
        text += f"\nOutput of your code before it stopped (last part):\n{output[-output_chars:]}"
    return text


def schema_problem(probe, data):
    """None when `data` fits the schema of `probe`'s answer; else where and how it does not."""
    return schema.problem(_VALIDATORS[probe], data)


def checked(name, result):
    """The probe's result, or a failed one when its answer does not have the probe's shape."""
    why = schema_problem(name, result.data) if result.ok else None
    if why is None:
        return result
    return replace(result, ok=False, data={},
                   error=f"the grader could not make sense of what your code returned ({why}). "
                         + TAMPERING)


def _give_back_memory():
    """Give the heap freed by building the knowledge back (about 120 MB, for the probes' cap)."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


@functools.lru_cache(maxsize=None)
def load():
    """The trusted knowledge, built on the first call (a few seconds) and kept for the process."""
    knowledge = build_knowledge(read_prepared())
    _give_back_memory()
    return knowledge


def for_submission(submission_dir, knowledge=None, budget=None):
    """A fresh Context for this folder (default knowledge: load()'s), under `budget` (None: no deadline)."""
    path = Path(submission_dir).resolve()
    if not (path / "submitted.py").is_file():
        raise FileNotFoundError(f"{path}: no submitted.py in the submission folder")
    return Context(knowledge=knowledge if knowledge is not None else load(), submission=path,
                   budget=budget)


def load_suites(ctx=None, modules=SUITES):
    """The graded tests of these suites in Gradescope order, each with `ctx` (None: to list or fail)."""
    loader = unittest.TestLoader()
    suite = unittest.TestSuite()
    for module in modules:
        suite.addTests(loader.loadTestsFromModule(module))
    for case in iter_tests(suite):
        case.ctx = ctx
    return suite


def iter_tests(suite):
    """Every test of a (nested) unittest.TestSuite."""
    for item in suite:
        if isinstance(item, unittest.TestSuite):
            yield from iter_tests(item)
        else:
            yield item
