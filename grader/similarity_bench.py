"""Time the similarity check on synthetic courses, and measure the spread among independent
solutions (the two figures in docs/similarity.md).

    python -m grader.similarity_bench [--counts 250 500 1000] [--seed 0]
    python -m grader.similarity_bench --spread DIR --stub FILE   # every DIR/*.py against every other

Each synthetic submission (about 10 KB) is the reference solution with each solution region
kept (probability KEEP) or replaced by generated code of its own, its local names renamed at
random, its top-level definitions shuffled and some docstrings dropped: a course where a pair
shares anything from a little to most of its code. The export is built in a temporary folder.
"""
import argparse
import ast
import random
import re
import sys
import tempfile
import time
from pathlib import Path

import mpconfig as C

KEEP = 0.5
WORDS = ("data", "item", "batch", "img", "lbl", "net", "opt", "res", "tmp", "val", "acc", "out",
         "feat", "xs", "ys", "buf", "cnt", "step", "arr", "obj")


def local_names(text):
    """Parameters and assigned names, except top-level definitions, self and dunders."""
    tree = ast.parse(text)
    top = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    names = {n.arg for n in ast.walk(tree) if isinstance(n, ast.arg)}
    names |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    return sorted(n for n in names - top if n != "self" and not n.startswith("__"))


def renamed(text, rng):
    """Every local name replaced by a random one, the same everywhere in the file."""
    names = local_names(text)
    new = {n: f"{rng.choice(WORDS)}_{i}_{rng.randint(0, 99)}" for i, n in enumerate(names)}
    if not new:
        return text
    return re.sub(r"\b(" + "|".join(map(re.escape, sorted(names, key=len, reverse=True))) + r")\b",
                  lambda m: new[m.group(1)], text)


def reordered(text, rng):
    """Top-level definitions in a random order (each with the section string just above it)."""
    tree = ast.parse(text)
    lines = text.splitlines(keepends=True)
    body = tree.body
    first = next((i for i, n in enumerate(body) if isinstance(n, (ast.FunctionDef, ast.ClassDef))), len(body))
    # A section header ("""3. (a) ...""") goes with the definition after it.
    while first > 0 and isinstance(body[first - 1], ast.Expr) and first - 1 > 0:
        first -= 1
    head_end = body[first].lineno - 1 if first < len(body) else len(lines)
    chunks, start = [], head_end
    for i in range(first, len(body)):
        node = body[i]
        if isinstance(node, ast.Expr) and i + 1 < len(body):
            continue
        chunks.append("".join(lines[start:node.end_lineno]).rstrip("\n") + "\n\n\n")
        start = node.end_lineno
    rng.shuffle(chunks)
    return "".join(lines[:head_end]) + "".join(chunks) + "".join(lines[start:])


def generated_code(indent, rng, lines):
    """Statements of no meaning but of their own: a different solution's stand-in."""
    out, names = [], ["v0"]
    for i in range(lines):
        a, b = rng.choice(names), rng.choice(names)
        op = rng.choice("+-*")
        out.append(f"{indent}v{i + 1} = {a} {op} {rng.randint(2, 999)} * ({b} {rng.choice('+-')} {rng.randint(1, 99)})")
        names.append(f"v{i + 1}")
    return [f"{indent}v0 = {rng.randint(1, 9)}"] + out


def synthetic(reference, rng, keep=KEEP):
    """One synthetic submission from the reference text (markers in it, as reference/submitted.py)."""
    from reference.make_stubs import END, START
    out, inside, region = [], False, []
    for line in reference.splitlines():
        stripped = line.strip()
        if stripped == START:
            inside, region, indent = True, [], line[: len(line) - len(line.lstrip())]
            out.append(line)
        elif stripped == END:
            if rng.random() < keep:
                out += region
            else:
                out += generated_code(indent, rng, max(2, len(region) + rng.randint(-2, 4)))
            out.append(line)
            inside = False
        elif inside:
            region.append(line)
        else:
            out.append(line)
    text = "\n".join(out) + "\n"
    return reordered(renamed(without_docstrings(text, rng), rng), rng)


def without_docstrings(text, rng, share=0.8):
    """About `share` of the function docstrings dropped (students trim them): about 10 KB a file."""
    lines = text.splitlines(keepends=True)
    drop = set()
    for node in ast.walk(ast.parse(text)):
        if (isinstance(node, ast.FunctionDef) and len(node.body) > 1 and isinstance(node.body[0], ast.Expr)
                and isinstance(node.body[0].value, ast.Constant) and rng.random() < share):
            drop.update(range(node.body[0].lineno - 1, node.body[0].end_lineno))
    return "".join(ln for i, ln in enumerate(lines) if i not in drop)


def make_export(root, count, seed=0):
    rng = random.Random(seed)
    reference = C.REFERENCE_SOLUTION.read_text(encoding="utf-8")
    sizes = []
    for i in range(count):
        folder = Path(root) / f"submission_{i:05d}"
        folder.mkdir(parents=True)
        text = synthetic(reference, rng)
        (folder / "submitted.py").write_text(text, encoding="utf-8")
        sizes.append(len(text.encode("utf-8")))
    return sum(sizes) / len(sizes)


