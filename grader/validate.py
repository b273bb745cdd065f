"""The grader graded: grade the reference and every catalogue entry, compare with expectations.

    python -m grader validate [--only NAME...] [--jobs N] [--keep DIR]

The reference and every correct variant must score 100 %; every mutant must fail the tests its
EXPECTED names and lose the points it says; every hostile submission must get no more than
its allowance. For every entry the grade must also write a valid results.json, finish within the
grade's configured time limit + 30 s, and leave no process behind. Prints a table and exits 1 on
any mismatch. The entries are recipes, grader/catalogue/<kind>/<name>.py (see its package
docstring), each built from the reference into a scratch folder when it is graded; --keep DIR
writes out DIR/<kind>/<name>/ with the graded submitted.py, its results.json and outcome.json.

How it grades: through the grading workers of grader/workers.py, each a separate process that
grades entry after entry; every process a grade leaves behind is charged to that entry, killed
and reported, and a worker that dies or overruns is replaced (its entry is a mismatch). validate
itself is a child subreaper, so the orphans of a worker that died land here and are caught too.

Validation shortens run_model's time limit (mpconfig.VALIDATE_RUN_MODEL_LIMIT_S, passed to each
worker) so that the entries that must time out cost minutes, not the production quarter hour;
correct variants then prove they finish well within the real limit.
"""
import argparse
import json
import re
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path

import mpconfig as C
from grader import catalogue
from grader.catalogue import KINDS
from grader.processes import leftover_processes
from grader.workers import GRACE_S, Worker, WorkerReport, grade_limit_s, probe_threads, set_subreaper

RESULTS_MAX_BYTES = 1_000_000     # Gradescope shows results.json files up to about 1 MB
TIMED_OUT = re.compile(r"time(d)? ?out|time limit", re.I)
EPS = 1e-6
# What a student must never read (issue: no grader frame, no interpreter or package install path).
LEAKS = (
    ("a grader frame", re.compile(r"""File "[^"]*\bgrader[/\\]|\bgrader[/\\](?:child|(?:probes|sandbox|suites)[/\\]\w+)\.py""")),
    ("an import-system frame", re.compile(r"<frozen |importlib[/\\]__init__\.py")),
    ("an install path", re.compile(r"(?:site|dist)-packages[/\\]|[/\\]lib[/\\]python3\.\d+[/\\]|\.pyenv[/\\]")),
)


# --- the catalogue --------------------------------------------------------------------------------

def load_catalogue():
    """The reference, then every catalogue entry (grader/catalogue/<kind>/<name>.py)."""
    return [catalogue.REFERENCE, *catalogue.entries()]


def select_entries(entries, only):
    if not only:
        return entries
    chosen = [e for e in entries if e.name in only or e.label in only or e.kind in only]
    unknown = set(only) - {x for e in chosen for x in (e.name, e.label, e.kind)}
    if unknown:
        raise ValueError(f"--only: no catalogue entry named {', '.join(sorted(unknown))} "
                         f"(known: reference, {', '.join(KINDS)}, or kind/name)")
    return chosen


# --- judging one grade ------------------------------------------------------------------------------

def _tests(results):
    return {t.get("number", t.get("name")): t for t in results.get("tests", [])}


def lost_by_test(results):
    """{number: points lost} for every test below its max."""
    return {n: t["max_score"] - t["score"] for n, t in _tests(results).items()
            if t["score"] < t["max_score"] - EPS}


def leaks(results):
    """[(what, the line)] for each grader frame or install path in results.json's student-facing text."""
    prefixes = {p for p in (sys.prefix, sys.base_prefix, sys.exec_prefix) if len(p) > 5}
    texts = [results.get("output", "")] + [t.get("output", "") for t in results.get("tests", [])]
    found = []
    for line in "\n".join(t or "" for t in texts).splitlines():
        what = next((w for w, pattern in LEAKS if pattern.search(line)), None)
        if what is None and any(p + "/" in line for p in prefixes):
            what = "an install path"
        if what:
            found.append((what, line.strip()[:160]))
    return found


