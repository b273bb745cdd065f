"""Gradescope's Ubuntu 22.04 image runs Python 3.10: the code that runs there must too, and so
must the packages setup.sh installs. vermin reads every file for syntax and library use newer
than mpconfig.MIN_PYTHON; where a real 3.10 interpreter is at hand, it parses every file as well.
The student install (requirements-student.txt) must resolve on Python 3.10 to 3.13."""
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

import mpconfig as C

# What Gradescope runs or imports (grader, reference, the student files and visible tests) plus
# the project's own entry points, which must at least report a clear error on an old Python.
CHECKED = ("grader", "reference", "models.py", "mpconfig.py", "dev.py", "submitted.py", "tests")
TARGET = ".".join(map(str, C.MIN_PYTHON))
# Packages that only the project's own venv has (requirements.txt): notebook, plotting, tests.
# regrade (dask, copydetect) runs on the instructor's machines, never inside Gradescope's container.
DEV_ONLY = {"matplotlib", "pytest", "nbformat", "nbclient", "ipykernel", "dask", "distributed", "vermin",
            "copydetect"}


def vermin_violations(paths):
    """{file: ["line:col what"]} of what in `paths` needs a Python newer than MIN_PYTHON, from
    `vermin --target=3.10- --violations --eval-annotations --format parsable` (vermin has no
    __main__, hence its main() through -c)."""
    run = subprocess.run(
        [sys.executable, "-c", "import sys; from vermin import main; sys.argv[0] = 'vermin'; main()",
         f"--target={TARGET}-", "--violations", "--no-tips", "--eval-annotations",
         "--format", "parsable", *map(str, paths)],
        capture_output=True, text=True)
    found = {}
    for line in run.stdout.splitlines():
        path, line_no, col, _py2, _py3, what = line.split(":", 5)
        if path and what:   # skip the per-file and overall summary lines
            found.setdefault(path, []).append(f"{line_no}:{col} {what}")
    assert run.returncode == (1 if found else 0), run.stdout[-2000:] + run.stderr[-2000:]
    return found


def test_the_code_gradescope_runs_needs_no_python_newer_than_3_10():
    found = vermin_violations([C.ROOT / p for p in CHECKED])
    assert not found, (f"needs a Python newer than {TARGET} (Gradescope's): " +
                       "; ".join(f"{Path(f).relative_to(C.ROOT)}: {' / '.join(v)}"
                                 for f, v in sorted(found.items())))


@pytest.mark.parametrize("construct", [
    "try:\n    pass\nexcept* ValueError:\n    pass\n",
    "import tomllib\n",
    "import hashlib\nhashlib.file_digest(open(__file__, 'rb'), 'sha256')\n",
    "from typing import Self\n",
    "import datetime\nprint(datetime.UTC)\n",
    "raise ExceptionGroup('x', [ValueError()])\n",
    "import os\nos.unshare(0)\n",
])
def test_a_3_11_only_construct_is_caught(tmp_path, construct):
    (tmp_path / "fine.py").write_text("import os\nprint(os.getcwd())\n")
    (tmp_path / "new.py").write_text(construct)
    found = vermin_violations([tmp_path])
    assert list(found) == [str(tmp_path / "new.py")], found


def _python_files():
    for p in CHECKED:
        path = C.ROOT / p
        yield from sorted(path.rglob("*.py")) if path.is_dir() else [path]


def _real_310():
    """A Python 3.10 interpreter on this machine, if any (pyenv keeps one here)."""
    candidates = [shutil.which("python3.10")]
    candidates += sorted(str(p) for p in Path.home().glob(".pyenv/versions/3.10*/bin/python3.10"))
    for c in filter(None, candidates):
        check = subprocess.run([c, "-c", "import sys; print(sys.version_info[:2] == (3, 10))"],
                               capture_output=True, text=True)
        if check.stdout.strip() == "True":
            return c
    return None


