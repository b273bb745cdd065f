"""The student bundle: exactly the public files, no hidden data, no solution, working tests."""
import hashlib
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import PurePosixPath

import nbformat
import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

import mpconfig as C
from reference import build_bundle as B
from reference.make_stubs import make_stubs, solution_regions

pytestmark = pytest.mark.slow
TEXT_SUFFIXES = {".py", ".md", ".txt", ".ipynb", ".json"}


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def files_in(folder):
    return {p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    bundle, zip_path = B.build(tmp_path_factory.mktemp("dist") / C.STUDENT_BUNDLE.name)
    return bundle, zip_path


def test_exactly_the_public_files(built):
    bundle, _ = built
    expected = {"submitted.py", "models.py", "resnet18.pt", "requirements.txt", "README.md", C.NOTEBOOK.name}
    expected |= {f"{C.DATA_DIR.name}/{n}" for n in (*C.TRAIN_FILES, C.TEST_FILE, C.META_FILE)}
    expected |= {f"{C.VISIBLE_TESTS.name}/{p.name}" for p in C.VISIBLE_TESTS.glob("*.py")}
    graded = f"{C.VISIBLE_TESTS.name}/{B.GRADED_TESTS_FILE}"
    expected.add(graded)
    assert set(files_in(bundle)) == expected
    assert json.loads((bundle / graded).read_text()) == B.graded_tests()
    for name in expected - {"submitted.py", "README.md", graded}:
        source = {"resnet18.pt": C.CHECKPOINT, "requirements.txt": B.STUDENT_REQUIREMENTS}.get(name, C.ROOT / name)
        assert sha256(bundle / name) == sha256(source), name


def test_nothing_from_reference_grader_or_hidden_data(built):
    bundle, zip_path = built
    names = list(files_in(bundle)) + zipfile.ZipFile(zip_path).namelist()
    for name in names:
        parts = set(name.split("/"))
        assert not parts & {"reference", "grader", C.HIDDEN_DIR.name, C.HIDDEN_FILE}, name
    staff = [p for d in ("reference", "grader") for p in (C.ROOT / d).rglob("*")
             if p.is_file() and "__pycache__" not in p.parts]
    forbidden = {sha256(p): p for p in staff}
    hidden = C.HIDDEN_DIR / C.HIDDEN_FILE
    forbidden[sha256(hidden)] = hidden
    forbidden[json.loads(C.DATA_MANIFEST.read_text())["hidden"][C.HIDDEN_FILE]] = hidden
    for name, path in files_in(bundle).items():
        assert sha256(path) not in forbidden, f"{name} is a copy of {forbidden[sha256(path)]}"


def bundle_lines(bundle):
    """Stripped source lines of every text file in the bundle (notebook: its cells' sources)."""
    lines = {}
    for name, path in files_in(bundle).items():
        if path.suffix == ".ipynb":
            text = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells)
        elif path.suffix in TEXT_SUFFIXES:
            text = path.read_text()
        else:
            continue
        lines[name] = {line.strip() for line in text.splitlines()}
    return lines


# Generic PyTorch idioms the notebook must use as well: they give nothing away.
IDIOMS = {"with torch.no_grad():", "loss_fn = nn.CrossEntropyLoss()"}


def non_trivial(line):
    """A solution line worth hiding: code (not a comment or idiom) of some length."""
    line = line.strip()
    return len(line) >= 16 and not line.startswith("#") and line not in IDIOMS


def test_no_solution_text(built):
    bundle, _ = built
    reference = C.REFERENCE_SOLUTION.read_text()
    solution = {line.strip() for _, _, body in solution_regions(reference) for line in body if non_trivial(line)}
    assert len(solution) >= 30  # the filter keeps most of the solution
    for name, lines in bundle_lines(bundle).items():
        leaked = solution & lines
        assert not leaked, f"{name} contains solution lines: {sorted(leaked)[:5]}"


def test_stubs_are_the_generated_ones(built):
    bundle, _ = built
    stubs = (bundle / "submitted.py").read_text()
    assert stubs == make_stubs(C.REFERENCE_SOLUTION.read_text())


def test_readme_is_rendered_from_mpconfig(built):
    bundle, _ = built
    readme = (bundle / "README.md").read_text()
    assert "$" not in readme
    for threshold, share in C.ACCURACY_TIERS:
        assert f"at least {threshold:.2f}: {share:.0%} of the points" in readme
    assert f"**{sum(p for p, _ in C.TESTS.values()):g}**" in readme
    for section in {t.split(".")[0] for t in C.TESTS}:
        assert re.search(rf"^\| {section}\. \w", readme, re.M), section
    assert "python -m pytest tests" in readme and "Gradescope" in readme and "submitted.py" in readme
    assert str(C.ROOT) not in readme