def judge(entry, outcome, limit_s):
    """The list of ways this grade differs from the entry's expectations ([] = as expected)."""
    from grader.results import problems, is_grader_error
    e, r = entry.expected, outcome.results
    bad = []
    if outcome.error:
        bad.append(outcome.error)
    if outcome.leaks:
        bad.append(f"{len(outcome.leaks)} process(es) left behind: " + "; ".join(outcome.leaks[:3]))
    if outcome.seconds > limit_s + GRACE_S:
        bad.append(f"took {outcome.seconds:.0f} s, over the limit {limit_s:.0f} s + {GRACE_S} s")
    if r is None:
        return bad or ["no results.json"]
    bad += [f"invalid results.json: {p}" for p in problems(r)]
    if outcome.results_bytes > RESULTS_MAX_BYTES:
        bad.append(f"results.json is {outcome.results_bytes} bytes (> {RESULTS_MAX_BYTES})")
    if is_grader_error(r):
        bad.append("the grader itself failed: " + str(r.get("extra_data", {}).get("grader_error", ""))[-300:])
    bad += [f"results.json shows the student {what}: {line}" for what, line in leaks(r)[:3]]
    if bad:
        return bad
    tests = _tests(r)
    total = r["score"]
    max_total = sum(t["max_score"] for t in tests.values())
    lost = max_total - total
    if "score" in e and total < max_total * e["score"] / 100 - EPS:
        bad.append(f"scored {total:g}/{max_total:g}, expected {e['score']} %")
    for n in e.get("must_fail", []):
        if n not in tests:
            bad.append(f"test {n} does not exist")
        elif tests[n]["score"] >= tests[n]["max_score"] - EPS:
            bad.append(f"test {n} passed, but must fail")
    if e.get("must_fail_any") and not any(
            n in tests and tests[n]["score"] < tests[n]["max_score"] - EPS for n in e["must_fail_any"]):
        bad.append(f"none of tests {', '.join(e['must_fail_any'])} failed; one must")
    if "min_lost" in e and lost < e["min_lost"] - EPS:
        bad.append(f"lost {lost:g} points, must lose at least {e['min_lost']:g}")
    if "max_lost" in e and lost > e["max_lost"] + EPS:
        bad.append(f"lost {lost:g} points, may lose at most {e['max_lost']:g}")
    if "max_points" in e and total > e["max_points"] + EPS:
        bad.append(f"got {total:g} points, may get at most {e['max_points']:g}")
    if "min_points" in e and total < e["min_points"] - EPS:
        bad.append(f"got {total:g} points, should still earn {e['min_points']:g}")
    text = json.dumps(r)
    if e.get("times_out") and not TIMED_OUT.search(text):
        bad.append("no test output says it timed out")
    bad += [f"output lacks {s!r}" for s in e.get("output_has", []) if s not in text]
    bad += [f"output contains {s!r}" for s in e.get("output_lacks", []) if s in text]
    return bad


def expected_summary(e):
    if "score" in e:
        return f"{e['score']} %"
    parts = []
    if e.get("must_fail"):
        parts.append("fail " + ",".join(e["must_fail"]))
    if e.get("must_fail_any"):
        parts.append("fail one of " + ",".join(e["must_fail_any"]))
    if "min_lost" in e or "max_lost" in e:
        parts.append(f"lose {e.get('min_lost', 0):g}" + (f"-{e['max_lost']:g}" if "max_lost" in e else "+"))
    if "max_points" in e:
        parts.append(f"<= {e['max_points']:g} pts" + (f", >= {e['min_points']:g}" if "min_points" in e else ""))
    if e.get("times_out"):
        parts.append("times out")
    return "; ".join(parts)


# --- the run --------------------------------------------------------------------------------------------

def grading_order(entries, rotate=0):
    """(indices in the order to grade, how many of them come first whatever the budget): the
    entries with a run_model limit of their own (the longest), those that must time out (with
    several workers they overlap the rest) and the reference,
    then every other entry starting at the `rotate`-th, so that runs cut short by a budget cover
    them all over successive days."""
    first = [i for i, e in enumerate(entries) if e.expected.get("run_model_limit_s")]
    first += [i for i, e in enumerate(entries) if i not in first and (
        e.expected.get("times_out") or e.kind == "reference")]
    rest = [i for i in range(len(entries)) if i not in first]
    k = rotate % len(rest) if rest else 0
    return first + rest[k:] + rest[:k], len(first)