def test_a_real_python_3_10_parses_every_file_and_runs_the_stdlib_only_ones():
    python = _real_310()
    if python is None:
        pytest.skip("no Python 3.10 interpreter on this machine (vermin's check above still ran)")
    files = [str(f) for f in _python_files()]
    parse = ("import ast, sys\nfor f in sys.argv[1:]:\n"
             "    ast.parse(open(f, encoding='utf-8').read(), f)\n")
    run = subprocess.run([python, "-c", parse, *files], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    # mpconfig (read by dev.py before any venv exists) and dev.py's own start-up run on 3.10.
    run = subprocess.run([python, "-c", "import mpconfig, dev; print(mpconfig.NUM_CLASSES)"],
                         cwd=C.ROOT, capture_output=True, text=True)
    assert run.returncode == 0 and run.stdout.strip() == str(C.NUM_CLASSES), run.stderr[-2000:]


def _pins(path):
    pins = {}
    for line in Path(path).read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)", line.split("#")[0].strip())
        if m:
            pins[m.group(1).lower().replace("_", "-")] = m.group(2)
    return pins


def test_the_grading_requirements_are_the_dev_pins_unless_those_exclude_3_10():
    dev, grading = _pins(C.ROOT / "requirements.txt"), _pins(C.GRADING_REQUIREMENTS)
    assert grading["torch"] == dev["torch"] and grading["torchvision"] == dev["torchvision"], \
        "the grader's thresholds were calibrated on requirements.txt's torch/torchvision"
    assert set(grading) <= set(dev), f"not in requirements.txt: {sorted(set(grading) - set(dev))}"
    missing = set(dev) - set(grading) - DEV_ONLY
    assert not missing, f"graded code may import these, yet setup.sh would not install them: {missing}"
    for name, version in grading.items():
        # The dev pin is what this venv has: its metadata says which Pythons it supports.
        assert importlib.metadata.version(name) == dev[name], f"{name}: .venv differs from requirements.txt"
        requires = importlib.metadata.metadata(name).get("Requires-Python") or ""
        supports_min = SpecifierSet(requires).contains(TARGET)
        if version == dev[name]:
            assert supports_min, (f"{name}=={version} needs Python {requires}: pin a release that "
                                  f"supports {TARGET} in {C.GRADING_REQUIREMENTS.name}")
        else:
            assert not supports_min, (f"{name}: requirements.txt's {dev[name]} supports Python "
                                      f"{TARGET} ({requires!r}): pin the same in {C.GRADING_REQUIREMENTS.name}")


@pytest.mark.slow
def test_the_grading_requirements_resolve_on_python_3_10(tmp_path):
    """The pins that differ from requirements.txt have no metadata here: ask pip to resolve the
    grading set for 3.10 from PyPI (dry run; torch/torchvision, pinned as in the dev venv, left out: they
    come from PyTorch's CPU index and their 900 MB wheels would be fetched for nothing)."""
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("".join(f"{n}=={v}\n" for n, v in _pins(C.GRADING_REQUIREMENTS).items()
                            if n not in ("torch", "torchvision")))
    run = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed",
                          "--python-version", TARGET, "--only-binary=:all:", "--no-cache-dir",
                          "--target", str(tmp_path / "t"), "-r", str(reqs)],
                         capture_output=True, text=True, timeout=600, env=_pypi_alone())
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    would = run.stdout.split("Would install", 1)[-1]
    for name, version in _pins(reqs).items():
        assert re.search(rf"(?i)\b{re.escape(name)}-{re.escape(version)}\b", would), (name, would)


# --- the student install: Python 3.10 to 3.13 (reference/build_bundle.py ships it) ---------------

