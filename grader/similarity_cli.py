"""python -m grader similarity EXPORT_DIR --out DIR: the similarity check alone, without grading.

Writes DIR/similarity.md (the section the regrade report ends with) and, when a pair is listed,
DIR/similarity.html (copydetect's side-by-side view). Exit status 0 when the report was written,
2 for a bad export folder.
"""
import sys
from pathlib import Path

import mpconfig as C
from grader import similarity
from grader.regrade import RegradeError, find_submissions, submission_root


def export_submissions(export_dir):
    """regrade's walker: [(name, folder holding submitted.py, student)]; RegradeError for bad input."""
    return [(name, submission_root(folder), student)
            for name, folder, student in find_submissions(export_dir)]


def add_parser(subparsers):
    p = subparsers.add_parser("similarity", help="flag submissions of a Gradescope export that share "
                                                 "far more code than the stub (no grading)",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("export_dir", type=Path, help="folder with one sub-folder per submission")
    p.add_argument("--out", type=Path, default=Path("similarity"),
                   help=f"folder for {similarity.MD_NAME} and {similarity.HTML_NAME} (made if missing)")
    p.set_defaults(func=main)
    return p


def main(args):
    try:
        result = similarity.check(export_submissions(args.export_dir))
    except RegradeError as exc:
        print(f"similarity: {exc}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    md = similarity.write_outputs(result, args.out / similarity.MD_NAME, args.out / similarity.HTML_NAME,
                                  f"Code similarity: {args.export_dir.name}")
    skipped = sum(e.fp is None for e in result.entries)
    print(f"similarity: {len(result.entries)} submissions, {result.above} pair(s) at or above "
          f"{C.SIMILARITY_THRESHOLD:.2f}" + (f", {skipped} skipped" if skipped else "") + f"; see {md}")
    return 0
