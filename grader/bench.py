"""Timings for docs/figures.md (python -m grader bench ...), each the median of --runs runs.

    bench [grade]    grade the reference: seconds per suite, total seconds, peak memory
    bench data       a full data build into a temporary folder
    bench reference  the reference run_model(): seconds and accuracy on the hidden batch
                     (--seeds N: one run per seed 0..N-1, each of which must reach full credit)
    bench validate   grader/validate.py's own benchmark

Every run is a fresh process, so no run's caches or peak memory leak into the next. Each target
ends with its figure as a row of docs/figures.md's table: figure, value, date (UTC), commit,
machine (cores, CPU model, memory, container limits), command, conditions (1-minute load average
at start and end). Goals for `bench grade` on 2 cores: <= 60 s and <= 2.5 GB peak.
"""
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import mpconfig as C
from grader import container

GOAL_SECONDS = 60
GOAL_PEAK_MB = 2.5 * 1024
TARGETS = ("grade", "data", "reference", "validate")


def add_arguments(parser):
    parser.add_argument("target", nargs="?", default="grade", choices=TARGETS,
                        help="what to time (default: grade)")
    parser.add_argument("--runs", type=int, default=3, help="runs; the median is reported (default 3)")
    parser.add_argument("--seeds", type=int, default=None,
                        help="reference only: one run for each seed 0..N-1 (default: --runs runs, "
                             "all with the grader's seed)")
    parser.set_defaults(func=main)
    return parser


def _in_fresh_process(*worker_args):
    """Run this module's worker in a new interpreter; returns the JSON it writes."""
    with tempfile.TemporaryDirectory(prefix="mp09-bench-") as tmp:
        out = Path(tmp) / "out.json"
        done = subprocess.run([sys.executable, "-m", "grader.bench", *worker_args, str(out)],
                              cwd=C.ROOT)
        if done.returncode != 0 or not out.is_file():
            raise RuntimeError(f"bench worker {' '.join(worker_args)} failed (exit {done.returncode})")
        return json.loads(out.read_text())


def commit():
    """The checked-out commit, "+changes" when tracked files differ from it (the figure is then not
    the commit's alone); "unknown" outside a git checkout."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=C.ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=C.ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+changes" if dirty else "")


def cpu_model():
    """The CPU's model name as /proc/cpuinfo (and lscpu) give it."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine():
    """Cores, CPU model, memory, and the container's limits where a cgroup sets any."""
    cores = len(os.sched_getaffinity(0))
    try:
        pages, page = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        memory = f", {pages * page / 2**30:.0f} GB RAM"
    except (ValueError, OSError):
        memory = ""
    cpus, limit_mb = container.cpu_limit(), container.memory_limit_mb()
    if cpus < cores or limit_mb is not None:
        box = f"container {cpus:g} CPU / {limit_mb:.0f} MB" if limit_mb else f"container {cpus:g} CPU"
    else:
        box = "no container limit"
    return f"{cores} cores, {cpu_model()}{memory}, {box}"


class Figure:
    """One row of docs/figures.md: started before the runs (load at start), printed after them."""

    def __init__(self, command):
        self.command = command
        self.date, self.commit, self.machine = time.strftime("%Y-%m-%d", time.gmtime()), commit(), machine()
        self.load_start = os.getloadavg()[0]

    def row(self, figure, value):
        conditions = f"1-min load {self.load_start:.1f} at start, {os.getloadavg()[0]:.1f} at end"
        cells = [figure, value, self.date, self.commit, self.machine, f"`{self.command}`", conditions]
        return "| " + " | ".join(cells) + " |"

    def print_row(self, figure, value):
        print("\nrow for docs/figures.md (figure | value | date | commit | machine | command | conditions):")
        print(self.row(figure, value), flush=True)


def _median(runs, key):
    return statistics.median(r[key] for r in runs)


