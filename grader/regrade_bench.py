"""Throughput of `grader regrade` on Dask: a synthetic export graded with 1 and with 2 workers.

    python -m grader regrade-bench [--count 24] [--workers 1 2] [--keep DIR]

The export: the reference, then catalogue entries, --count in all, without those that must time out
or that train for long by design (each would measure its time limit, not throughput). Each run
grades it into a fresh CSV on N single-thread local workers, timed from the cluster's start to
the last row; efficiency is throughput with N workers / (N x throughput with 1). Each run's
outputs stay in --keep.
"""
import os
import shutil
import sys
import time
from pathlib import Path

import yaml

import mpconfig as C
from grader import catalogue
from grader import regrade as R

def catalogue_sources():
    """[(label, submitted.py text)]: the reference, then each catalogue entry of a typical run time."""
    reference = C.REFERENCE_SOLUTION.read_text()
    return [(e.label, e.source(reference)) for e in (catalogue.REFERENCE, *catalogue.entries())
            if not (e.expected.get("times_out") or e.expected.get("run_model_limit_s"))]


def build_export(dest, count):
    """A Gradescope-style export of `count` submissions (sources cycled); returns [(folder, label)]."""
    dest = Path(dest)
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    sources = catalogue_sources()
    made = []
    for i in range(count):
        label, text = sources[i % len(sources)]
        sid = 900001 + i
        folder = dest / f"submission_{sid}"
        folder.mkdir()
        (folder / "submitted.py").write_text(text)
        meta = {":id": sid, ":created_at": "2026-11-30 23:59:00 -0600", ":score": 0.0,
                ":submitters": [{":name": f"Student {i + 1:03d} ({label})",
                                 ":email": f"student{i + 1:03d}@example.edu", ":sid": str(sid)}]}
        (folder / R.METADATA_FILE).write_text(yaml.safe_dump(meta, sort_keys=False))
        made.append((folder.name, label))
    return made


def run_once(export, out_dir, workers):
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path = out_dir / "grades.csv"
    for stale in (csv_path, R.results_dir(csv_path)):
        if stale.is_dir():
            shutil.rmtree(stale)
        elif stale.exists():
            stale.unlink()
    start = time.monotonic()
    rows = R.regrade(export, csv_path, workers=workers, threads_per_grade=1, report=False)
    seconds = time.monotonic() - start
    R.regrade(export, csv_path, report=True)          # nothing left to grade: the report only
    return rows, seconds


def add_parser(subparsers):
    p = subparsers.add_parser("regrade-bench", help="time regrade on a synthetic export with "
                                                    "1 and 2 workers (throughput, efficiency)",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("--count", type=int, default=24, help="submissions in the export (default 24)")
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                   help="worker counts to run, in order (default: 1 2)")
    p.add_argument("--keep", type=Path, default=C.ROOT / "build" / "regrade-bench",
                   help="folder for the export and each run's CSV, histogram and report "
                        "(default build/regrade-bench)")
    p.set_defaults(func=main)
    return p


def main(args):
    if args.count < 1 or min(args.workers) < 1:
        print("regrade-bench: --count and --workers must be at least 1", file=sys.stderr)
        return 2
    export = args.keep / "export"
    made = build_export(export, args.count)
    print(f"regrade-bench: {len(made)} submissions in {export} "
          f"({len({label for _, label in made})} distinct sources); "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
    results = []
    for n in args.workers:
        rows, seconds = run_once(export, args.keep / f"workers-{n}", n)
        errors = sum(r.get("status") != "graded" for r in rows)
        results.append((n, seconds, len(rows), errors))
        print(f"regrade-bench: {n} worker(s): {seconds:.0f} s for {len(rows)} submissions "
              f"({errors} not graded); load average {os.getloadavg()[0]:.1f}", flush=True)
    base = next(((s, k) for n, s, k, _ in results if n == 1), None)
    print(f"\n{'workers':>7}  {'seconds':>8}  {'per minute':>10}  {'efficiency':>10}")
    for n, seconds, k, _ in results:
        rate = 60 * k / seconds
        eff = f"{rate / (n * 60 * base[1] / base[0]):.2f}" if base else "-"
        print(f"{n:>7}  {seconds:>8.0f}  {rate:>10.2f}  {eff:>10}")
    print(f"\nreports: {', '.join(str(R.report_path(args.keep / f'workers-{n}' / 'grades.csv')) for n, *_ in results)}")
    return 0 if all(e == 0 for *_, e in results) else 1
