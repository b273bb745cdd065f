"""The grading context: what the parent knows before any child starts, and what the children said.

Trusted knowledge (loaded once per process, reused for every submission a process grades): the
checkpoint, the hidden batch with its labels, the reference solution imported in-process, every
check's inputs and the reference's answers to them, and the run_model time limit calibrated on
this machine. It is all computed before the first child runs, so nothing a child does to files
can change what a submission is compared with.

Per submission: its folder and the probe results, each probe run at most once. The first probe
is always the import check; when it fails, every later probe "fails" with its message instead
of running (an import that hangs must not cost one timeout per probe).

    from grader import context
    context.set_submission("path/to/folder")     # loads the knowledge first if needed
    suite = context.load_suites()                # unittest.TestSuite, in Gradescope order
"""
import importlib.util
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
from grader.probes import fixtures  # noqa: E402

IMPORT_PROBE = "common:import_check"
FUNCTIONS_PROBE = "functions:probe"
RUN_MODEL_PROBE = "run_model:probe"
HIDDEN_SCRATCH_NAME = "grader_hidden_batch"   # the hidden images' file in the child's folder
API_NAMES = ("CIFAR10", "get_preprocess_transform", "build_dataset", "build_dataloader",
             "FinetuneNet", "build_model", "build_optimizer", "train", "test", "run_model")


def _suite_modules():
    # Imported here: the suites import this module for current().
    from grader.suites import dataset, loader, model, optimizer, training, testing, run_model
    return (dataset, loader, model, optimizer, training, testing, run_model)


@dataclass
class Knowledge:
    """Trusted facts and reference answers; the same for every submission."""
    reference: object                 # reference/submitted.py, imported in-process
    checkpoint: dict                  # resnet18.pt's state dict
    hidden_rows: object               # uint8 (N, 3072)
    hidden_labels: object             # int64 (N,): never leave this process
    hidden_file: bytes                # the hidden images as a CIFAR batch, placeholder labels
    calibration_s: float              # this machine's time for the calibration workload
    run_model_limit_s: float          # run_model()'s time limit on this machine
    probe_args: dict = field(default_factory=dict)       # probe name -> its args
    answers: dict = field(default_factory=dict)          # suite module name -> its answers
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


def calibrate(repeats=C.CALIBRATION_REPEATS, images=C.CALIBRATION_IMAGES):
    """Median seconds of a fixed ResNet-18 forward pass: how fast this machine runs the MP's work."""
    net = models.resnet18().eval()
    x = torch.rand(images, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    times = []
    with torch.no_grad():
        net(x[:8])  # warm-up: first-call allocations are not the machine's speed
        for _ in range(repeats):
            start = time.perf_counter()
            net(x)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def run_model_limit(calibration_s):
    """The default limit scaled by this machine's speed relative to the dev machine, clamped."""
    scaled = C.RUN_MODEL_TIMEOUT_S * calibration_s / C.CALIBRATION_REFERENCE_S
    return float(min(C.RUN_MODEL_TIMEOUT_CAP_S, max(C.RUN_MODEL_TIMEOUT_FLOOR_S, scaled)))


def build_knowledge():
    rows, labels = fixtures.read_batch(C.HIDDEN_DIR / C.HIDDEN_FILE)
    calibration_s = calibrate()
    k = Knowledge(reference=import_reference(), checkpoint=models.load_checkpoint(C.CHECKPOINT),
                  hidden_rows=rows, hidden_labels=labels,
                  hidden_file=fixtures.cifar_batch_bytes(rows, [0] * len(labels), "evaluation batch"),
                  calibration_s=calibration_s, run_model_limit_s=run_model_limit(calibration_s))
    k.probe_args = {FUNCTIONS_PROBE: {"part_timeout": C.CHECK_PART_TIMEOUT_S}, RUN_MODEL_PROBE: {}}
    for module in _suite_modules():
        # Each suite knows its own inputs and reference answers; it adds its part to a probe.
        args, answers = module.prepare(k)
        k.probe_args[module.PROBE].update(args)
        k.answers[module.__name__.rsplit(".", 1)[-1]] = answers
    return k


@dataclass
class Context:
    knowledge: Knowledge
    submission: Path
    results: dict = field(default_factory=dict)     # probe name -> ProbeResult
    seconds: dict = field(default_factory=dict)     # probe name -> wall seconds in the parent

    def answers(self, suite):
        return self.knowledge.answers[suite]

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
        return replace(result, ok=False, data={},
                       error=f"submitted.py could not be imported, so nothing in it could be "
                             f"tested:\n{result.error}")

    def _run(self, name):
        from grader.sandbox import run_probe
        k = self.knowledge
        if name == IMPORT_PROBE:
            call = dict(args={"names": list(API_NAMES)}, timeout=C.PROBE_IMPORT_TIMEOUT_S)
        elif name == FUNCTIONS_PROBE:
            call = dict(args=k.probe_args[name], timeout=C.CHECKS_TIMEOUT_S)
        elif name == RUN_MODEL_PROBE:
            call = dict(args=dict(k.probe_args[name], hidden_file=HIDDEN_SCRATCH_NAME,
                                  time_limit=k.run_model_limit_s),
                        files={HIDDEN_SCRATCH_NAME: k.hidden_file},
                        timeout=k.run_model_limit_s + C.RUN_MODEL_EXTRA_S)
        else:
            raise KeyError(f"unknown probe {name}")
        start = time.perf_counter()
        result = run_probe(self.submission, name, **call)
        self.seconds[name] = time.perf_counter() - start
        return checked(name, result)


def checked(name, result):
    """The probe's result, or a failed one when its answer does not have the probe's shape."""
    from grader import answers
    why = answers.problem(name, result.data) if result.ok else None
    if why is None:
        return result
    return replace(result, ok=False, data={},
                   error=f"the grader could not make sense of what your code returned ({why}). "
                         + answers.TAMPERING)


_knowledge = None
_context = None


def load():
    """The trusted knowledge, built on the first call (a few seconds) and kept for the process."""
    global _knowledge
    if _knowledge is None:
        _knowledge = build_knowledge()
    return _knowledge


def set_submission(submission_dir):
    """Grade this folder next: forgets the previous submission's probe results."""
    global _context
    path = Path(submission_dir).resolve()
    if not (path / "submitted.py").is_file():
        raise FileNotFoundError(f"{path}: no submitted.py in the submission folder")
    _context = Context(knowledge=load(), submission=path)
    return _context


def current():
    if _context is None:
        raise RuntimeError("grader.context.set_submission(folder) must be called before the suites run")
    return _context


def load_suites():
    """Every graded test, in the order of their Gradescope numbers."""
    loader = unittest.TestLoader()
    suite = unittest.TestSuite()
    for module in _suite_modules():
        suite.addTests(loader.loadTestsFromModule(module))
    return suite
