"""The Gradescope deadline: `build-autograder --timeout-min` carried into the zip as deploy.json.

    deadline.config_text(10)        # deploy.json's content, written by grader/package.py
    deadline.deadline_seconds()     # 600.0 in a zip built with --timeout-min 10
    budget = deadline.Budget.from_deploy()   # one grade's clock: budget.allow(wanted, keep=...)
"""
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

import mpconfig as C


class DeployError(ValueError):
    """A timeout Gradescope does not allow, or an unreadable deploy.json; the message says which."""


def check_timeout_min(value):
    """`value` as a float if Gradescope allows it as an autograder timeout (0 < t <= 40 min)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise DeployError(f"timeout {value!r} is not a number of minutes")
    if not 0 < value <= C.GRADESCOPE_TIMEOUT_MAX_MIN:
        raise DeployError(f"timeout {value:g} min is outside Gradescope's range "
                          f"(0, {C.GRADESCOPE_TIMEOUT_MAX_MIN}] minutes")
    return float(value)


def config_text(timeout_min):
    """deploy.json's content for a course that sets `timeout_min` on Gradescope."""
    return json.dumps({"timeout_min": check_timeout_min(timeout_min)}, indent=2) + "\n"


def read_timeout_min(source=C.ROOT):
    """The timeout of the zip unpacked in `source` (a checkout: the default); DeployError if unreadable."""
    path = Path(source) / C.DEPLOY_FILE
    if not path.is_file():
        return float(C.GRADESCOPE_TIMEOUT_MIN)
    try:
        value = json.loads(path.read_text())["timeout_min"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DeployError(f"{path}: no readable timeout_min ({type(exc).__name__}: {exc})") from exc
    try:
        return check_timeout_min(value)
    except DeployError as exc:
        raise DeployError(f"{path}: {exc}") from None


def deadline_seconds(source=C.ROOT):
    """Seconds from run_autograder's start until Gradescope kills it."""
    return read_timeout_min(source) * 60


# --- the budget of one grade: every stage's limit comes from what is left of the deadline ------
STARTED_ENV = "MP09_STARTED_AT"     # run_autograder's start (epoch seconds), set by run_autograder


def started_at():
    """When Gradescope's clock started: run_autograder's start from the environment, else this process's."""
    value = os.environ.get(STARTED_ENV, "")
    try:
        return float(value)
    except ValueError:
        return psutil.Process().create_time()


@dataclass(frozen=True)
class Budget:
    """One grade's time: results.json is written DEADLINE_RESERVE_S before `deadline` (epoch s)."""
    deadline: float

    @classmethod
    def from_deploy(cls, source=C.ROOT, started=None):
        """The budget of a grade under the zip's (or checkout's) Gradescope timeout."""
        return cls((started_at() if started is None else started) + deadline_seconds(source))

    def left(self):
        """Seconds the grade may still spend before it must write results.json."""
        return self.deadline - C.DEADLINE_RESERVE_S - time.time()

    def allow(self, wanted, keep=0.0):
        """Seconds for a stage wanting `wanted`, keeping `keep` (at most half what is left) for later ones."""
        left = self.left()
        return max(0.0, min(float(wanted), left - min(keep, left / 2)))


def run_model_share_s(timeout_min=C.GRADESCOPE_TIMEOUT_MIN, earlier_s=C.TYPICAL_EARLIER_STAGES_S):
    """run_model's time on Gradescope: the timeout less reserve, `earlier_s` and the evaluation."""
    return timeout_min * 60 - C.DEADLINE_RESERVE_S - earlier_s - C.RUN_MODEL_EXTRA_S
