"""Grade one submission folder the way Gradescope does, and write results.json last.

    results = grade("path/to/submission", "results.json")   # the results.json content

Order: the trusted knowledge before any child starts; the suites under gradescope-utils'
JSONTestRunner; every process the grade started killed; only then results.json, validated. A
failure of the grader itself still yields a valid results.json that says "grader error, contact staff".
"""
import io
import resource
import sys
import time
import traceback
import unittest
from dataclasses import dataclass, field
from pathlib import Path

from gradescope_utils.autograder_utils.json_test_runner import JSONTestResult, JSONTestRunner

import mpconfig as C
from grader import container
from grader import results as R
from grader.processes import kill_started_after
from grader.protocol import IMPORT_PROBE
from grader.submission import SUBMISSION_FILE, diagnose


@dataclass
class GradeRun:
    """A grade run in this process: results.json, the grader's own error and where the time went."""
    results: dict
    grader_error: str = ""                            # "" when the grader itself worked
    preload_seconds: float = 0.0                      # the context's trusted knowledge
    test_seconds: dict = field(default_factory=dict)  # test id -> seconds (a probe's cost lands on its first test)


class _TimedResult(JSONTestResult):
    """Times each test, keeps skipped tests as failed (an unrun test earns nothing, yet must count in
    the maximum score), and flags a test that crashed instead of failing: a grader bug."""

    def startTest(self, test):
        self._started = time.perf_counter()
        super().startTest(test)

    def stopTest(self, test):
        super().stopTest(test)
        if isinstance(test, unittest.TestCase):
            self.timings[test.id()] = time.perf_counter() - self._started

    def addError(self, test, err):
        if not isinstance(test, unittest.TestCase):
            # setUpClass/module fixture failure: its tests never run and would vanish.
            self.fatal.append("".join(traceback.format_exception(*err)))
            return
        self.crashed.append((test.id(), "".join(traceback.format_exception(*err))))
        super().addError(test, err)

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self.processResult(test, (unittest.SkipTest, unittest.SkipTest(reason), None))

    def buildResult(self, test, err=None):
        result = super().buildResult(test, err)
        if self.crashed and self.crashed[-1][0] == test.id():
            exc = err[1]
            result["output"] = (f"{R.GRADER_ERROR}: this test crashed inside the grader "
                                f"({type(exc).__name__}: {exc}); it is not a problem with your "
                                "code, and its score is not final.\n")
        return result


class _Runner(JSONTestRunner):
    resultclass = _TimedResult

    def _makeResult(self):
        result = super()._makeResult()
        result.timings, result.crashed, result.fatal = {}, [], []
        self.last_result = result
        return result


def _number(value):
    """numpy/torch scalars -> Python numbers, so the JSON is standard."""
    return value.item() if hasattr(value, "item") and not isinstance(value, (int, float)) else value


def _finish_tests(tests):
    for t in tests:
        for key in ("score", "max_score"):
            if key in t:
                t[key] = _number(t[key])
        t.setdefault("output", "")
        t.setdefault("visibility", "visible")
        t.setdefault("max_score", 0.0)  # an unweighted test: worth nothing, but listed
        t.setdefault("score", 0.0)
    tests.sort(key=lambda t: tuple(int(p) if p.isdigit() else p
                                   for p in str(t.get("number", "")).split(".")))
    return tests


def _summary(results, note="", crashed=()):
    """The top-level message: the total, then the one thing most worth reading."""
    tests = results["tests"]
    passed = sum(t["status"] == "passed" for t in tests)
    total_max = sum(t["max_score"] for t in tests)
    lines = [f"Score: {results['score']:g} / {total_max:g}. "
             f"{passed} of {len(tests)} tests passed."]
    if note:
        lines.append(note)
    if crashed:
        lines.append(f"{R.GRADER_ERROR}: {len(crashed)} test(s) crashed inside the grader; "
                     "their scores are not final.")
    return "\n".join(lines)


def _not_run_results(suite, per_test):
    """Every test fails with the one line `per_test`, built without running anything."""
    from grader import context
    builder = _TimedResult(io.StringIO(), True, 1, [], [], "Test Failed: ")
    builder.crashed, builder.buffer = [], False
    err = (AssertionError, AssertionError(per_test), None)
    tests = [dict(builder.buildResult(t, err), score=0.0) for t in context.iter_tests(suite)
             if not builder.getLeaderboardData(t)[0]]
    return {"tests": tests, "leaderboard": []}


def _missing_file_results(suite, submission_dir):
    """No submitted.py: every test fails with that reason."""
    found = sorted(p.name for p in Path(submission_dir).iterdir()) if Path(submission_dir).is_dir() else []
    reason = (f"No file named {SUBMISSION_FILE} was found in your submission (found: "
              f"{', '.join(found[:20]) or 'nothing'}). Upload your code as {SUBMISSION_FILE}.")
    return _not_run_results(suite, reason), reason


