"""python -m grader: grade a folder, build the Gradescope autograder zip, time things.

    python -m grader grade [--submission DIR] [--results FILE] [--json]
    python -m grader build-autograder [--out FILE] [--timeout-min N]
    python -m grader bench [grade|data|reference|validate] [--runs N]
    python -m grader validate ... / regrade ...        (grader/validate.py, grader/regrade.py)

Exit status: 0 when the grade ran (whatever the score), 1 when the grader failed, 2 for bad usage.
"""
import argparse
import importlib
import importlib.util
import logging
import sys
import tempfile
from pathlib import Path

import mpconfig as C
from grader.submission import reference_submission

# Subcommands owned by other modules, registered when present: each has add_parser(subparsers).
OPTIONAL_COMMANDS = ("grader.validate", "grader.regrade", "grader.regrade_bench", "grader.rehearse",
                     "grader.similarity_cli")


def cmd_grade(args):
    from grader import deadline, grade, results

    def go(folder):
        # As on Gradescope: each stage's limit comes from deploy.json's timeout and run_autograder's start.
        outcome = grade.run(folder, args.results, budget=deadline.Budget.from_deploy())
        if args.json:
            print(results.dumps(outcome.results), end="")
        else:
            print(f"graded {folder if args.submission else 'the reference solution'}")
            print(results.score_table(outcome.results))
            if args.results:
                print(f"results written to {args.results}")
        return 1 if outcome.grader_error else 0

    problem = _submission_problem(args.submission) or _results_problem(args.results)
    if problem:
        print(f"grade: {problem}", file=sys.stderr)
        return 2
    try:
        if args.submission is None:
            with reference_submission() as folder:
                return go(folder)
        return go(args.submission)
    except OSError as exc:     # results.json could not be written after all (the disk filled up, say)
        print(f"grade: {exc.filename or args.results}: {exc.strerror or exc}", file=sys.stderr)
        return 2


def _submission_problem(folder):
    if folder is None or folder.is_dir():
        return None
    what = "does not exist" if not folder.exists() else "is not a folder"
    return f"--submission {folder} {what}: give the folder that holds submitted.py"


def _results_problem(path):
    """Why results.json cannot be written to `path`, checked before grading (a grade takes minutes)."""
    if path is None:
        return None
    if path.is_dir():
        return f"--results {path} is a folder: give a file name, e.g. {path / 'results.json'}"
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):   # what the atomic write will need
            pass
    except OSError as exc:
        above = next((p for p in [folder, *folder.parents] if p.exists()), None)
        if above is not None and not above.is_dir():
            return f"--results {path} is under {above}, a regular file: choose a path in a folder"
        return (f"--results {path}: cannot write in {folder} ({exc.strerror or exc}): choose a folder "
                "you can write to")
    return None


def cmd_build_autograder(args):
    from grader import package
    try:
        out = package.build(args.out, args.timeout_min)
    except package.PackageError as exc:
        print(f"build-autograder: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {out} ({out.stat().st_size / 2**20:.1f} MB) for a Gradescope autograder timeout "
          f"of {args.timeout_min:g} min: set the same on Gradescope")
    return 0


def _optional(subparsers, module_name):
    """Register module_name's subcommand; a broken module must not take `grade` down with it."""
    if importlib.util.find_spec(module_name) is None:
        return
    try:
        importlib.import_module(module_name).add_parser(subparsers)
    except Exception as exc:  # report on use, not at start-up
        name = module_name.rsplit(".", 1)[-1]
        p = subparsers.add_parser(name, help=f"(unavailable: {module_name} failed to load)")
        p.add_argument("rest", nargs=argparse.REMAINDER)

        def broken(_args, exc=exc):
            print(f"{name}: {module_name} could not be loaded: {type(exc).__name__}: {exc}",
                  file=sys.stderr)
            return 1
        p.set_defaults(func=broken)


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m grader", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    g = sub.add_parser("grade", help="grade a submission folder like Gradescope and print a score table")
    g.add_argument("--submission", type=Path, default=None,
                   help="folder holding submitted.py (default: the reference solution)")
    g.add_argument("--results", type=Path, default=None,
                   help="where to write results.json (default: not written)")
    g.add_argument("--json", action="store_true", help="print results.json instead of the table")
    g.set_defaults(func=cmd_grade)

    b = sub.add_parser("build-autograder", help=f"write the Gradescope autograder zip")
    b.add_argument("--out", type=Path, default=C.AUTOGRADER_ZIP,
                   help=f"zip to write (default: {C.AUTOGRADER_ZIP.relative_to(C.ROOT)})")
    b.add_argument("--timeout-min", type=float, default=C.GRADESCOPE_TIMEOUT_MIN,
                   help="the autograder timeout set on Gradescope, in minutes (default: "
                        f"{C.GRADESCOPE_TIMEOUT_MIN}, Gradescope's own; at most {C.GRADESCOPE_TIMEOUT_MAX_MIN})")
    b.set_defaults(func=cmd_build_autograder)

    from grader.bench import add_arguments as bench_arguments
    bench_arguments(sub.add_parser("bench", help="time grading, the data build or the reference"))

    for module_name in OPTIONAL_COMMANDS:
        _optional(sub, module_name)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    # Bound to the real stderr now, so the test runner's capture keeps our log out of student output.
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(message)s")
    return args.func(args)
