"""What every suite shares: points from mpconfig, access to the probes, student-facing failures.

A suite module grader/suites/<part>.py is the parent side of one part of the MP:
- PROBE, the probe its checks ride on (grader.protocol);
- its answer's schema: PART_SCHEMAS {answer key: schema} for a part of the shared checks probe
  (keyed as PARTS in grader/probes/<part>.py, the child side), or SCHEMA for a probe of its own;
- prepare(knowledge) -> (probe args, the reference's expected results), run once per process;
- pure judge_* functions (probe data + expected results -> problems), testable without a child;
- one GradedCase subclass whose tests call the judges.
grader.context finds the suites itself and gives every test the submission's Context as self.ctx.
"""
import math
import unittest

from gradescope_utils.autograder_utils.decorators import (leaderboard, number, partial_credit,
                                                          visibility, weight)

import mpconfig as C
from grader.probes.common import MISSING_NAME_START
from grader.protocol import TAMPERING

MAX_PROBLEMS = 5          # listed per failed test; the rest are counted
OUTPUT_TAIL_CHARS = 1500  # of a failed probe's captured output, shown with its error


def graded(num, partial=False):
    """Points and visibility of test `num` from mpconfig.TESTS, and its Gradescope number."""
    points, vis = C.TESTS[num]

    def decorate(fn):
        fn = partial_credit(points)(fn) if partial else weight(points)(fn)
        return visibility(vis)(number(num)(fn))
    return decorate


def raised(what, error):
    """A call's error as the student reads it; a name submitted.py lacks is said as it is."""
    return error if error.startswith(MISSING_NAME_START) else f"{what} raised an error:\n{error}"


def leaderboard_column(column):
    def decorate(fn):
        return leaderboard(column, C.LEADERBOARD[column])(fn)
    return decorate


def count_problem(found, want, what):
    """The problem when a probe returns another number of items than asked: only tampering does that."""
    if found == want:
        return None
    return f"the grader asked for {want} {what} and got {found} back. {TAMPERING}"


def report(problems):
    """One message from a list of problems, at most MAX_PROBLEMS of them spelled out."""
    shown = problems[:MAX_PROBLEMS]
    more = len(problems) - len(shown)
    return "\n".join(["- " + p for p in shown] + ([f"(and {more} more)"] if more > 0 else []))


def fmt(x):
    """A number as a student reads it (no 17-digit floats)."""
    if isinstance(x, float):
        return f"{x:.6g}" if math.isfinite(x) else str(x)
    return str(x)


class GradedCase(unittest.TestCase):
    """Base of every suite's TestCase; load_suites(ctx) gives each test the submission's Context."""
    maxDiff = None
    ctx = None

    def setUp(self):
        # gradescope-utils keeps scores on the test function: cleared, so no grade inherits the last's.
        fn = getattr(type(self), self._testMethodName)
        for attr in ("__score__", "__leaderboard_value__"):
            if hasattr(fn, attr):
                setattr(fn, attr, None)

    def probe_data(self, probe):
        """The probe's data, or the test fails with why the grader could not run the code."""
        result = self.ctx.probe(probe)
        if not result.ok:
            output = (result.output or "").strip()
            if output:
                print("Output of your code before it stopped (last part):\n" + output[-OUTPUT_TAIL_CHARS:])
            self.fail(f"The grader could not run your code for this test: {result.error}")
        return result.data

    def part(self, probe, key, what):
        """A guarded part of a probe's answer, or the test fails with its error (`what`: whose code)."""
        return self.unwrap(self.probe_data(probe)[key], what)

    def unwrap(self, guarded, what):
        if "error" in guarded:
            self.fail(raised(what, guarded["error"]))
        return guarded["value"]

    def check(self, problems, passed_note):
        """Fail with the problems, or print what was verified."""
        if problems:
            self.fail(report(problems))
        print(passed_note)