def bench_grade(runs):
    figure = Figure(f"python -m grader bench grade --runs {runs}")
    results = []
    for i in range(runs):
        r = _in_fresh_process("_grade")
        results.append(r)
        print(f"run {i + 1}/{runs}: {r['total_s']:.1f} s, score {r['score']:g}/{r['max_score']:g}, "
              f"peak {r['peak_mb']:.0f} MB", flush=True)
    print(f"\ngrading the reference, median of {runs}:")
    print(f"  {'context preload (hidden batch, reference, checkpoint)':<58} "
          f"{_median(results, 'preload_s'):6.1f} s")
    for suite in results[0]["suites"]:
        secs = statistics.median(r["suites"].get(suite, 0.0) for r in results)
        print(f"  {suite:<58} {secs:6.1f} s")
    total, peak = _median(results, "total_s"), max(r["peak_mb"] for r in results)
    print(f"  {'total (as results.json execution_time)':<58} {total:6.1f} s   goal <= {GOAL_SECONDS} s")
    print(f"  peak memory, grader + largest probe: {peak:.0f} MB (own {_median(results, 'self_mb'):.0f}"
          f" + probe {_median(results, 'children_mb'):.0f})   goal <= {GOAL_PEAK_MB:.0f} MB")
    ok = total <= GOAL_SECONDS and peak <= GOAL_PEAK_MB and all(
        r["score"] == r["max_score"] for r in results)
    print("  within goals" if ok else "  NOT within goals (or the reference lost points)")
    suites = ", ".join(f"{suite} {statistics.median(r['suites'].get(suite, 0.0) for r in results):.1f} s"
                       for suite in results[0]["suites"])
    figure.print_row(f"grading the reference, median of {runs}",
                     f"{total:.1f} s (preload {_median(results, 'preload_s'):.1f} s, {suites}); "
                     f"peak {peak:,.0f} MB (grader {_median(results, 'self_mb'):,.0f} + largest probe "
                     f"{_median(results, 'children_mb'):,.0f})")
    return 0 if ok else 1


def bench_data(runs):
    figure = Figure(f"python -m grader bench data --runs {runs}")
    times = [_in_fresh_process("_data")["seconds"] for _ in range(runs)]
    runs_text = ", ".join(f"{t:.1f}" for t in times)
    print(f"data build from the source archive, median of {runs}: {statistics.median(times):.1f} s "
          f"(runs: {runs_text})")
    figure.print_row(f"data build from the source archive, median of {runs}",
                     f"{statistics.median(times):.1f} s (runs {runs_text} s)")
    return 0


def bench_reference(runs, seeds=None):
    plan = list(range(seeds)) if seeds else [C.RUN_MODEL_SEED] * runs
    figure = Figure("python -m grader bench reference " + (f"--seeds {seeds}" if seeds else f"--runs {runs}"))
    results = []
    for i, seed in enumerate(plan):
        r = _in_fresh_process("_reference", str(seed))
        results.append(r)
        print(f"run {i + 1}/{len(plan)} (seed {seed}): run_model {r['seconds']:.1f} s, "
              f"hidden accuracy {r['accuracy']:.4f}", flush=True)
    worst = min(r["accuracy"] for r in results)
    full_credit = C.ACCURACY_TIERS[0][0]
    print(f"reference run_model(), median of {len(plan)}: {_median(results, 'seconds'):.1f} s, "
          f"hidden-batch accuracy {_median(results, 'accuracy'):.4f} (min {worst:.4f}; "
          f"full credit from {full_credit})")
    seeds_text = f"seeds 0-{len(plan) - 1}" if seeds else f"seed {C.RUN_MODEL_SEED}"
    figure.print_row(f"reference run_model(), median of {len(plan)} ({seeds_text}), {C.PROBE_THREADS} threads",
                     f"{_median(results, 'seconds'):.1f} s; hidden accuracy {_median(results, 'accuracy'):.4f} "
                     f"(min {worst:.4f}, max {max(r['accuracy'] for r in results):.4f})")
    return 0 if worst >= full_credit else 1


