"""The Gradescope deadline: one setting, carried from `build-autograder --timeout-min` (default
mpconfig.GRADESCOPE_TIMEOUT_MIN) into the zip as deploy.json and read back when grading starts.

    deadline.config_text(10)        # deploy.json's content, written by grader/package.py
    deadline.deadline_seconds()     # 600.0 in a zip built with --timeout-min 10
"""
import json
import math
from pathlib import Path

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
    """The timeout the zip unpacked in `source` was built for; a checkout (no deploy.json) gets
    mpconfig's default. Raises DeployError naming the file when it is there but wrong."""
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
