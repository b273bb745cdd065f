"""results.json: its schema check, its atomic write, the grader-error fallback and the score table.

The schema (results_schema.json) is Gradescope's made stricter; what JSON Schema cannot state (score
<= max_score, total = sum, finite numbers, unique test numbers) is checked here: problems() judges.
"""
import functools
import json
import math
from pathlib import Path

import jsonschema

from grader.atomic_write import write_text

SCHEMA_PATH = Path(__file__).resolve().parent / "results_schema.json"
# Scores are sums of float partial credits: allow rounding noise, nothing more.
SCORE_TOLERANCE = 1e-6
GRADER_ERROR = "Grader error, contact course staff"
# How Gradescope renders each string: unset, output is sanitised HTML (a traceback's `<module>`
# vanishes, its indentation collapses) and md bolds `__init__`; "text" shows each string as written.
FORMATS = {"output_format": "text", "test_output_format": "text", "test_name_format": "text"}


class ResultsError(ValueError):
    """A results dict that Gradescope would reject or misread; the message lists every problem."""


@functools.lru_cache(maxsize=1)
def _validator():
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _where(error):
    return "results" + "".join(f"[{p!r}]" for p in error.absolute_path)


def _non_finite(obj, where="results"):
    """Paths of NaN/inf numbers: json.dumps would write them as invalid JSON."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return [where]
    if isinstance(obj, dict):
        return [p for k, v in obj.items() for p in _non_finite(v, f"{where}[{k!r}]")]
    if isinstance(obj, list):
        return [p for i, v in enumerate(obj) for p in _non_finite(v, f"{where}[{i}]")]
    return []


def problems(results):
    """Every reason `results` is not a valid results.json (empty list when it is)."""
    if not isinstance(results, dict):
        return [f"results is a {type(results).__name__}, not a dict"]
    found = [f"{_where(e)}: {e.message}" for e in
             sorted(_validator().iter_errors(results), key=lambda e: list(e.absolute_path))]
    found += [f"{p}: not a finite number" for p in _non_finite(results)]
    if found:  # the cross-field rules below assume the shapes the schema guarantees
        return found
    numbers = {}
    for i, test in enumerate(results["tests"]):
        if test["score"] > test["max_score"] + SCORE_TOLERANCE:
            found.append(f"results['tests'][{i}] ({test['name']!r}): score {test['score']} "
                         f"exceeds max_score {test['max_score']}")
        if test["status"] == "passed" and test["score"] < test["max_score"] - SCORE_TOLERANCE:
            found.append(f"results['tests'][{i}] ({test['name']!r}): status passed but "
                         f"score {test['score']} < max_score {test['max_score']}")
        if test["number"] in numbers:
            found.append(f"results['tests'][{i}] ({test['name']!r}): number {test['number']!r} "
                         f"already used by {numbers[test['number']]!r}")
        numbers.setdefault(test["number"], test["name"])
    total = sum(t["score"] for t in results["tests"])
    if abs(results["score"] - total) > SCORE_TOLERANCE * max(1, len(results["tests"])):
        found.append(f"results['score'] is {results['score']}, but the tests' scores sum to {total}")
    return found


def validate(results):
    """Raise ResultsError naming every problem, or return None when `results` is valid."""
    found = problems(results)
    if found:
        raise ResultsError("invalid results.json:\n  " + "\n  ".join(found))


def with_formats(results):
    """`results` with FORMATS where it sets none: every results.json (via dumps()) says how to render."""
    return {**FORMATS, **results}


def dumps(results):
    # allow_nan=False: NaN is not JSON, and Gradescope would reject the whole file.
    return json.dumps(with_formats(results), indent=2, allow_nan=False) + "\n"


def write_atomic(path, results):
    """Validate, then write `results` to `path` atomically (Gradescope never reads a part)."""
    validate(results)
    text = dumps(results)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_text(path, text)


def grader_error_results(detail, execution_time=0.0):
    """A valid results.json for when the grader broke: zero points and a message that it is not
    the student's fault; `detail` (a traceback) goes to the staff-only stdout."""
    return {
        **FORMATS,
        "score": 0.0,
        "execution_time": round(float(execution_time), 2),
        "output": (f"{GRADER_ERROR}: the autograder itself failed while grading this submission "
                   "(this is not a problem with your code). Your score of 0 is not final; "
                   "please tell the course staff."),
        "stdout_visibility": "hidden",
        "tests": [],
        "extra_data": {"grader_error": str(detail)[-4000:]},
    }


def is_grader_error(results):
    """The whole grade or any one test crashed inside the grader."""
    outputs = [results.get("output", "")] + [t.get("output", "") for t in results.get("tests", [])]
    return any(GRADER_ERROR in (o or "") for o in outputs)


def _fmt(x):
    return f"{x:g}" if isinstance(x, (int, float)) else str(x)


def short_name(test):
    """The name without a leading copy of the test's number (some names repeat it)."""
    name, num = str(test.get("name", "")), str(test.get("number", ""))
    return name[len(num):].lstrip(" .:)") if num and name.startswith(num + " ") else name


def score_table(results):
    """A plain-text table: number, name, score/max, status; total; leaderboard; seconds."""
    tests = results.get("tests", [])
    rows = [(t.get("number", ""), short_name(t),
             f"{_fmt(t.get('score', 0))}/{_fmt(t.get('max_score', 0))}", t.get("status", ""))
            for t in tests]
    head = ("#", "test", "score", "status")
    widths = [max([len(head[i])] + [len(r[i]) for r in rows]) for i in range(4)]
    widths[1] = min(widths[1], 70)

    def line(r):
        name = r[1] if len(r[1]) <= widths[1] else r[1][:widths[1] - 1] + "…"
        return (f"{r[0]:<{widths[0]}}  {name:<{widths[1]}}  "
                f"{r[2]:>{widths[2]}}  {r[3]}").rstrip()

    out = [line(head), line(tuple("-" * w for w in widths))]
    out += [line(r) for r in rows]
    out.append(line(tuple("-" * w for w in widths)))
    max_total = sum(t.get("max_score", 0) for t in tests)
    out.append(line(("", "total", f"{_fmt(round(results.get('score', 0), 4))}/{_fmt(max_total)}",
                     "")))
    for entry in results.get("leaderboard", []):
        out.append(f"{entry['name']}: {_fmt(entry['value'])}")
    out.append(f"grading time: {_fmt(results.get('execution_time', 0))} s")
    if results.get("output"):
        out.append("")
        out.append(results["output"])
    return "\n".join(out)
