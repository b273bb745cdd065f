"""Regrade a Gradescope export on Dask: one CSV row per submission, a histogram, a report; resumable.

    python -m grader regrade EXPORT_DIR --out grades.csv [--workers N] [--threads-per-grade T]
    python -m grader regrade EXPORT_DIR --out grades.csv --scheduler tcp://HOST:8786

What it reads and writes, and how a grade runs: docs/regrading.md. Default: a
local cluster of cores // --threads-per-grade one-grade workers (capped by memory and, as root, by
the probe slots). This process is the only writer: a row is appended (one write, fsync) after its
results.json is saved; rows in the CSV are not regraded, and a row cut short is dropped.
"""
import argparse
import csv
import io
import json
import logging
import math
import os
import re
import sys
import uuid
from contextlib import contextmanager, nullcontext
from pathlib import Path

import yaml

import mpconfig as C
from grader.atomic_write import write_text
from grader import regrade_report
from grader.regrade_task import grade_task, pack

log = logging.getLogger(__name__)

KEY = "submission"                  # the folder name: what resuming matches on
META_COLUMNS = (KEY, "submission_id", "name", "email", "status", "total", "max_total",
                "accuracy", "seconds", "error")
METADATA_FILE = "submission_metadata.yml"
TEST_PREFIX = "test "               # test columns: "test <number> <name>"
# A grade's peak memory, grader and largest probe (1,855 MB measured, goal 2.5 GB): caps a local cluster.
GRADE_MEMORY_MB = 2560
NOT_ROOT_WARNING = (
    "regrade: the grades on {host} run as {user}, not root, so their sandbox is weaker: probes "
    "run as that user (no probe users of their own), without memory and pids cgroups (memory is "
    "capped by address space only) and leftovers are found by an environment token, not a uid; "
    "a submission could read the grader's files and the hidden data. Run the workers as root "
    "(in a container) for the isolation Gradescope gets.")


class RegradeError(Exception):
    """Bad input to regrade (not a broken submission: those get a row)."""


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


def _one_line(value):
    # One physical line per row, so a row cut short by an interruption is easy to spot.
    return re.sub(r"[\r\n]+", " | ", str(value))


def _table(header, rows):
    """The whole CSV: its header line, then the rows."""
    return _format(header, [dict(zip(header, header)), *rows])


def _format(header, rows):
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=header, extrasaction="ignore", lineterminator="\n")
    for r in rows:
        w.writerow({k: _one_line(r.get(k, "")) for k in header})
    return buf.getvalue()


def read_csv(path):
    """(header, rows) of an earlier run; a last line cut short by an interruption is dropped."""
    path = Path(path)
    if not path.exists():
        return None, []
    text = path.read_text(encoding="utf-8")
    if text and not text.endswith("\n"):
        text = text[:text.rfind("\n") + 1]
        write_text(path, text)
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames
    if header is None:
        return None, []
    if KEY not in header:
        raise RegradeError(f"{path} is not a regrade CSV (no '{KEY}' column); choose another --out")
    read = list(reader)
    rows, seen = [], set()
    for row in read:
        if row[KEY] not in seen:       # one row per submission: the first one counts
            seen.add(row[KEY])
            rows.append(row)
    if len(rows) < len(read):
        write_text(path, _table(header, rows))
    return list(header), rows


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
        self._done = {r[KEY] for r in self.rows}

    def done(self):
        return set(self._done)

    def add(self, row):
        """Append row; False (and nothing written) when its submission already has one."""
        if row[KEY] in self._done:
            return False
        self._done.add(row[KEY])
        tests = [k for k in row if k.startswith(TEST_PREFIX)]
        new = [k for k in tests if self.header is None or k not in self.header]
        self.rows.append(row)
        if self.header is None or new:
            self.header = list(self.header or META_COLUMNS) + new
            write_text(self.path, _table(self.header, self.rows))
        else:
            _append(self.path, _format(self.header, [row]))
        return True


def histogram_path(csv_path):
    return Path(csv_path).with_name(Path(csv_path).stem + "_histogram.png")


def write_histogram(rows, png):
    plt = regrade_report._pyplot()
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
    return regrade_report.save_figure(fig, png)