def bundle_texts(bundle):
    """Name -> text of every text file in the bundle (notebook: its cells' sources)."""
    texts = {}
    for name, path in files_in(bundle).items():
        if path.suffix == ".ipynb":
            texts[name] = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells)
        elif path.suffix in TEXT_SUFFIXES:
            texts[name] = path.read_text()
    return texts


def repository_paths():
    """Every path of the repository (tracked files, their folders, and the built data folders),
    as posix strings relative to its root."""
    tracked = subprocess.run(["git", "ls-files"], cwd=C.ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    paths = set(tracked) | {C.DATA_DIR.name, C.HIDDEN_DIR.name, f"{C.HIDDEN_DIR.name}/{C.HIDDEN_FILE}"}
    for path in list(paths):
        paths |= {p.as_posix() for p in PurePosixPath(path).parents if p.as_posix() != "."}
    return paths


def dangling_references(texts, bundle_names):
    """(file, reference) for every repository path or module a text names that the bundle lacks:
    a path (reference/model_card.json), a file name (mpconfig.py) or a dotted module
    (reference.build_bundle) of the repository."""
    repo = repository_paths()
    repo_names = {PurePosixPath(p).name for p in repo}
    in_bundle = set(bundle_names) | {p.as_posix() for n in bundle_names for p in PurePosixPath(n).parents}
    bundle_file_names = {PurePosixPath(n).name for n in in_bundle}
    top_folders = {p.split("/")[0] for p in repo if "/" in p} - in_bundle
    found = []
    for name, text in texts.items():
        text = re.sub(r"https?://\S+", " ", text)           # web addresses are not files
        for token in re.findall(r"[\w.-]+(?:/[\w.-]*)*", text):
            path = token.strip(".").removeprefix("./").rstrip("/")
            if not path or path in in_bundle or PurePosixPath(path).name in bundle_file_names:
                continue
            if "/" in token:                                  # a path: grader/, reference/x.py
                dangling = path in repo
            elif "." in path:                                 # a file name, or a dotted module
                module = path.replace(".", "/") + ".py"
                dangling = path in repo_names or (path.split(".")[0] in top_folders and module in repo)
            else:                                             # a word ("the reference")
                dangling = False
            if dangling:
                found.append((name, path))
    return found


def test_no_dangling_references(built):
    """Every repository file or module that a text of the bundle mentions is in the bundle."""
    bundle, _ = built
    texts = bundle_texts(bundle)
    assert {"README.md", "submitted.py", "models.py", C.NOTEBOOK.name} <= set(texts)
    found = dangling_references(texts, files_in(bundle))
    assert not found, f"the bundle's texts name files it does not hold: {found}"


def test_dangling_references_are_found(built):
    """The scan itself finds each kind of reference to a file the bundle lacks."""
    bundle, _ = built
    texts = {"README.md": "see reference/model_card.json, `mpconfig.py` and grader/ or run "
                          "python -m reference.build_bundle; the data is in hidden_data/. Fine: "
                          "resnet18.pt, tests/conftest.py, cifar10_batches/test_batch, "
                          "https://pytorch.org/tutorials/beginner/basics/intro.html and the reference."}
    found = {path for _, path in dangling_references(texts, files_in(bundle))}
    assert found == {"reference/model_card.json", "mpconfig.py", "grader", "reference.build_bundle",
                     "hidden_data"}


def test_readme_states_backbone_time_and_install(built):
    bundle, _ = built
    readme = (bundle / "README.md").read_text()
    # the backbone's facts a student needs to build the head
    for fact in ("512", "conv1", "layer4", "fc", "ToTensor()", "(N, 3, 32, 32)",
                 "`conv1`, does it before it convolves"):
        assert fact in readme, fact
    # the time limit in the results page's words, from mpconfig
    assert "limit on this machine: N s" in readme
    assert f"{C.RUN_MODEL_TIMEOUT_S:g} s on a 2-core machine" in readme
    # both install ways, with the pinned versions and their sizes
    versions = B.pinned(B.CPU_PACKAGES)
    assert f"torch=={versions['torch']}+cpu torchvision=={versions['torchvision']}+cpu --index-url {B.CPU_INDEX}" in readme
    assert B.DEFAULT_DOWNLOAD in readme and B.CPU_DOWNLOAD in readme
    assert "tests/run_notebook.py --output" in readme
    # the Pythons the student requirements resolve on (test_python_version.py checks that they do)
    assert f"## Set up (Python {B.STUDENT_PYTHONS[0]} to {B.STUDENT_PYTHONS[-1]})" in readme


def test_cpu_torch_option_writes_requirements_for_the_cpu_build():
    text = B.STUDENT_REQUIREMENTS.read_text()
    cpu = B.cpu_requirements(text)
    lines = [line for line in cpu.splitlines() if line.strip() and not line.startswith("#")]
    assert lines[0] == f"--extra-index-url {B.CPU_INDEX}"
    versions = B.pinned(B.CPU_PACKAGES)
    linux = dict(default_environment(), sys_platform="linux")
    mac = dict(default_environment(), sys_platform="darwin")
    chosen = {"linux": {}, "darwin": {}}
    for line in lines[1:]:
        req = Requirement(line)
        for env_name, env in (("linux", linux), ("darwin", mac)):
            if req.marker is None or req.marker.evaluate(env):
                chosen[env_name][req.name.lower()] = str(req.specifier)
    for name, version in versions.items():
        assert chosen["linux"][name] == f"=={version}+cpu"
        assert chosen["darwin"][name] == f"=={version}"
        # the README's two-step CPU way relies on this: the plain pin accepts the +cpu build
        assert SpecifierSet(f"=={version}").contains(f"{version}+cpu")
    # everything else unchanged
    others = lambda t: [l for l in t.splitlines() if not re.match(r"(torch|torchvision)==|--extra", l)]
    assert others(cpu) == others(text)
    with pytest.raises(B.BundleError, match="torchvision"):
        B.cpu_requirements("torch==2.0.0\nnumpy==1.0\n")


def test_readme_with_the_cpu_build_as_default():
    readme = B.render_readme(cpu_torch=True)
    assert "This folder's `requirements.txt` installs the CPU-only build" in readme
    assert "--index-url" not in readme and "$" not in readme


def test_zip_holds_the_folder(built):
    bundle, zip_path = built
    with zipfile.ZipFile(zip_path) as z:
        assert z.testzip() is None
        prefix = f"{bundle.name}/"
        assert sorted(z.namelist()) == sorted(prefix + n for n in files_in(bundle))
        for name in ("submitted.py", "README.md", f"{C.DATA_DIR.name}/{C.META_FILE}"):
            assert z.read(prefix + name) == (bundle / name).read_bytes()


def test_failed_build_leaves_previous_bundle(built, monkeypatch):
    bundle, zip_path = built
    before = {n: p.stat().st_mtime_ns for n, p in files_in(bundle).items()}
    zip_before = zip_path.stat().st_mtime_ns

    def broken(*args):
        raise B.BundleError("template broken")

    monkeypatch.setattr(B, "render_readme", broken)
    with pytest.raises(B.BundleError, match="template broken"):
        B.build(bundle)
    assert {n: p.stat().st_mtime_ns for n, p in files_in(bundle).items()} == before
    assert zip_path.stat().st_mtime_ns == zip_before
    assert sorted(p.name for p in bundle.parent.iterdir()) == sorted([bundle.name, zip_path.name])


def test_missing_data_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr(C, "DATA_DIR", tmp_path / "nowhere")
    with pytest.raises(B.BundleError, match="nowhere.*dev.py setup"):
        B.build(tmp_path / "student")
    assert not (tmp_path / "student").exists() and list(tmp_path.iterdir()) == []


def test_visible_tests_pass_inside_the_bundle_with_the_reference(built):
    bundle, _ = built
    stubs = (bundle / "submitted.py").read_text()
    (bundle / "submitted.py").write_text(C.REFERENCE_SOLUTION.read_text())
    try:
        proc = subprocess.run([sys.executable, "-m", "pytest", "tests", "-q", "-p", "no:cacheprovider"],
                              cwd=bundle, env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"),
                              capture_output=True, text=True, timeout=600)
    finally:
        (bundle / "submitted.py").write_text(stubs)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert re.search(r"\b(\d+) passed\b", proc.stdout) and not re.search(r"\b\d+ failed\b", proc.stdout)
    assert "graded tests, numbered as on Gradescope" in proc.stdout   # the table, from graded_tests.json
