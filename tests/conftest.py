"""Run the visible tests against the submitted.py in the folder above tests/.

Usage, from the MP folder:  python -m pytest tests

A failing test prints your line (the line of submitted.py where an error was raised, or the
first line of the function that returned something unexpected), the message and a hint, and no
more. The run ends with a table of the graded tests as Gradescope numbers them, with their points.
Add --tb=long to see pytest's full traceback instead.
"""
import json
import pickle
import shutil
import sys
from pathlib import Path

import pytest

SUBMISSION_DIR = Path(__file__).resolve().parents[1]
TESTS_DIR = Path(__file__).resolve().parent
# Numbers, names and points of the graded tests, written from the course's configuration when
# this folder was made (the same table Gradescope's rows come from).
GRADED_TESTS = TESTS_DIR / "graded_tests.json"
STUDENT_FILES = ("submitted.py",)      # frames in these files are the student's own lines
MAX_ERROR_LINES = 6                    # of an exception's message
MAX_STUDENT_FRAMES = 4                 # the innermost ones: where the error was raised
MAX_CAPTURED_LINES = 8                 # of what a failing test printed (the last lines)
# "import submitted" and "from models import resnet18" find the files of the MP folder.
sys.path.insert(0, str(SUBMISSION_DIR))


GRADED_KEY = pytest.StashKey()   # this run's table: the graded tests and the results here


def load_graded_tests():
    try:
        return json.loads(GRADED_TESTS.read_text())
    except (OSError, ValueError) as exc:
        raise pytest.UsageError(f"{GRADED_TESTS} is missing or unreadable ({exc}); it comes with the "
                                "MP's tests/ folder: unzip the MP again and copy that file over") from exc


def pytest_configure(config):
    config.addinivalue_line("markers", "graded(number): the graded (Gradescope) test this test mirrors")
    config.stash[GRADED_KEY] = {"tests": load_graded_tests(), "results": {}, "mirrored": set()}
    if config.option.tbstyle == "auto":
        config.option.tbstyle = "short"    # and failures are shortened below
    if config.option.reportchars == "fE":  # pytest's default: the table below says it better
        config.option.reportchars = ""


@pytest.fixture(autouse=True, scope="session")
def in_submission_dir():
    """submitted.py opens "cifar10_batches/..." and "resnet18.pt" relative to its folder."""
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(SUBMISSION_DIR)
        yield SUBMISSION_DIR


@pytest.fixture(scope="session")
def submitted():
    try:
        import submitted as module
    except Exception as exc:  # a syntax error or bad import in submitted.py
        line = getattr(exc, "lineno", None) if isinstance(exc, SyntaxError) else None
        pytest.fail(f"could not import submitted.py from {SUBMISSION_DIR}"
                    + (f" (line {line})" if line else "") + f": {type(exc).__name__}: {exc}",
                    pytrace=False)
    return module


def read_batch(name):
    """A batch file of cifar10_batches/ as the dict stored in it (read independently of submitted.py)."""
    with open(SUBMISSION_DIR / "cifar10_batches" / name, "rb") as f:
        return pickle.load(f, encoding="bytes")


@pytest.fixture(scope="session")
def class_names():
    return [name.decode() for name in read_batch("batches.meta")[b"label_names"]]


@pytest.fixture(scope="session")
def test_batch():
    return read_batch("test_batch")


# --- short failures -----------------------------------------------------------------------
class ShortFailure:
    """A failure as the student needs it: the lines to look at, the message, the hint."""

    def __init__(self, lines, reprcrash, place=None):
        self.lines = lines
        self.reprcrash = reprcrash       # pytest's one-line summary and junit's message use it
        self.place = place               # "submitted.py:LINE" where an error was raised, if any

    def toterminal(self, tw):
        for line in self.lines:
            tw.line(line, red=line.startswith(("E ", "hint")), bold=line.startswith("E "))

    def __str__(self):
        return "\n".join(self.lines)


def _relative(path):
    """The path of a frame's file inside the MP folder, or None (a library's file)."""
    try:
        return Path(str(path)).resolve().relative_to(SUBMISSION_DIR).as_posix()
    except ValueError:
        return None


def _source(entry):
    try:
        return entry.statement.lines[0].strip()
    except Exception:  # no source for this frame (compiled or generated code)
        return ""


