"""Build the student bundle: dist/student/ and dist/student.zip.

    python -m reference.build_bundle               # torch as requirements-student.txt pins it (PyPI)
    python -m reference.build_bundle --cpu-torch   # the bundle installs PyTorch's CPU-only build

The bundle: the stubs (generated here, never the reference), models.py, resnet18.pt, the public
data, the visible tests with graded_tests.json, the notebook, requirements.txt (a copy of
requirements-student.txt: Python 3.10 to 3.13) and a README rendered from
reference/student_README.md. Files are picked by name, never a folder wholesale, so nothing else
(hidden batch, grader, reference) can slip in; both outputs are renamed into place when complete.
"""
import argparse
import ast
import json
import os
import re
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
# What a student installs (the bundle's requirements.txt): requirements.txt's pins for what the MP
# uses, with Python 3.10's own where a pin needs 3.11 (devtests/test_python_version.py checks both).
STUDENT_REQUIREMENTS = C.ROOT / "requirements-student.txt"
STUDENT_PYTHONS = ("3.10", "3.13")   # the oldest and newest Python the student install resolves on
SUITES = C.ROOT / "grader" / "suites"
GRADED_TESTS_FILE = "graded_tests.json"    # in the visible tests' folder; read by its conftest
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
CPU_PACKAGES = ("torch", "torchvision")   # pinned in requirements-student.txt; "+cpu" builds on CPU_INDEX
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


def graded_tests():
    """Number -> {"name", "points"} of every graded test, in mpconfig.TESTS order: points from
    mpconfig, the name from its docstring's first line (Gradescope's row title), unnumbered."""
    names = {}
    for path in sorted(SUITES.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.FunctionDef):
                continue
            for deco in node.decorator_list:
                if (isinstance(deco, ast.Call) and getattr(deco.func, "id", None) == "graded"
                        and deco.args and isinstance(deco.args[0], ast.Constant)):
                    number = deco.args[0].value
                    first = (ast.get_docstring(node) or "").strip().splitlines()[:1]
                    if not first or not first[0].startswith(number + " "):
                        raise BundleError(f"{path.name}: {node.name}'s docstring must start with "
                                          f"its number {number}, then its name")
                    names[number] = first[0][len(number):].strip()
    if set(names) != set(C.TESTS):
        raise BundleError(f"graded tests in {SUITES} ({sorted(names)}) differ from mpconfig.TESTS "
                          f"({sorted(C.TESTS)})")
    return {number: {"name": names[number], "points": points} for number, (points, _) in C.TESTS.items()}


def visible_test_files():
    """Name -> text of the visible tests' folder: the tests, and the graded tests they are numbered by."""
    tests = sorted(C.VISIBLE_TESTS.glob("*.py"))
    if not any(p.name.startswith("test_") for p in tests):
        raise BundleError(f"no test_*.py in {C.VISIBLE_TESTS}")
    files = {p.name: p.read_text() for p in tests}
    files[GRADED_TESTS_FILE] = json.dumps(graded_tests(), indent=1) + "\n"
    return files


