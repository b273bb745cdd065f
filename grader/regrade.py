"""Regrade a Gradescope export: one CSV row per submission, a histogram of totals, resumable.

    python -m grader regrade EXPORT_DIR --out grades.csv [--jobs N]

EXPORT_DIR holds one folder per submission, as Gradescope's "Export Submissions" lays it out;
a ``submission_metadata.yml`` (at the top, keyed by folder name, or inside a folder) gives
the student's name, email and submission id. Each submission is graded in its own process
(see ``validate.IsolatedGrader``), so a crash, hang or leftover process of one submission
cannot stop the batch: its row says what went wrong.

Resuming: rows already in the CSV are kept and not regraded. Each row is appended with a
single write and fsync, so an interrupted run loses at most the submissions in flight.
"""
import csv
import io
import math
import os
import re
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import yaml

KEY = "submission"                  # the folder name: what resuming matches on
META_COLUMNS = (KEY, "submission_id", "name", "email", "status", "total", "max_total",
                "accuracy", "seconds", "error")
METADATA_FILE = "submission_metadata.yml"
TEST_PREFIX = "test "               # test columns: "test <number> <name>"


class RegradeError(Exception):
    """Bad input to regrade (not a broken submission: those get a row)."""


# --- the export ---------------------------------------------------------------------------

def _plain(obj):
    """Gradescope writes Ruby-symbol keys (':name'); read them as plain 'name'."""
    if isinstance(obj, dict):
        return {str(k).lstrip(":"): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_plain(v) for v in obj]
    return obj


def _read_yaml(path):
    try:
        return _plain(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise RegradeError(f"{path}: unreadable metadata ({exc})") from exc


def _student(meta, folder):
    """name/email/submission_id from one submission's metadata dict (possibly empty)."""
    subs = meta.get("submitters") or []
    if isinstance(subs, dict):
        subs = [subs]
    subs = [s for s in subs if isinstance(s, dict)]
    sid = meta.get("id") or meta.get("submission_id")
    if sid is None:
        m = re.fullmatch(r"submission_(\d+)", folder)
        sid = m.group(1) if m else ""
    return {"submission_id": str(sid),
            "name": "; ".join(str(s.get("name", "")) for s in subs),
            "email": "; ".join(str(s.get("email", "")) for s in subs)}


def find_submissions(export_dir):
    """[(folder name, folder path, student dict)] in name order."""
    export_dir = Path(export_dir)
    if not export_dir.is_dir():
        raise RegradeError(f"export folder {export_dir} does not exist or is not a folder")
    top = export_dir / METADATA_FILE
    top_meta = _read_yaml(top) if top.is_file() else {}
    if not isinstance(top_meta, dict):
        raise RegradeError(f"{top}: expected a mapping of submission folders, got {type(top_meta).__name__}")
    out = []
    for folder in sorted(p for p in export_dir.iterdir()
                         if p.is_dir() and not p.name.startswith((".", "_"))):
        meta = top_meta.get(folder.name)
        own = folder / METADATA_FILE
        if own.is_file():
            meta = _read_yaml(own)
        out.append((folder.name, folder, _student(meta if isinstance(meta, dict) else {}, folder.name)))
    if not out:
        raise RegradeError(f"export folder {export_dir} has no submission folders")
    return out


def submission_root(folder):
    """The folder holding submitted.py: students sometimes upload it inside a folder."""
    if (folder / "submitted.py").is_file():
        return folder
    found = [p for p in folder.rglob("submitted.py") if "__MACOSX" not in p.parts]
    return found[0].parent if len(found) == 1 else folder


# --- one row --------------------------------------------------------------------------------

def test_column(test):
    return f"{TEST_PREFIX}{test.get('number', '')} {test.get('name', '')}".strip()


def accuracy_of(results):
    """The hidden-set accuracy, from the leaderboard (where the suites publish it)."""
    for entry in results.get("leaderboard") or []:
        if "acc" in str(entry.get("name", "")).lower():
            return entry.get("value")
    extra = results.get("extra_data") or {}
    return extra.get("accuracy")


def row_from_results(results):
    tests = results.get("tests") or []
    total = results.get("score")
    if total is None:
        total = sum(float(t.get("score", 0) or 0) for t in tests)
    row = {"status": "graded", "total": _num(total),
           "max_total": _num(sum(float(t.get("max_score", 0) or 0) for t in tests)),
           "accuracy": _num(accuracy_of(results)), "error": ""}
    for t in tests:
        row[test_column(t)] = _num(t.get("score", 0))
    return row


def _num(x):
    if x is None or x == "":
        return ""
    try:
        x = float(x)
    except (TypeError, ValueError):
        return str(x)
    return "" if math.isnan(x) else (str(int(x)) if x.is_integer() else f"{x:.4g}")


def grade_one(name, folder, student, grade_fn):
    """Never raises: a broken submission, or a grader failure on it, becomes an error row."""
    start = time.monotonic()
    row = {**dict.fromkeys(META_COLUMNS, ""), KEY: name, **student}
    with tempfile.TemporaryDirectory(prefix="mp09-regrade-") as tmp:
        try:
            results = grade_fn(submission_root(folder), Path(tmp) / "results.json")
            if not isinstance(results, dict) or "tests" not in results:
                raise RuntimeError(f"the grader returned no results ({type(results).__name__})")
            row.update(row_from_results(results))
        except Exception as exc:  # one submission must never stop the batch
            msg = str(exc) or type(exc).__name__
            row.update(status="error", error=f"{type(exc).__name__}: {msg}")
    row["seconds"] = f"{time.monotonic() - start:.1f}"
    return row


# --- the CSV ----------------------------------------------------------------------------------

def _one_line(value):
    # One physical line per row, so a row cut short by an interruption is easy to spot.
    return re.sub(r"[\r\n]+", " | ", str(value))


def _format(header, rows):
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=header, extrasaction="ignore", lineterminator="\n")
    for r in rows:
        w.writerow({k: _one_line(r.get(k, "")) for k in header})
    return buf.getvalue()