def short_failure(item, excinfo, reprcrash):
    """The test's line that called your code, every frame of submitted.py (the innermost
    MAX_STUDENT_FRAMES), the error, and the test's hint; frames of torch, numpy or the given
    models.py are counted, not shown."""
    tests, student, raised_in_library = [], [], False
    for entry in excinfo.traceback:
        if entry.frame.f_locals.get("__tracebackhide__"):
            continue
        where = _relative(entry.path)
        raised_in_library = where not in STUDENT_FILES and not (where or "").startswith("tests/")
        if raised_in_library:
            continue
        frame = (f"{where}:{entry.lineno + 1} in {entry.name}", _source(entry))
        (student if where in STUDENT_FILES else tests).append(frame)
    out = []
    if len(student) > MAX_STUDENT_FRAMES:
        out.append(f"({len(student) - MAX_STUDENT_FRAMES} outer calls in submitted.py not shown)")
    for text, source in tests[-1:] + student[-MAX_STUDENT_FRAMES:]:
        out += [text] + ([f"    {source}"] if source else [])
    if student and raised_in_library:
        out.append("    (raised inside a library called from the line above: that line is yours)")
    message = excinfo.exconly().splitlines()
    if len(message) > MAX_ERROR_LINES:
        message = message[:MAX_ERROR_LINES] + [f"... ({len(message) - MAX_ERROR_LINES} more lines)"]
    out += [line if line.startswith("hint:") else "E " + line for line in message]
    if not any(line.startswith("hint:") for line in message):
        doc = " ".join((getattr(getattr(item, "function", None), "__doc__", None) or "").split())
        if doc:
            out.append(f"hint: {doc}")
    place = student[-1][0].split(" in ")[0] if student else None
    return ShortFailure(out, reprcrash, place)


def _trim_sections(report):
    """Keep the last lines of what the test printed; a loop printing every batch is not news."""
    kept = []
    for title, text in report.sections:
        lines = text.splitlines()
        if len(lines) > MAX_CAPTURED_LINES:
            lines = [f"({len(lines) - MAX_CAPTURED_LINES} earlier lines not shown)"] + lines[-MAX_CAPTURED_LINES:]
        kept.append((title, "\n".join(lines)))
    report.sections = kept


def graded_number(item):
    marker = item.get_closest_marker("graded")
    return marker.args[0] if marker else None


def pytest_itemcollected(item):
    """Before -k or -x choose: which graded tests have a visible test at all."""
    number = graded_number(item)
    if number is not None:
        item.config.stash[GRADED_KEY]["mirrored"].add(number)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed:
        _trim_sections(report)
        crash = getattr(report.longrepr, "reprcrash", None)
        if (call.excinfo is not None and crash is not None and item.config.option.tbstyle == "short"
                and getattr(call.excinfo.value, "pytrace", True)):   # pytest.fail(pytrace=False): as is
            report.longrepr = short_failure(item, call.excinfo, crash)
    number = graded_number(item)
    results = item.config.stash[GRADED_KEY]["results"]
    if number is not None and (report.when == "call" or report.failed):
        # A graded test with several visible tests: its first failure is its row's reason.
        if report.failed and results.get(number, ("passed",))[0] != "FAILED":
            crash = getattr(report.longrepr, "reprcrash", None)
            text = (crash.message if crash else str(report.longrepr)).strip()
            text = text.splitlines()[0].removeprefix("AssertionError: ") if text else ""
            place = getattr(report.longrepr, "place", None)
            results[number] = ("FAILED", f"{place}: {text}" if place else text)
        elif number not in results:
            results[number] = (report.outcome, "")
    return report


def _fit(text, width):
    return text if len(text) <= width else text[:width - 3] + "..."


def pytest_terminal_summary(terminalreporter, config):
    """The graded tests as Gradescope numbers them, their points, and how your code did here."""
    state = config.stash.get(GRADED_KEY, None)
    if not state or not state["mirrored"]:
        return
    tw = terminalreporter
    width = max(80, min(shutil.get_terminal_size().columns, 120))
    indent = " " * 22
    tw.write_sep("=", "graded tests, numbered as on Gradescope")
    tw.write_line(f"{'test':<5}{'points':>6}  {'here':<9}name")
    total = at_stake = unchecked = 0.0
    for number, info in state["tests"].items():
        points = info["points"]
        total += points
        if number not in state["mirrored"]:
            outcome, reason = "-", ""
            unchecked += points
        else:
            outcome, reason = state["results"].get(number, ("not run", ""))
        tw.write_line(_fit(f"{number:<5}{points:>6g}  {outcome:<9}{info['name']}", width),
                      red=outcome == "FAILED", green=outcome == "passed")
        if outcome == "FAILED":
            at_stake += points
            tw.write_line(_fit(indent + reason, width), red=True)
    tw.write_line(f"failed here: {at_stake:g} of the {total:g} points.")
    if unchecked:
        tw.write_line(f"-: only the autograder checks these ({unchecked:g} points).")