def _scrub(results):
    """No install path in what the student reads (a library's warning in the output, say)."""
    from grader.probes.common import scrub_paths
    results["output"] = scrub_paths(results["output"])
    for test in results["tests"]:
        test["output"] = scrub_paths(test["output"])


class ContainerTooSmall(RuntimeError):
    """The container has less memory than the grader needs: an instructor's setting to change."""


def check_container():
    """Say what the grader runs in (stdout: staff only); ContainerTooSmall below the supported minimum."""
    from grader.sandbox.limits import default_threads   # loads torch: not at CLI start
    memory, cpus = container.memory_limit_mb(), container.cpu_limit()
    print(f"grader: container {cpus:g} CPU, memory limit "
          f"{'none' if memory is None else f'{memory:.0f} MB'}; probes get "
          f"{default_threads()} thread(s)", file=sys.stderr, flush=True)
    if memory is not None and memory < C.CONTAINER_MIN_MB * 0.98:
        raise ContainerTooSmall(
            f"this container has {memory:.0f} MB of memory, and the grader needs at least "
            f"{C.CONTAINER_MIN_MB} MB: on Gradescope, choose the 1.0 CPU / 1.5 GB size or larger "
            "in the assignment's autograder settings, then regrade")


def run(submission_dir, results_path=None, budget=None):
    """Grade `submission_dir` under `budget`, writing results.json to `results_path` last; a GradeRun."""
    start_wall = time.time()
    start = time.perf_counter()
    outcome = GradeRun(results={})
    crashed = []
    try:
        # Imported here: it loads torch (--help need not wait), and failing to import is a grader failure.
        from grader import context
        check_container()
        t0 = time.perf_counter()
        context.load()                      # trusted knowledge, before any child starts
        outcome.preload_seconds = time.perf_counter() - t0
        from grader.sandbox.limits import probe_memory_mb
        print(f"grader: ready in {outcome.preload_seconds:.1f} s; each probe's memory cap "
              f"{probe_memory_mb()} MB", file=sys.stderr, flush=True)
        submission_dir = Path(submission_dir)
        note = ""
        if not (submission_dir / SUBMISSION_FILE).is_file():
            data, note = _missing_file_results(context.load_suites(), submission_dir)
        elif (problem := diagnose(submission_dir)) is not None:   # no child: nothing of it can run
            data, note = _not_run_results(context.load_suites(), problem.per_test), problem.summary
        else:
            ctx = context.for_submission(submission_dir, budget=budget)
            runner = _Runner(stream=io.StringIO(), buffer=True, stdout_visibility="hidden")
            runner.run(context.load_suites(ctx))
            result = runner.last_result
            if result.fatal:
                raise RuntimeError("a suite's class set-up failed:\n" + "\n".join(result.fatal))
            crashed = result.crashed
            outcome.test_seconds = dict(result.timings)
            data = runner.json_data
            probe = getattr(ctx, "results", {}).get(IMPORT_PROBE)
            if probe is not None and not probe.ok:
                note = context.import_failure_summary(probe)
        results = {
            "tests": _finish_tests(data["tests"]),
            "leaderboard": [{k: _number(v) for k, v in e.items() if v is not None}
                            for e in data.get("leaderboard", []) if e.get("value") is not None],
            "stdout_visibility": "hidden",
        }
        results["score"] = round(sum(t["score"] for t in results["tests"]), 6)
        results["output"] = _summary(results, note, crashed)
        _scrub(results)
        if crashed:
            outcome.grader_error = "\n".join(tb for _, tb in crashed)
    except Exception:  # the grader's own failure: still a valid results.json
        outcome.grader_error = traceback.format_exc()
        results = R.grader_error_results(outcome.grader_error)
    finally:
        # Last before results.json: nothing a child started may outlive the grade and write later.
        kill_started_after(start_wall - 1)
    results["execution_time"] = round(time.perf_counter() - start, 2)
    if not results.get("leaderboard"):
        results.pop("leaderboard", None)
    found = R.problems(results)
    if found:
        outcome.grader_error = "the grader produced an invalid results.json:\n" + "\n".join(found)
        results = R.grader_error_results(outcome.grader_error, results["execution_time"])
    if outcome.grader_error:
        print(f"grader error:\n{outcome.grader_error}", file=sys.stderr)
    outcome.results = results
    if results_path is not None:
        R.write_atomic(results_path, results)
    return outcome


def grade(submission_dir, results_path=None):
    """The results.json content for `submission_dir`, also written to `results_path` if given."""
    return run(submission_dir, results_path).results


def peak_memory_mb():
    """(this process's peak RSS, the largest child's peak RSS) in MB, from getrusage (KB on Linux)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, kids
