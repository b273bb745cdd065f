"""Build the student bundle: dist/student/ and dist/student.zip.

    python -m reference.build_bundle

The bundle holds the stubs (generated from the reference here, never the reference itself),
models.py, resnet18.pt, the public data batches, the visible tests, the notebook,
requirements.txt and a README rendered from reference/student_README.md with the facts of
mpconfig. Files are picked by name, never by copying a folder wholesale, so nothing else (the
hidden batch, the grader, the reference) can slip in. Both outputs are built under temporary
names and renamed into place only when complete.
"""
import argparse
import ast
import os
import shutil
import string
import sys
import tempfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import mpconfig as C  # noqa: E402
from grader.atomic_write import open_atomic  # noqa: E402
from grader.probes.cifar_batch import unpickle  # noqa: E402
from reference.make_stubs import make_stubs  # noqa: E402

README_TEMPLATE = C.ROOT / "reference" / "student_README.md"
ZIP_DATE = (1980, 1, 1, 0, 0, 0)           # fixed, so the same inputs give the same zip
STORED_SUFFIXES = {".pt", ""}              # weights and data batches barely compress: store them


class BundleError(Exception):
    """A missing or malformed input; the message names it and how to fix it."""


def require(path, hint):
    if not Path(path).is_file():
        raise BundleError(f"{path} not found: {hint}")
    return Path(path)


def count_images(path):
    return len(unpickle(path)[b"labels"])


def section_titles():
    """Section number -> title, from the reference's module-level section strings ("1.  ...")."""
    titles = {}
    for node in ast.parse(C.REFERENCE_SOLUTION.read_text()).body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            head = node.value.value.strip()
            number, _, title = head.partition(".")
            if number.isdigit() and number not in titles:
                titles[number] = " ".join(title.replace("(a)", "").split()).rstrip(".")
    return titles


def points_table():
    titles = section_titles()
    totals = {}
    for test, (points, _visibility) in C.TESTS.items():
        section = test.split(".")[0]
        totals.setdefault(section, []).append((test, points))
    rows = ["| Part | Tests | Points |", "|------|-------|--------|"]
    for section, tests in totals.items():
        rows.append(f"| {section}. {titles.get(section, '')} | {', '.join(t for t, _ in tests)} "
                    f"| {sum(p for _, p in tests):g} |")
    rows.append(f"| **Total** | | **{sum(p for p, _ in C.TESTS.values()):g}** |")
    return "\n".join(rows)


def accuracy_test():
    """The graded test of run_model's accuracy: the one with the most points in part 7."""
    return max((t for t in C.TESTS if t.startswith("7.")), key=lambda t: C.TESTS[t][0])


def render_readme():
    hidden = C.HIDDEN_DIR / C.HIDDEN_FILE
    tiers = "\n".join(f"- accuracy at least {threshold:.2f}: {share:.0%} of the points"
                      for threshold, share in C.ACCURACY_TIERS)
    test = accuracy_test()
    facts = {
        "classes": ", ".join(C.CLASSES),
        "num_classes": C.NUM_CLASSES,
        "train_count": f"{sum(count_images(C.DATA_DIR / f) for f in C.TRAIN_FILES):,}",
        "test_count": f"{count_images(C.DATA_DIR / C.TEST_FILE):,}",
        "hidden_count": f"{count_images(hidden):,}",
        "points_table": points_table(),
        "accuracy_test": test,
        "accuracy_points": f"{C.TESTS[test][0]:g}",
        "accuracy_tiers": tiers + "\n- below the last tier: no points",
        "flip_images": f"{C.FLIP_CHECK_IMAGES:,}",
        "flip_gap": f"{C.FLIP_GAP_MAX:.2f}",
        "seed": C.RUN_MODEL_SEED,
        "time_limit_min": f"{C.RUN_MODEL_TIMEOUT_S / 60:g}",
    }
    try:
        return string.Template(README_TEMPLATE.read_text()).substitute(facts)
    except (KeyError, ValueError) as exc:
        raise BundleError(f"{README_TEMPLATE}: bad or unknown placeholder {exc}") from exc


def bundle_files():
    """Destination path in the bundle -> source path (None: generated content)."""
    data_hint = "build the data first: python3 dev.py setup"
    files = {
        "models.py": require(C.ROOT / "models.py", "part of the repository"),
        "resnet18.pt": require(C.CHECKPOINT, "the pretrained checkpoint (reference/pretrain.py)"),
        "requirements.txt": require(C.ROOT / "requirements.txt", "part of the repository"),
        C.NOTEBOOK.name: require(C.NOTEBOOK, "generate it: python -m reference.make_notebook"),
    }
    for name in (*C.TRAIN_FILES, C.TEST_FILE, C.META_FILE):
        files[f"{C.DATA_DIR.name}/{name}"] = require(C.DATA_DIR / name, data_hint)
    tests = sorted(C.VISIBLE_TESTS.glob("*.py"))
    if not any(p.name.startswith("test_") for p in tests):
        raise BundleError(f"no test_*.py in {C.VISIBLE_TESTS}")
    for p in tests:
        files[f"{C.VISIBLE_TESTS.name}/{p.name}"] = p
    return files


def build_tree(out):
    out = Path(out)
    files = bundle_files()  # first: a missing input is named before anything is generated
    generated = {
        "submitted.py": make_stubs(C.REFERENCE_SOLUTION.read_text(), str(C.REFERENCE_SOLUTION)),
        "README.md": render_readme(),
    }
    for dest, src in files.items():
        (out / dest).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, out / dest)
    for dest, text in generated.items():
        (out / dest).write_text(text)


def write_zip(tree, zip_path, prefix):
    with open_atomic(zip_path, "wb") as out, zipfile.ZipFile(out, "w") as z:
        for path in sorted(p for p in Path(tree).rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(f"{prefix}/{path.relative_to(tree).as_posix()}", ZIP_DATE)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_STORED if path.suffix in STORED_SUFFIXES else zipfile.ZIP_DEFLATED
            with open(path, "rb") as src, z.open(info, "w") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)


def build(bundle=C.STUDENT_BUNDLE, zip_path=None):
    """Build the bundle folder and its zip; on any error, leave the previous ones untouched."""
    bundle = Path(bundle)
    zip_path = Path(zip_path) if zip_path else bundle.with_suffix(".zip")
    bundle.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=bundle.parent, prefix=f".{bundle.name}."))
    try:
        tree = work / bundle.name
        tree.mkdir()
        build_tree(tree)
        write_zip(tree, zip_path, bundle.name)  # the last step that can fail for want of input
        old = work / "old"
        if bundle.exists():
            os.replace(bundle, old)
        os.replace(tree, bundle)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return bundle, zip_path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=C.STUDENT_BUNDLE, help="bundle folder (zip: same name + .zip)")
    args = parser.parse_args(argv)
    try:
        bundle, zip_path = build(args.out)
    except BundleError as exc:
        print(f"build_bundle: {exc}", file=sys.stderr)
        return 2
    files = sum(1 for p in bundle.rglob("*") if p.is_file())
    print(f"build_bundle: wrote {bundle} ({files} files) and {zip_path} "
          f"({zip_path.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