def _pypi_alone():
    """pip's environment with PyPI as its only index, as on a student's or Gradescope's machine: a
    local mirror or wheel folder may serve a file without the Requires-Python pip filters by."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL", "PIP_INDEX_URL", "PIP_NO_INDEX"))}
    env["PIP_CONFIG_FILE"] = os.devnull
    return env


def _student_lines():
    """[(name, version, marker)] of the student requirements, every line a NAME==VERSION pin."""
    from packaging.requirements import Requirement
    from reference.build_bundle import STUDENT_REQUIREMENTS
    lines = []
    for line in STUDENT_REQUIREMENTS.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            req = Requirement(line)
            (spec,) = req.specifier
            assert spec.operator == "==", f"{line}: pin an exact version"
            lines.append((req.name.lower().replace("_", "-"), spec.version, req.marker))
    return lines


def _for_python(version):
    """name -> version the student requirements give on Python `version` (markers evaluated for it)."""
    from packaging.markers import default_environment
    env = dict(default_environment(), python_version=version, python_full_version=f"{version}.0")
    chosen = {}
    for name, pin, marker in _student_lines():
        if marker is None or marker.evaluate(env):
            assert name not in chosen, f"two pins of {name} apply on Python {version}"
            chosen[name] = pin
    return chosen


STUDENT_PYTHONS = ("3.10", "3.11", "3.12", "3.13")


def test_the_student_requirements_are_the_dev_pins_with_3_10s_own_where_needed():
    from reference.build_bundle import STUDENT_PYTHONS as ENDS
    assert (ENDS[0], ENDS[-1]) == (STUDENT_PYTHONS[0], STUDENT_PYTHONS[-1])
    dev, grading = _pins(C.ROOT / "requirements.txt"), _pins(C.GRADING_REQUIREMENTS)
    per_python = {v: _for_python(v) for v in STUDENT_PYTHONS}
    packages = set(per_python[STUDENT_PYTHONS[0]])
    assert {"torch", "torchvision", "numpy", "pytest", "nbclient", "ipykernel"} <= packages
    assert packages <= set(dev), f"not in requirements.txt: {sorted(packages - set(dev))}"
    for version, chosen in per_python.items():
        assert set(chosen) == packages, f"Python {version} gets {sorted(chosen)}, not {sorted(packages)}"
        assert chosen["torch"] == dev["torch"] and chosen["torchvision"] == dev["torchvision"], \
            f"Python {version}: the student's torch/torchvision must be the pair the grader was calibrated on"
        if version != TARGET:
            assert chosen == {n: dev[n] for n in packages}, f"Python {version}: requirements.txt's pins"
    for name, version in per_python[TARGET].items():
        # The dev pin is this venv's: its metadata says whether it supports 3.10.
        requires = importlib.metadata.metadata(name).get("Requires-Python") or ""
        dev_supports = SpecifierSet(requires).contains(TARGET)
        if version == dev[name]:
            assert dev_supports, f"{name}=={version} needs Python {requires}: give {TARGET} its own pin"
        else:
            assert not dev_supports, f"{name}: requirements.txt's {dev[name]} supports {TARGET}: no own pin"
            if name in grading:
                assert version == grading[name], f"{name}: {TARGET} gets {version}, the grading set {grading[name]}"


@pytest.mark.slow
@pytest.mark.parametrize("python", [STUDENT_PYTHONS[0], STUDENT_PYTHONS[-1]])
def test_the_student_requirements_resolve(python, tmp_path):
    """pip resolves the student requirements for `python` from PyPI, installing nothing. pip evaluates markers
    for the Python it runs on, not for --python-version, so they are evaluated here first.
    torch and torchvision: `pip index versions` (their wheels and CUDA libraries, 3 GB, are not
    fetched); the rest: a dry-run install with every dependency."""
    chosen = _for_python(python)
    target = ["--python-version", python, "--only-binary=:all:"]
    for name in ("torch", "torchvision"):
        run = subprocess.run([sys.executable, "-m", "pip", "index", "versions", name, *target],
                             capture_output=True, text=True, timeout=300, env=_pypi_alone())
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
        available = re.search(r"Available versions: (.*)", run.stdout).group(1).split(", ")
        assert chosen[name] in available, f"{name}=={chosen[name]} has no wheel for Python {python}"
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("".join(f"{n}=={v}\n" for n, v in chosen.items() if n not in ("torch", "torchvision")))
    run = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed",
                          *target, "--no-cache-dir", "--target", str(tmp_path / "t"), "-r", str(reqs)],
                         capture_output=True, text=True, timeout=900, env=_pypi_alone())
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    would = run.stdout.split("Would install", 1)[-1]
    for name, version in _pins(reqs).items():
        assert re.search(rf"(?i)\b{re.escape(name)}-{re.escape(version)}\b", would), (name, would)