def run(counts, seed=0):
    from grader import similarity as S
    from grader.similarity_cli import export_submissions
    rows = []
    for n in counts:
        with tempfile.TemporaryDirectory(prefix="mp09-similarity-") as tmp:
            mean_size = make_export(Path(tmp) / "export", n, seed)
            t0 = time.perf_counter()
            entries = S.read_all(export_submissions(Path(tmp) / "export"))
            t1 = time.perf_counter()
            res = S.result_of(entries)
            t2 = time.perf_counter()
            S.write_outputs(res, Path(tmp) / "similarity.md", Path(tmp) / "similarity.html", "bench")
            t3 = time.perf_counter()
        rows.append((n, mean_size, t1 - t0, t2 - t1, t3 - t2, t3 - t0, res))
        print(f"{n} submissions (mean {mean_size / 1024:.1f} KB): read + fingerprint {t1 - t0:.1f} s, "
              f"compare {t2 - t1:.1f} s ({res.exact_pairs:,} of {res.compared_pairs:,} pairs exactly), "
              f"report + HTML {t3 - t2:.1f} s; total {t3 - t0:.1f} s; {res.above:,} pairs at or above "
              "the threshold", flush=True)
    return rows


def spread(folder, stub):
    """Scores of every pair of folder/*.py (independent solutions), `stub` as boilerplate."""
    import itertools
    from statistics import NormalDist, mean, median, quantiles, stdev

    import numpy as np
    from copydetect import compare_files

    from grader import similarity as S
    boiler = np.array(sorted(S._fingerprint("stub.py", Path(stub).read_text(encoding="utf-8")).hashes))
    fps = {p.stem: S._fingerprint(p.name, p.read_text(encoding="utf-8"), boiler)
           for p in sorted(Path(folder).glob("*.py")) if p.resolve() != Path(stub).resolve()}
    scores = {"mean": [], "smaller": [], "larger": []}
    best = (0, "", "")
    for a, b in itertools.combinations(fps, 2):
        _, (sa, sb), _ = compare_files(fps[a], fps[b])
        scores["mean"].append((sa + sb) / 2)
        scores["smaller"].append(min(sa, sb))
        scores["larger"].append(max(sa, sb))
        best = max(best, ((sa + sb) / 2, a, b))
    print(f"{len(fps)} files, {len(scores['mean'])} pairs; most similar: {best[1]} and {best[2]} ({best[0]:.3f})")
    for name, v in scores.items():
        q = quantiles(v, n=20)
        print(f"{name} of the two: median {median(v):.3f}, 90th percentile {q[17]:.3f}, "
              f"95th {q[18]:.3f}, largest {max(v):.3f}")
    m, sd = mean(scores["mean"]), stdev(scores["mean"])
    for students in (100, 500):
        pairs = students * (students - 1) // 2
        print(f"normal fit (mean {m:.3f}, sd {sd:.3f}): largest of {pairs:,} independent pairs "
              f"({students} students) near {m + NormalDist().inv_cdf(1 - 1 / pairs) * sd:.3f}")
    # Each file against disguised copies of itself: what a copy scores, and its shared-fingerprint share.
    listed_shares = []
    for every in (8, 4, 2):
        worst = 1.0
        for p in sorted(Path(folder).glob("*.py")):
            if p.stem not in fps:
                continue
            for seed in range(3):
                copy = S._fingerprint("copy.py", padded(p.read_text(encoding="utf-8"), every,
                                                        random.Random(seed)), boiler)
                _, (sa, sb), _ = compare_files(fps[p.stem], copy)
                shared = len(fps[p.stem].hashes & copy.hashes)
                share = (shared / len(fps[p.stem].hashes) + shared / len(copy.hashes)) / 2
                worst = min(worst, (sa + sb) / 2)
                if (sa + sb) / 2 >= C.SIMILARITY_THRESHOLD:
                    listed_shares.append((share, share / ((sa + sb) / 2)))
        print(f"copies with a statement inserted after every {every} lines of code: lowest mean {worst:.3f}")
    print(f"{len(listed_shares)} copies at or above {C.SIMILARITY_THRESHOLD}: shared-fingerprint share "
          f"at least {min(s for s, _ in listed_shares):.3f} (at least {min(r for _, r in listed_shares):.2f} "
          "times their mean score)")


def padded(text, every, rng):
    """text with a meaningless assignment after every `every`-th simple line of code."""
    out, n = [], 0
    for line in text.splitlines():
        out.append(line)
        s = line.strip()
        simple = (s and not s.startswith(("def ", "class ", "@", '"""', "else", "elif", "except",
                                          "return", "raise", "#"))
                  and not s.endswith((",", "(", "[", "{", "\\")) and s.count("(") == s.count(")")
                  and s.count("[") == s.count("]"))
        if simple:
            n += 1
            if n % every == 0:
                indent = line[: len(line) - len(line.lstrip())] + ("    " if s.endswith(":") else "")
                out.append(f"{indent}dbg_{rng.randint(0, 999)} = {rng.randint(0, 99)}")
    return "\n".join(out) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--counts", type=int, nargs="+", default=[250, 500, 1000])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--spread", type=Path, metavar="DIR", help="folder of independent solutions")
    p.add_argument("--stub", type=Path, help="their stub (boilerplate), with --spread")
    args = p.parse_args(argv)
    if args.spread:
        if not args.stub:
            p.error("--spread needs --stub")
        spread(args.spread, args.stub)
        return 0
    rows = run(args.counts, args.seed)
    print("\n| submissions | mean size | read + fingerprint | compare (pairs scored exactly) "
          "| report + HTML | total | pairs at or above the threshold |\n|---:|---:|---:|---:|---:|---:|---:|")
    for n, size, fp, cmp, rep, total, res in rows:
        print(f"| {n:,} | {size / 1024:.1f} KB | {fp:.1f} s | {cmp:.1f} s ({res.exact_pairs:,} of "
              f"{res.compared_pairs:,}) | {rep:.1f} s | {total:.1f} s | {res.above:,} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