def validate(entries, *, jobs=C.VALIDATE_JOBS, keep=None, run_model_limit_s=C.VALIDATE_RUN_MODEL_LIMIT_S,
             log_path=None, progress=print, budget_s=None, rotate=0):
    """Grade the entries (none started after `budget_s`, when given); returns [(entry, outcome,
    mismatches)] of those graded, in catalogue order."""
    import psutil
    if jobs < 1:
        raise ValueError(f"--jobs must be at least 1, got {jobs}")
    def run_model_limit(entry):   # an entry that trains longer says so in its EXPECTED
        return max(run_model_limit_s, entry.expected.get("run_model_limit_s", 0))
    # Every orphan of a grade (a double-forked daemon, the children of a killed worker) is
    # re-parented here instead of to init, so it can be found and killed below.
    set_subreaper()
    tmp = Path(tempfile.mkdtemp(prefix="mp09-validate-"))
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
    log_path = Path(log_path or (Path(keep) / "workers.log" if keep else tmp / "workers.log"))
    log = open(log_path, "a")
    todo, always = grading_order(entries, rotate)
    always = set(todo[:always])
    started = time.monotonic()
    lock = threading.Lock()
    done = {}
    n = min(jobs, len(entries))
    workers = [Worker(run_model_limit_s, log, probe_threads(n)) for _ in range(n)]
    me = psutil.Process()

    def run(worker):
        while True:
            with lock:
                if not todo or (budget_s is not None and time.monotonic() - started > budget_s
                                and todo[0] not in always):
                    return
                i = todo.pop(0)
            entry = entries[i]
            limit = grade_limit_s(run_model_limit(entry))
            folder = tmp / f"{entry.kind}-{entry.name}"
            results = folder / "results.json"
            try:
                # Only submitted.py: the grade sees exactly what a student would upload.
                entry.build(folder / "submission")
                outcome = worker.grade(folder / "submission", results, limit + GRACE_S + 60,
                                       run_model_limit(entry))
            except Exception as exc:  # e.g. the worker cannot start: every entry says so
                outcome = WorkerReport(error=f"validate could not grade: {exc}")
            # Orphans re-parented to us: only those of a worker whose reaper half died.
            with lock:
                live = {w.proc.pid for w in workers if w.proc is not None}
            outcome.leaks += leftover_processes(me, exclude=live, wait_s=0.5)
            bad = judge(entry, outcome, limit)
            if keep:
                dest = Path(keep) / entry.kind / entry.name
                dest.mkdir(parents=True, exist_ok=True)
                for path in (folder / "submission" / "submitted.py", results):
                    if path.is_file():
                        shutil.copy2(path, dest / path.name)
                (dest / "outcome.json").write_text(
                    json.dumps({"outcome": asdict(outcome), "mismatches": bad}, indent=1))
            with lock:
                done[i] = (entry, outcome, bad)
                progress(f"[{len(done)}/{len(entries)}] {entry.label}: "
                         f"{_got(outcome)} in {outcome.seconds:.0f} s"
                         + ("" if not bad else f"  MISMATCH: {bad[0]}"))

    threads = [threading.Thread(target=run, args=(w,), daemon=True) for w in workers]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for w in workers:
            w.stop()
        log.close()
        if any(bad for _, _, bad in done.values()):
            # The graders' own messages (stderr of the workers) explain most mismatches.
            tail = log_path.read_text(errors="replace")[-3000:]
            progress(f"--- last lines of the grading log {log_path}:\n{tail}")
        shutil.rmtree(tmp, ignore_errors=True)
    return [done[i] for i in range(len(entries)) if i in done]


def _got(outcome):
    r = outcome.results
    if not r or "tests" not in r:
        return "no results"
    max_total = sum(t.get("max_score", 0) for t in r["tests"])
    return f"{r.get('score', 0):g}/{max_total:g}"