def bench_validate(args):
    try:
        from grader import validate
    except ImportError as exc:
        print(f"bench validate: grader/validate.py is not available ({exc})", file=sys.stderr)
        return 1
    figure = Figure("python -m grader bench validate")
    start = time.monotonic()
    code = validate.bench(args) or 0
    figure.print_row(f"validate, whole catalogue, {C.VALIDATE_JOBS} entries at once",
                     f"{time.monotonic() - start:,.0f} s, " + ("no mismatch" if code == 0 else f"exit {code}"))
    return code


def main(args):
    if args.runs < 1:
        print(f"bench: --runs must be at least 1, got {args.runs}", file=sys.stderr)
        return 2
    if args.target == "validate":
        return bench_validate(args)
    if args.target == "reference":
        return bench_reference(args.runs, args.seeds)
    if args.seeds is not None:
        print("bench: --seeds applies to the reference only", file=sys.stderr)
        return 2
    return {"grade": bench_grade, "data": bench_data}[args.target](args.runs)


def _work_grade():
    from grader import grade
    from grader.submission import reference_submission
    with reference_submission() as folder:
        outcome = grade.run(folder)
    res = outcome.results
    if outcome.grader_error:
        raise RuntimeError(outcome.grader_error)
    suites = {}
    for test_id, secs in outcome.test_seconds.items():   # module.Class.test -> per module
        suite = test_id.split(".")[-3] if test_id.count(".") >= 2 else test_id
        suites[suite] = suites.get(suite, 0.0) + secs
    own, kids = grade.peak_memory_mb()
    return {"total_s": res["execution_time"], "preload_s": outcome.preload_seconds,
            "suites": suites, "score": res["score"],
            "max_score": sum(t["max_score"] for t in res["tests"]),
            "self_mb": own, "children_mb": kids, "peak_mb": own + kids}


def _work_data():
    from reference import build_data
    with tempfile.TemporaryDirectory(prefix="mp09-bench-data-") as tmp:
        start = time.perf_counter()
        build_data.build(out_dir=Path(tmp) / "public", hidden_dir=Path(tmp) / "hidden")
        seconds = time.perf_counter() - start
        problems = build_data.verify(Path(tmp) / "public", Path(tmp) / "hidden")
    if problems:
        raise RuntimeError("the benchmark build differs from the manifest: " + "; ".join(problems))
    return {"seconds": seconds}


def _work_reference(seed):
    """The reference in-process, seeded like the run_model probe; its accuracy on the hidden batch."""
    import numpy as np
    import torch
    with tempfile.TemporaryDirectory(prefix="mp09-bench-ref-") as tmp:
        tmp = Path(tmp)
        shutil.copyfile(C.REFERENCE_SOLUTION, tmp / "submitted.py")
        (tmp / C.DATA_DIR.name).symlink_to(C.DATA_DIR)
        (tmp / C.CHECKPOINT.name).symlink_to(C.CHECKPOINT)
        os.chdir(tmp)
        sys.path.insert(0, str(tmp))
        torch.set_num_threads(C.PROBE_THREADS)
        import submitted
        seed = int(seed)
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)
        start = time.perf_counter()
        model = submitted.run_model()
        seconds = time.perf_counter() - start
        hidden = submitted.build_dataset([str(C.HIDDEN_DIR / C.HIDDEN_FILE)],
                                         transform=submitted.get_preprocess_transform("test"))
        loader = submitted.build_dataloader(hidden, {"batch_size": 256, "shuffle": False})
        accuracy = submitted.test(loader, model)
    return {"seconds": seconds, "accuracy": accuracy}


WORKERS = {"_grade": _work_grade, "_data": _work_data, "_reference": _work_reference}

if __name__ == "__main__":
    name, *extra, out_path = sys.argv[1:]
    Path(out_path).write_text(json.dumps(WORKERS[name](*extra)))
