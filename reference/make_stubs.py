"""Generate the student stubs (top-level submitted.py) from the reference solution.

    python -m reference.make_stubs            # write submitted.py
    python -m reference.make_stubs --check    # exit 1 (with a diff summary) if it is stale

Every solution region of reference/submitted.py (between a START and an END marker) becomes one
``raise NotImplementedError(MESSAGE)`` at the marker's indentation; everything else is copied
unchanged, so the stubs cannot drift from the reference. dev.py setup runs it.
"""
import argparse
import difflib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import mpconfig as C  # noqa: E402
from grader.atomic_write import write_text  # noqa: E402

START = "################# Your Code Starts Here #################"
END = "################## Your Code Ends here ##################"
MESSAGE = "You need to write this part!"


class StubError(Exception):
    """A malformed reference: the message names the line and what is wrong."""


def solution_regions(text, name="reference"):
    """[(start_line, end_line, body_lines)] of ``text``'s solution regions (1-based, at the markers);
    StubError for an unclosed, nested, unopened or empty region or mismatched indentation."""
    regions, open_at, indent, body = [], None, "", []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped == START:
            if open_at is not None:
                raise StubError(f"{name}:{number}: region opened again before the one at line {open_at} was closed")
            open_at, indent, body = number, line[: len(line) - len(line.lstrip())], []
        elif stripped == END:
            if open_at is None:
                raise StubError(f"{name}:{number}: end marker without a start marker")
            if line[: len(line) - len(line.lstrip())] != indent:
                raise StubError(f"{name}:{number}: end marker indented differently from its start (line {open_at})")
            if not any(b.strip() for b in body):
                raise StubError(f"{name}:{open_at}: empty solution region")
            regions.append((open_at, number, body))
            open_at = None
        elif open_at is not None:
            body.append(line)
    if open_at is not None:
        raise StubError(f"{name}:{open_at}: region never closed (no end marker)")
    if not regions:
        raise StubError(f"{name}: no solution regions (markers: {START!r} ... {END!r})")
    return regions


def make_stubs(text, name="reference"):
    """The stub source for reference source ``text``."""
    solution_regions(text, name)  # validates the markers before anything is produced
    out, inside = [], False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped == START:
            indent = line[: len(line) - len(line.lstrip())]
            out += [line, f'{indent}raise NotImplementedError("{MESSAGE}")']
            inside = True
        elif stripped == END:
            out.append(line)
            inside = False
        elif not inside:
            out.append(line)
    return "\n".join(out) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="do not write; exit 1 if the stubs differ from the generator's output")
    parser.add_argument("--reference", type=Path, default=C.REFERENCE_SOLUTION)
    parser.add_argument("--out", type=Path, default=C.STUBS)
    args = parser.parse_args(argv)
    try:
        stubs = make_stubs(args.reference.read_text(), str(args.reference))
    except (OSError, StubError) as exc:
        print(f"make_stubs: {exc}", file=sys.stderr)
        return 2
    if args.check:
        current = args.out.read_text() if args.out.is_file() else ""
        if current == stubs:
            print(f"make_stubs: {args.out} is up to date")
            return 0
        diff = list(difflib.unified_diff(current.splitlines(), stubs.splitlines(),
                                         f"{args.out} (current)", f"{args.out} (generated)", lineterm=""))
        print(f"make_stubs: {args.out} differs from the output of the generator "
              f"({sum(1 for d in diff if d[:1] in '+-') - 2} changed lines); "
              f"run: python -m reference.make_stubs", file=sys.stderr)
        print("\n".join(diff[:40]) + ("\n..." if len(diff) > 40 else ""), file=sys.stderr)
        return 1
    write_text(args.out, stubs)
    print(f"make_stubs: wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