def write_visible_tests(folder):
    """The visible tests as a student gets them, into `folder` (a submission's tests/)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in visible_test_files().items():
        (folder / name).write_text(text)


def cpu_requirements(text):
    """The student requirements with torch and torchvision from PyTorch's CPU-only index ("+cpu" on Linux
    and Windows; macOS wheels have no CUDA). PEP 440 lets "torch==X" match "X+cpu"."""
    lines, found = [f"--extra-index-url {CPU_INDEX}"], set()
    for line in text.splitlines():
        m = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)==([^\s;#]+)\s*", line)
        if m and m.group(1).lower() in CPU_PACKAGES:
            name, version = m.group(1), m.group(2)
            found.add(name.lower())
            lines += [f'{name}=={version}+cpu; sys_platform != "darwin"',
                      f'{name}=={version}; sys_platform == "darwin"']
        else:
            lines.append(line)
    missing = set(CPU_PACKAGES) - found
    if missing:
        raise BundleError(f"requirements.txt pins no {', '.join(sorted(missing))} as NAME==VERSION")
    return "\n".join(lines) + "\n"


def render_readme(cpu_torch=False):
    hidden = C.HIDDEN_DIR / C.HIDDEN_FILE
    tiers = "\n".join(f"- accuracy at least {threshold:.2f}: {share:.0%} of the points"
                      for threshold, share in C.ACCURACY_TIERS)
    test = accuracy_test()
    facts = {
        "classes": ", ".join(C.CLASSES), "num_classes": C.NUM_CLASSES,
        "train_count": f"{sum(count_images(C.DATA_DIR / f) for f in C.TRAIN_FILES):,}",
        "test_count": f"{count_images(C.DATA_DIR / C.TEST_FILE):,}", "hidden_count": f"{count_images(hidden):,}",
        "points_table": points_table(), "accuracy_test": test, "accuracy_points": f"{C.TESTS[test][0]:g}",
        "accuracy_tiers": tiers + "\n- below the last tier: no points",
        "flip_images": f"{C.FLIP_CHECK_IMAGES:,}", "flip_gap": f"{C.FLIP_GAP_MAX:.2f}",
        "seed": C.RUN_MODEL_SEED, "epoch_time": EPOCH_TIME, "run_model_limit": run_model_limit_text(),
        "install": install_text(cpu_torch), "pythons": " to ".join(STUDENT_PYTHONS),
    }
    try:
        return string.Template(README_TEMPLATE.read_text()).substitute(facts)
    except (KeyError, ValueError) as exc:
        raise BundleError(f"{README_TEMPLATE}: bad or unknown placeholder {exc}") from exc


# The reference's run_model() (one epoch and its test pass) on a 2-core machine: docs/figures.md,
# "reference run_model()" (`python -m grader bench reference`); the idle figure is git's
# (commit 842bb69) until docs/figures.md has an idle row.
EPOCH_TIME = ("about 35 s when that machine was otherwise idle (run_model's whole run, its test "
              "pass included), and 4 to 5.5 minutes while other heavy jobs kept both its cores busy")


def run_model_limit_text():
    """run_model's time limit as the README states it, in the results page's words (test 7.1
    prints "limit on this machine: N s"). The one phrase to change with the limit's rule
    (grader/context.py: run_model_limit and Context._run, grader/deadline.py: run_model_share_s)."""
    from grader.deadline import run_model_share_s
    return (f"the smaller of two limits. The first is {C.RUN_MODEL_TIMEOUT_S:g} s on a 2-core "
            f"machine like the one above, scaled to the grading machine's speed and kept between "
            f"{C.RUN_MODEL_TIMEOUT_FLOOR_S:g} s and {C.RUN_MODEL_TIMEOUT_CAP_S:g} s. The second is "
            f"what is left of the autograder's {C.GRADESCOPE_TIMEOUT_MIN:g}-minute run after the "
            f"earlier tests, the scoring of your model and a safety margin: about "
            f"{run_model_share_s():.0f} s when your other functions run normally, and never less "
            f"than {C.RUN_MODEL_MIN_S:g} s. Test 7.1 on the results page prints the limit it "
            "applied as \"limit on this machine: N s\", and a run that takes longer fails with "
            "\"run_model() did not finish within its time limit of N s on this machine\"")


# Download sizes for Linux x86-64 and Python 3.11: docs/figures.md says how they were measured.
DEFAULT_DOWNLOAD = "about 3.1 GB to download (78 packages, 2.5 GB of them NVIDIA's CUDA libraries)"
CPU_DOWNLOAD = "about 0.27 GB to download (torch about 0.19 GB, everything else 0.08 GB)"


def install_text(cpu_torch):
    """The README's set-up section: the bundle's default install, then the other way."""
    versions = pinned(CPU_PACKAGES)
    cpu_pins = " ".join(f"{name}=={version}+cpu" for name, version in versions.items())
    steps = "    .venv/bin/python -m pip install -r requirements.txt"
    if cpu_torch:
        default = ("This folder's `requirements.txt` installs the CPU-only build of torch and "
                   f"torchvision ({', '.join(f'{n} {v}+cpu' for n, v in versions.items())}) from "
                   f"PyTorch's own index, {CPU_DOWNLOAD}:")
        other = ("A GPU is not needed. Should you want torch's CUDA build anyway (Linux: "
                 f"{DEFAULT_DOWNLOAD}), delete the `--extra-index-url` line and every `+cpu` line "
                 "of requirements.txt, and drop the `; sys_platform == \"darwin\"` markers "
                 "from the lines that remain, before installing.")
    else:
        default = ("**The default way** installs requirements.txt from PyPI. On Linux this pulls "
                   f"torch's CUDA build: {DEFAULT_DOWNLOAD}. (On Windows and macOS, PyPI's torch "
                   "has no CUDA and is far smaller.)")
        other = ("**The CPU-only way** (Linux and Windows; the better choice on Linux): first "
                 "torch and torchvision from PyTorch's CPU-only index, then the rest, "
                 f"{CPU_DOWNLOAD}:\n\n"
                 f"    .venv/bin/python -m pip install {cpu_pins} --index-url {CPU_INDEX}\n"
                 f"{steps}\n\n"
                 "The second command keeps the CPU build, since `torch==X` in requirements.txt "
                 "accepts `X+cpu`.")
    return "\n".join([default, "", steps, "", other])


def pinned(names):
    """name -> version pinned as name==version in the student requirements (lower-cased names)."""
    text = require(STUDENT_REQUIREMENTS, "part of the repository").read_text()
    found = {m.group(1).lower(): m.group(2) for m in re.finditer(r"(?m)^\s*([A-Za-z0-9_.-]+)==([^\s;#]+)", text)}
    missing = [n for n in names if n not in found]
    if missing:
        raise BundleError(f"{STUDENT_REQUIREMENTS.name} pins no {', '.join(missing)} as NAME==VERSION")
    return {n: found[n] for n in names}


def bundle_files():
    """Destination path in the bundle -> source path (None: generated content)."""
    data_hint = "build the data first: python3 dev.py setup"
    files = {
        "models.py": require(C.ROOT / "models.py", "part of the repository"),
        "resnet18.pt": require(C.CHECKPOINT, "the pretrained checkpoint (reference/pretrain.py)"),
        "requirements.txt": require(STUDENT_REQUIREMENTS, "part of the repository"),
        C.NOTEBOOK.name: require(C.NOTEBOOK, "generate it: python -m reference.make_notebook"),
    }
    for name in (*C.TRAIN_FILES, C.TEST_FILE, C.META_FILE):
        files[f"{C.DATA_DIR.name}/{name}"] = require(C.DATA_DIR / name, data_hint)
    return files


def build_tree(out, cpu_torch=False):
    out = Path(out)
    files = bundle_files()  # first: a missing input is named before anything is generated
    generated = {
        "submitted.py": make_stubs(C.REFERENCE_SOLUTION.read_text(), str(C.REFERENCE_SOLUTION)),
        "README.md": render_readme(cpu_torch),
    }
    generated.update({f"{C.VISIBLE_TESTS.name}/{name}": text for name, text in visible_test_files().items()})
    if cpu_torch:
        generated["requirements.txt"] = cpu_requirements(files.pop("requirements.txt").read_text())
    for dest, src in files.items():
        (out / dest).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, out / dest)
    for dest, text in generated.items():
        (out / dest).parent.mkdir(parents=True, exist_ok=True)
        (out / dest).write_text(text)


def write_zip(tree, zip_path, prefix):
    with open_atomic(zip_path, "wb") as out, zipfile.ZipFile(out, "w") as z:
        for path in sorted(p for p in Path(tree).rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(f"{prefix}/{path.relative_to(tree).as_posix()}", ZIP_DATE)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_STORED if path.suffix in STORED_SUFFIXES else zipfile.ZIP_DEFLATED
            with open(path, "rb") as src, z.open(info, "w") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)


def build(bundle=C.STUDENT_BUNDLE, zip_path=None, cpu_torch=False):
    """Build the bundle folder and its zip; on any error, leave the previous ones untouched."""
    bundle = Path(bundle)
    zip_path = Path(zip_path) if zip_path else bundle.with_suffix(".zip")
    bundle.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=bundle.parent, prefix=f".{bundle.name}."))
    try:
        tree = work / bundle.name
        tree.mkdir()
        build_tree(tree, cpu_torch)
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
    parser.add_argument("--cpu-torch", action="store_true",
                        help="the bundle's requirements.txt installs torch and torchvision from "
                             "PyTorch's CPU-only index (same versions, +cpu)")
    args = parser.parse_args(argv)
    try:
        bundle, zip_path = build(args.out, cpu_torch=args.cpu_torch)
    except BundleError as exc:
        print(f"build_bundle: {exc}", file=sys.stderr)
        return 2
    files = sum(1 for p in bundle.rglob("*") if p.is_file())
    print(f"build_bundle: wrote {bundle} ({files} files) and {zip_path} "
          f"({zip_path.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