def row_from_outcome(name, student, outcome):
    """The CSV row of grade_task's dict, or of the exception its task ended with. Never raises."""
    row = {**dict.fromkeys(META_COLUMNS, ""), KEY: name, **student}
    if isinstance(outcome, BaseException):
        msg = str(outcome) or type(outcome).__name__
        row.update(status="error", error=f"{type(outcome).__name__}: {msg}")
        return row
    from grader.results import is_grader_error
    results = outcome.get("results")
    if isinstance(results, dict) and results.get("tests"):
        row.update(row_from_results(results))
        if is_grader_error(results):
            row["error"] = "grader error in some test(s): see their output in the results"
    elif isinstance(results, dict) and is_grader_error(results):
        detail = str((results.get("extra_data") or {}).get("grader_error", "")).strip()
        row.update(status="error", error="grader error: " + (detail.splitlines() or ["?"])[-1])
    else:
        why = outcome.get("error") or "the grader wrote no results"
        last = [ln for ln in str(outcome.get("log", "")).splitlines() if ln.strip()][-3:]
        row.update(status="error", error=why + (" (log: " + " / ".join(last) + ")" if last else ""))
    row["seconds"] = f"{float(outcome.get('seconds') or 0):.1f}"
    return row


def results_dir(csv_path):
    return Path(csv_path).with_name(Path(csv_path).stem + "_results")


def save_results(csv_path, name, results):
    folder = results_dir(csv_path)
    folder.mkdir(exist_ok=True)
    write_text(folder / f"{name}.json", json.dumps(results, indent=1) + "\n")