def table(rows):
    """submission | expected | got | verdict | points lost per test, then the reasons."""
    head = ("submission", "expected", "got", "s", "verdict", "lost per test")
    lines = []
    for entry, outcome, bad in rows:
        lost = lost_by_test(outcome.results) if outcome.results and "tests" in outcome.results else {}
        lines.append((entry.label, expected_summary(entry.expected), _got(outcome),
                      f"{outcome.seconds:.0f}", "ok" if not bad else "MISMATCH",
                      " ".join(f"{n}:-{v:g}" for n, v in lost.items()) or "-"))
    widths = [max(len(str(x)) for x in col) for col in zip(head, *lines)]
    fmt = lambda r: "  ".join(f"{str(x):<{w}}" for x, w in zip(r, widths)).rstrip()  # noqa: E731
    out = [fmt(head), fmt(["-" * w for w in widths])] + [fmt(r) for r in lines]
    for entry, outcome, bad in rows:
        if bad:
            out.append(f"\n{entry.label} ({entry.description}):")
            out += [f"  - {b}" for b in bad]
    return "\n".join(out)


# --- command line -----------------------------------------------------------------------------------------

def add_parser(subparsers):
    p = subparsers.add_parser("validate", help="grade the reference and the catalogue; check expectations",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("--only", nargs="+", metavar="NAME",
                   help="entries to grade: reference, a kind (variants, mutants, hostile), a name or kind/name")
    p.add_argument("--jobs", type=int, default=C.VALIDATE_JOBS,
                   help=f"entries graded at once (default {C.VALIDATE_JOBS})")
    p.add_argument("--keep", type=Path, metavar="DIR",
                   help="write each graded entry out to DIR/<kind>/<name>/: submitted.py, "
                        "results.json and outcome.json (the judgement)")
    p.add_argument("--run-model-limit", type=float, default=C.VALIDATE_RUN_MODEL_LIMIT_S,
                   help=f"run_model's time limit while validating (default {C.VALIDATE_RUN_MODEL_LIMIT_S} s)")
    p.add_argument("--budget-min", type=float, metavar="M",
                   help="start no entry after M minutes (but those that time out and the reference); "
                        "the rest are listed as not reached (exit 0 when every graded entry matched)")
    p.add_argument("--rotate", type=int, default=0, metavar="N",
                   help="after the entries that time out and the reference, start the others at the "
                        "N-th (with --budget-min: another share for each N)")
    p.set_defaults(func=main)
    return p


def main(args):
    try:
        entries = select_entries(load_catalogue(), args.only)
        reference = C.REFERENCE_SOLUTION.read_text()
        for entry in entries:
            entry.source(reference)   # a recipe that no longer applies stops the run here, named
    except ValueError as exc:
        print(f"validate: {exc}", file=sys.stderr)
        return 2
    start = time.monotonic()
    budget = getattr(args, "budget_min", None)
    rows = validate(entries, jobs=args.jobs, keep=args.keep, run_model_limit_s=args.run_model_limit,
                    progress=lambda m: print(m, file=sys.stderr, flush=True),
                    budget_s=None if budget is None else budget * 60, rotate=getattr(args, "rotate", 0))
    print(table(rows))
    failed = sum(bool(bad) for _, _, bad in rows)
    graded = {e.label for e, _, _ in rows}
    missed = [e.label for e in entries if e.label not in graded]
    print(f"\nvalidate: {len(rows)} submissions, {failed} mismatches, "
          f"{time.monotonic() - start:.0f} s (jobs={args.jobs})")
    if missed and budget is not None:
        print(f"not reached within {budget:g} min: {' '.join(missed)}")
        return 1 if failed else 0
    return 1 if failed or missed else 0


def bench(args=None):
    """`python -m grader bench validate`: the whole catalogue, timed."""
    ns = argparse.Namespace(only=None, jobs=C.VALIDATE_JOBS, keep=None,
                            run_model_limit=C.VALIDATE_RUN_MODEL_LIMIT_S)
    start = time.monotonic()
    code = main(ns)
    print(f"bench validate: {time.monotonic() - start:.1f} s total")
    return code


if __name__ == "__main__":
    sys.exit("use: python -m grader validate")
