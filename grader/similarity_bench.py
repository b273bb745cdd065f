"""Time the similarity check on synthetic courses (the figure in docs/similarity.md).

    python -m grader.similarity_bench [--counts 250 500 1000] [--seed 0]

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


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--counts", type=int, nargs="+", default=[250, 500, 1000])
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    rows = run(args.counts, args.seed)
    print("\n| submissions | mean size | read + fingerprint | compare (pairs scored exactly) "
          "| report + HTML | total | pairs at or above the threshold |\n|---:|---:|---:|---:|---:|---:|---:|")
    for n, size, fp, cmp, rep, total, res in rows:
        print(f"| {n:,} | {size / 1024:.1f} KB | {fp:.1f} s | {cmp:.1f} s ({res.exact_pairs:,} of "
              f"{res.compared_pairs:,}) | {rep:.1f} s | {total:.1f} s | {res.above:,} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