def _cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def local_workers(threads_per_grade):
    """Grades at once here: the cores shared out, capped by memory and, as root, by the probe slots."""
    import psutil
    caps = {"cores": max(1, _cores() // threads_per_grade),
            "memory": max(1, psutil.virtual_memory().total // (GRADE_MEMORY_MB << 20))}
    if os.geteuid() == 0:
        caps["probe slots (mpconfig.PROBE_SLOTS)"] = C.PROBE_SLOTS
    n = min(caps.values())
    limited = [k for k, v in caps.items() if v == n and k != "cores"]
    if limited and n < caps["cores"]:
        log.warning("regrade: %d workers, limited by %s", n, " and ".join(limited))
    return n


@contextmanager
def dask_client(scheduler=None, workers=None, threads_per_grade=1):
    """A Client of the cluster at `scheduler`, or of a new LocalCluster of `workers` one-grade workers."""
    from distributed import Client, LocalCluster
    if scheduler:
        try:
            client = Client(scheduler)
        except (OSError, TimeoutError) as exc:
            raise RegradeError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from exc
        with client:
            yield client
        return
    n = workers or local_workers(threads_per_grade)
    # INFO lines would bury the progress bar; a worker that dies is still reported (WARNING).
    logging.getLogger("distributed").setLevel(logging.WARNING)
    # One grade per worker process; each grade and its probes on threads_per_grade threads of their own.
    with LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        yield client


def regrade(export_dir, out_csv, *, scheduler=None, workers=None, threads_per_grade=1,
            client=None, grade_command=None, progress=True, report=True, similarity=True):
    """Grade every submission not yet in out_csv; returns all rows. `client`: a distributed.Client
    to use; `grade_command`: a cheap stand-in for the grader's command line ("{submission}",
    "{results}" filled in) to test the machinery. `similarity`: the report ends with the code
    similarity section (grader/similarity.py), its side-by-side view beside the report."""
    if workers is not None and workers < 1:
        raise RegradeError(f"--workers must be at least 1, got {workers}")
    if threads_per_grade < 1:
        raise RegradeError(f"--threads-per-grade must be at least 1, got {threads_per_grade}")
    out_csv = Path(out_csv)
    if not out_csv.parent.is_dir():
        raise RegradeError(f"the folder of --out {out_csv} does not exist")
    subs = find_submissions(export_dir)
    sink = CsvSink(out_csv)
    done = sink.done()
    pending = [s for s in subs if s[0] not in done]
    if pending:
        with (nullcontext(client) if client is not None
              else dask_client(scheduler, workers, threads_per_grade)) as c:
            _grade_all(c, pending, sink, len(subs), threads_per_grade, grade_command, progress)
    write_histogram(sink.rows, histogram_path(out_csv))
    if report:
        extra = similarity_section(export_dir, out_csv) if similarity else []
        regrade_report.write_report(report_path(out_csv), sink.rows, results_dir(out_csv),
                                    histogram_path(out_csv), key=KEY, test_prefix=TEST_PREFIX,
                                    extra=extra)
    return sink.rows


def similarity_html_path(csv_path):
    return Path(csv_path).with_name(Path(csv_path).stem + "_similarity.html")


def similarity_section(export_dir, out_csv):
    """The report's similarity section (and its HTML view beside the report); never raises."""
    from grader import similarity  # loaded on use: only a report needs it
    try:
        result = similarity.check([(name, submission_root(folder), student)
                                   for name, folder, student in find_submissions(export_dir)])
        html_name, html_error = None, None
        if result.listed:
            try:
                html_name = similarity.write_html(result, similarity_html_path(out_csv)).name
            except Exception as exc:
                html_error = f"{type(exc).__name__}: {exc}"
        return result.section(html_name, html_error)
    except Exception as exc:  # the grades and the rest of the report stand without it
        log.warning("regrade: the similarity check failed: %s: %s", type(exc).__name__, exc)
        return ["## Code similarity", "", f"The check failed: {type(exc).__name__}: {exc}", ""]


def report_path(csv_path):
    return Path(csv_path).with_name(Path(csv_path).stem + "_report.md")


def _grade_all(client, pending, sink, total, threads, command, progress):
    from distributed import as_completed
    from tqdm import tqdm
    info = client.scheduler_info(n_workers=-1)
    print(f"regrade: {len(pending)} of {total} submissions to grade on {len(info.get('workers', {}))} "
          f"Dask worker(s), {threads} thread(s) per grade"
          + (f"; dashboard {client.dashboard_link}" if _has_dashboard(client) else ""),
          file=sys.stderr, flush=True)
    run = uuid.uuid4().hex[:8]
    futures, warned = {}, set()
    bar = tqdm(total=total, initial=total - len(pending), unit="submission",
               disable=not progress, file=sys.stderr, dynamic_ncols=True)
    try:
        for name, folder, student in pending:
            fut = client.submit(grade_task, pack(submission_root(folder)), threads, command,
                                key=f"grade-{name}-{run}", pure=False)
            futures[fut] = (name, student)
        for fut in as_completed(futures):
            name, student = futures.pop(fut)
            if fut.cancelled():  # not the submission's doing: no row, so a rerun grades it
                raise RegradeError(f"the cluster dropped the grade of {name} (scheduler lost?); "
                                   "run the same command again to grade the rest")
            try:
                outcome = fut.result()
            except Exception as exc:  # the task itself failed (KilledWorker...): still a row
                outcome = exc
            else:
                warn_if_not_root(outcome, warned)
                if isinstance(outcome.get("results"), dict):
                    save_results(sink.path, name, outcome["results"])
            row = row_from_outcome(name, student, outcome)
            sink.add(row)
            fut.release()
            bar.set_postfix_str(f"{name}: {row.get('total') or row['status']}", refresh=False)
            bar.update(1)
    finally:
        # Ctrl-C or an error: cancel what is left; tasks already running kill their grades.
        if futures:
            client.cancel(list(futures), force=True)
        bar.close()


def warn_if_not_root(outcome, warned):
    """Log once per host whose grades ran without root (a weaker sandbox)."""
    host, euid = outcome.get("host"), outcome.get("euid")
    if euid not in (0, None) and host not in warned:
        warned.add(host)
        log.warning(NOT_ROOT_WARNING.format(host=host, user=_user_name(euid)))


def _has_dashboard(client):
    try:
        return bool(client.dashboard_link) and "dashboard" in client.scheduler_info().get("services", {})
    except Exception:
        return False


def _user_name(uid):
    import pwd
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def add_parser(subparsers):
    p = subparsers.add_parser("regrade", help="regrade a Gradescope export on Dask into a CSV "
                                              "and a report (resumable)",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("export_dir", type=Path, help="folder with one sub-folder per submission")
    p.add_argument("--out", type=Path, default=Path("grades.csv"), help="CSV to write/resume")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="a running Dask scheduler (tcp://host:8786); default: a local cluster")
    p.add_argument("--workers", type=int, default=None,
                   help="local cluster: grades at once (default: cores // threads per grade, "
                        "capped by memory and probe slots)")
    p.add_argument("--threads-per-grade", type=int, default=1,
                   help="threads of each grade and its probes (default 1)")
    p.add_argument("--no-report", dest="report", action="store_false",
                   help="skip the instructor report")
    p.add_argument("--no-similarity", dest="similarity", action="store_false",
                   help="leave the code similarity section out of the report")
    # For the tests: a cheap stand-in for the grader (JSON list; "{submission}", "{results}").
    p.add_argument("--grade-command", type=json.loads, default=None, help=argparse.SUPPRESS)
    p.set_defaults(func=main)
    return p


def main(args):
    try:
        rows = regrade(args.export_dir, args.out, scheduler=args.scheduler, workers=args.workers,
                       threads_per_grade=args.threads_per_grade, grade_command=args.grade_command,
                       report=args.report, similarity=args.similarity)
    except RegradeError as exc:
        print(f"regrade: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\nregrade: interrupted; the rows so far are in {args.out}: run the same command "
              "again to grade the rest", file=sys.stderr)
        return 130
    errors = [r for r in rows if r.get("status") != "graded"]
    print(f"regrade: {len(rows)} rows in {args.out}, histogram {histogram_path(args.out)}"
          + (f", report {report_path(args.out)}" if args.report else "")
          + (f"; {len(errors)} not graded (see their 'error' column)" if errors else ""))
    return 0
