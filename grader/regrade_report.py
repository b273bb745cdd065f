"""The instructor report of a regrade: what the class got wrong, without opening 500 results.

GRADES_report.md and its plots, beside the CSV (docs/regrading.md). Failure
messages are grouped by first line with numbers masked. It reads only the CSV's rows and the saved
GRADES_results/NAME.json files, so it can be rewritten from a finished or interrupted run.
"""
import json
import re
import statistics
from collections import Counter, defaultdict
from datetime import datetime, timezone
from pathlib import Path

import mpconfig as C
from grader.atomic_write import open_atomic, write_text
from grader.results import short_name

TOP_MESSAGES = 5
EPS = 1e-6
FAILED_PREFIX = "Test Failed: "           # what gradescope-utils puts before a failure message
TIMED_OUT = re.compile(r"timed out|time limit|did not finish within", re.I)
CRASHED = re.compile(r"killed by signal|ran out of memory|exited with code -?\d+ before returning|"
                     r"could not use what your code's process returned|refused its answer file|"
                     r"Grader error", re.I)
NUMBER = re.compile(r"-?\d+(\.\d+)?(e-?\d+)?")


def save_figure(fig, png):
    """Write a matplotlib figure to png through a temporary sibling and a rename."""
    import matplotlib.pyplot as plt
    png = Path(png)
    try:
        with open_atomic(png, "wb") as f:
            fig.savefig(f, format="png", dpi=100)
    finally:
        plt.close(fig)
    return png


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def load_results(results_dir, names):
    """{submission: results.json dict} for those saved (a missing or unreadable file is skipped)."""
    found = {}
    for name in names:
        try:
            found[name] = json.loads((Path(results_dir) / f"{name}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
    return found


def first_line(output):
    text = str(output or "")
    if text.startswith(FAILED_PREFIX):
        text = text[len(FAILED_PREFIX):]
    return next((ln.strip() for ln in text.splitlines() if ln.strip()), "(no message)")


def _float(x):
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def _leader(results, name):
    for entry in results.get("leaderboard") or []:
        if entry.get("name") == name:
            return _float(entry.get("value"))
    return None


def _md(text, limit=160):
    """One table-safe line of Markdown."""
    text = re.sub(r"\s+", " ", str(text)).strip()
    if len(text) > limit:
        text = text[:limit - 1] + "…"
    return text.replace("|", "\\|").replace("`", "'")


def score_section(rows, histogram):
    totals = [_float(r.get("total")) for r in rows if r.get("status") == "graded"]
    totals = [t for t in totals if t is not None]
    top = max([_float(r.get("max_total")) or 0 for r in rows] + [0]) or 100.0
    out = ["## Score distribution", ""]
    if histogram is not None and Path(histogram).is_file():
        out += [f"![histogram of the total scores]({Path(histogram).name})", ""]
    if not totals:
        return out + ["No submission was graded.", ""]
    q = statistics.quantiles(totals, n=4) if len(totals) > 1 else [totals[0]] * 3
    out += [f"{len(totals)} graded: mean {statistics.mean(totals):.1f}, median {q[1]:.1f} "
            f"(quartiles {q[0]:.1f} and {q[2]:.1f}), lowest {min(totals):g}, highest {max(totals):g} "
            f"(out of {top:g}).", ""]
    bands = ((1.0, 1.0, "full marks"), (0.9, 1.0, "90 % to full"), (0.7, 0.9, "70-90 %"),
             (0.5, 0.7, "50-70 %"), (0.0, 0.5, "below 50 %"))
    out += ["| score | submissions |", "|---|---:|"]
    for lo, hi, label in bands:
        if lo == hi:
            n = sum(t >= top - EPS for t in totals)
        else:
            n = sum(lo * top - EPS <= t < hi * top - EPS for t in totals)
        out.append(f"| {label} | {n} |")
    return out + [""]


def tests_section(results_by_name):
    """Per test: who lost points, and the most frequent first lines of their messages."""
    meta, lost, messages, scores = {}, defaultdict(int), defaultdict(Counter), defaultdict(list)
    examples = defaultdict(dict)
    for results in results_by_name.values():
        for t in results.get("tests") or []:
            num = str(t.get("number", ""))
            mx, sc = _float(t.get("max_score")) or 0.0, _float(t.get("score")) or 0.0
            meta.setdefault(num, (short_name(t), mx))
            scores[num].append(sc)
            if sc < mx - EPS:
                lost[num] += 1
                line = first_line(t.get("output"))
                group = NUMBER.sub("#", line)
                messages[num][group] += 1
                examples[num].setdefault(group, Counter())[line] += 1
    out = ["## What the class got wrong, test by test", ""]
    if not meta:
        return out + ["No results to read.", ""]
    n = len(results_by_name)
    order = sorted(meta, key=lambda k: [int(p) if p.isdigit() else p for p in k.split(".")])
    out += ["| test | points | lost points | mean score | most frequent failure (first line) |",
            "|---|---:|---:|---:|---|"]
    for num in order:
        name, mx = meta[num]
        top = messages[num].most_common(1)
        common = (f"{top[0][1]}× {_md(examples[num][top[0][0]].most_common(1)[0][0], 90)}"
                  if top else "")
        out.append(f"| {num} {_md(name, 60)} | {mx:g} | {lost[num]} of {n} | "
                   f"{statistics.mean(scores[num]):.2f} | {common} |")
    out.append("")
    for num in order:
        if not messages[num]:
            continue
        name, mx = meta[num]
        out += [f"### {num} {_md(name, 100)}: {lost[num]} of {n} lost points", ""]
        for group, count in messages[num].most_common(TOP_MESSAGES):
            variants = examples[num][group]
            shown = variants.most_common(1)[0][0]
            more = f" ({len(variants)} wordings)" if len(variants) > 1 else ""
            out.append(f"- {count}× {_md(shown, 300)}{more}")
        rest = len(messages[num]) - TOP_MESSAGES
        if rest > 0:
            out.append(f"- … and {rest} other message(s)")
        out.append("")
    return out


def accuracy_plot(results_by_name, png):
    """Scatter of run_model's accuracy against its seconds; None when no run_model finished."""
    points = []
    for name, results in results_by_name.items():
        tests = {str(t.get("number")): t for t in results.get("tests") or []}
        finished = tests.get("7.1", {}).get("status") == "passed"
        acc, sec = _leader(results, "accuracy"), _leader(results, "seconds")
        if finished and acc is not None and sec is not None:
            t73 = tests.get("7.3", {})
            share = (_float(t73.get("score")) or 0) / (_float(t73.get("max_score")) or 1)
            points.append((sec, acc, share))
    if not points:
        return None, 0
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    xs, ys, cs = zip(*points)
    sc = ax.scatter(xs, ys, c=cs, cmap="viridis", vmin=0, vmax=1, edgecolor="black", linewidth=0.4)
    fig.colorbar(sc, ax=ax, label="share of test 7.3's points")
    for threshold, share in C.ACCURACY_TIERS:
        ax.axhline(threshold, color="grey", linestyle="--", linewidth=0.8)
        ax.annotate(f"{share:.0%} at {threshold:g}", (1.0, threshold), xycoords=("axes fraction", "data"),
                    ha="right", va="bottom", fontsize=8, color="grey")
    ax.set_xlabel("run_model seconds (leaderboard)")
    ax.set_ylabel("hidden-set accuracy")
    ax.set_title(f"run_model: {len(points)} submissions that finished and returned a model")
    fig.tight_layout()
    return save_figure(fig, png), len(points)


def accuracy_section(results_by_name, png):
    out = ["## run_model: accuracy against seconds", ""]
    path, n = accuracy_plot(results_by_name, png)
    if path is None:
        return out + ["No submission's run_model finished and returned a model.", ""]
    accs = sorted(_leader(r, "accuracy") for r in results_by_name.values()
                  if _leader(r, "accuracy") is not None)
    full = C.ACCURACY_TIERS[0][0]
    reached = sum(a >= full for a in accs)
    left_out = len(results_by_name) - n
    return out + [f"![run_model accuracy against seconds]({path.name})", "",
                  f"{reached} of {len(results_by_name)} reached full credit (accuracy ≥ {full:g}); "
                  f"dashed lines: the tiers of test 7.3 (mpconfig.ACCURACY_TIERS)."
                  + (f" Not shown: {left_out} whose run_model did not finish or return a model "
                     "(test 7.1 failed)." if left_out else ""), ""]


def trouble(rows, results_by_name, key):
    """[(submission, row, kind, what)] for each that timed out or crashed something."""
    found = []
    for row in rows:
        name = row.get(key, "")
        if row.get("status") != "graded":
            kind = "timed out" if TIMED_OUT.search(row.get("error", "")) else "grade failed"
            found.append((name, row, kind, row.get("error", "")))
            continue
        results = results_by_name.get(name) or {}
        hits = {}
        for t in results.get("tests") or []:
            if (_float(t.get("score")) or 0) >= (_float(t.get("max_score")) or 0) - EPS:
                continue             # a passed test's words ("within the time limit") say nothing
            for line in str(t.get("output", "")).removeprefix(FAILED_PREFIX).splitlines():
                for kind, rx in (("timed out", TIMED_OUT), ("crashed", CRASHED)):
                    if rx.search(line) and kind not in hits:
                        hits[kind] = (str(t.get("number", "")), line.strip())
        for kind, (num, line) in hits.items():
            found.append((name, row, kind, f"test {num}: {line}"))
    return found


def trouble_section(rows, results_by_name, key):
    out = ["## Submissions that timed out or crashed", ""]
    found = trouble(rows, results_by_name, key)
    if not found:
        return out + ["None.", ""]
    names = {name for name, *_ in found}
    out += [f"{len(names)} submission(s). \"crashed\": a probe was killed (signal, memory) or "
            "exited early, or the grader itself failed on it; \"grade failed\": no results.json "
            "(the row's error says why).", "",
            "| submission | student | total | what | first message |", "|---|---|---:|---|---|"]
    for name, row, kind, what in found:
        out.append(f"| {_md(name, 40)} | {_md(row.get('name', ''), 40)} | {row.get('total', '')} | "
                   f"{kind} | {_md(what, 200)} |")
    return out + [""]


def write_report(path, rows, results_dir, histogram=None, *, key="submission", test_prefix="test ",
                 extra=()):
    """Write the Markdown report (and its accuracy plot) for `rows`, then the lines of `extra`
    (the similarity section); returns its path."""
    path = Path(path)
    results_by_name = load_results(results_dir, [r.get(key, "") for r in rows
                                                 if r.get("status") == "graded"])
    graded = sum(r.get("status") == "graded" for r in rows)
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"# Regrade report: {path.stem.removesuffix('_report')}", "",
             f"{len(rows)} submissions: {graded} graded, {len(rows) - graded} not graded "
             f"(see the CSV's error column). Written {when}; the per-test columns of the CSV "
             f"start with '{test_prefix}'.", ""]
    lines += score_section(rows, histogram)
    lines += tests_section(results_by_name)
    lines += accuracy_section(results_by_name, path.with_name(path.stem + "_accuracy.png"))
    lines += trouble_section(rows, results_by_name, key)
    lines += list(extra)
    text = "\n".join(lines).rstrip() + "\n"
    write_text(path, text)
    return path