def _header_line(header):
    return _format(header, [dict(zip(header, header))])


def read_csv(path):
    """(header, rows) of an earlier run; a last line cut short by an interruption is dropped."""
    path = Path(path)
    if not path.exists():
        return None, []
    text = path.read_text(encoding="utf-8")
    if text and not text.endswith("\n"):
        text = text[:text.rfind("\n") + 1]
        _write_atomic(path, text)
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames
    if header is None:
        return None, []
    if KEY not in header:
        raise RegradeError(f"{path} is not a regrade CSV (no '{KEY}' column); choose another --out")
    return list(header), list(reader)


def _write_atomic(path, text):
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _append(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, text.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


class CsvSink:
    """Appends rows; widens the header (one atomic rewrite) when a new test column appears."""

    def __init__(self, path):
        self.path = Path(path)
        self.header, self.rows = read_csv(self.path)

    def done(self):
        return {r[KEY] for r in self.rows}

    def add(self, row):
        tests = [k for k in row if k.startswith(TEST_PREFIX)]
        new = [k for k in tests if self.header is None or k not in self.header]
        self.rows.append(row)
        if self.header is None or new:
            self.header = list(self.header or META_COLUMNS) + new
            _write_atomic(self.path, _header_line(self.header) + _format(self.header, self.rows))
        else:
            _append(self.path, _format(self.header, [row]))


# --- the histogram -------------------------------------------------------------------------------

def histogram_path(csv_path):
    csv_path = Path(csv_path)
    return csv_path.with_name(csv_path.stem + "_histogram.png")


def write_histogram(rows, png):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    totals = [float(r["total"]) for r in rows if r.get("status") == "graded" and r.get("total")]
    maxes = [float(r["max_total"]) for r in rows if r.get("max_total")]
    errors = sum(r.get("status") != "graded" for r in rows)
    top = max(maxes or totals or [100.0])
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.hist(totals, bins=20, range=(0, top), color="#3a6ea5", edgecolor="white")
    ax.set_xlabel(f"total points (out of {_num(top)})")
    ax.set_ylabel("submissions")
    ax.set_title(f"{len(totals)} graded" + (f", {errors} not graded (see CSV)" if errors else ""))
    fig.tight_layout()
    png = Path(png)
    fd, tmp = tempfile.mkstemp(dir=png.parent, prefix=f".{png.name}.", suffix=".png")
    os.close(fd)
    try:
        fig.savefig(tmp, format="png")
        os.replace(tmp, png)
    finally:
        plt.close(fig)
        Path(tmp).unlink(missing_ok=True)
    return png


# --- the batch -------------------------------------------------------------------------------------

def regrade(export_dir, out_csv, *, jobs=1, grade_fn=None, progress=True):
    """Grade every submission not yet in out_csv; returns all rows (old and new)."""
    if jobs < 1:
        raise RegradeError(f"--jobs must be at least 1, got {jobs}")
    out_csv = Path(out_csv)
    if not out_csv.parent.is_dir():
        raise RegradeError(f"the folder of --out {out_csv} does not exist")
    subs = find_submissions(export_dir)
    sink = CsvSink(out_csv)
    pending = [s for s in subs if s[0] not in sink.done()]
    isolated = None
    if grade_fn is None:
        # Each submission in a worker process under the production time limits; leftovers killed.
        from grader.workers import IsolatedGrader
        grade_fn = isolated = IsolatedGrader(out_csv.with_suffix(".log"), jobs)

    from tqdm import tqdm
    bar = tqdm(total=len(subs), initial=len(subs) - len(pending), unit="submission",
               disable=not progress, file=sys.stderr, dynamic_ncols=True)
    pool = ThreadPoolExecutor(max_workers=jobs)
    try:
        futures = [pool.submit(grade_one, *s, grade_fn) for s in pending]
        for fut in as_completed(futures):
            row = fut.result()
            sink.add(row)
            bar.set_postfix_str(f"{row[KEY]}: {row.get('total') or row['status']}", refresh=False)
            bar.update(1)
    finally:
        # On Ctrl-C: drop what has not started; rows already appended stay in the CSV.
        pool.shutdown(wait=True, cancel_futures=True)
        bar.close()
        if isolated is not None:
            isolated.close()
    write_histogram(sink.rows, histogram_path(out_csv))
    return sink.rows


# --- command line ------------------------------------------------------------------------------------

def add_parser(subparsers):
    p = subparsers.add_parser("regrade", help="regrade a Gradescope export into a CSV (resumable)",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("export_dir", type=Path, help="folder with one sub-folder per submission")
    p.add_argument("--out", type=Path, default=Path("grades.csv"), help="CSV to write/resume")
    p.add_argument("--jobs", type=int, default=1, help="submissions graded at once (default 1)")
    p.set_defaults(func=main)
    return p


def main(args):
    try:
        rows = regrade(args.export_dir, args.out, jobs=args.jobs)
    except RegradeError as exc:
        print(f"regrade: {exc}", file=sys.stderr)
        return 2
    errors = [r for r in rows if r.get("status") != "graded"]
    print(f"regrade: {len(rows)} rows in {args.out}, histogram {histogram_path(args.out)}"
          + (f"; {len(errors)} not graded (see their 'error' column)" if errors else ""))
    return 0
