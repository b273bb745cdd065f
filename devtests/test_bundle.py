"""The student bundle: exactly the public files, no hidden data, no solution, working tests."""
import hashlib
import json
import os
import re
import subprocess
import sys
import zipfile

import nbformat
import pytest

import mpconfig as C
from reference import build_bundle as B
from reference.make_stubs import make_stubs, solution_regions

pytestmark = pytest.mark.slow
TEXT_SUFFIXES = {".py", ".md", ".txt", ".ipynb"}


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
    assert set(files_in(bundle)) == expected
    for name in expected - {"submitted.py", "README.md"}:
        source = {"resnet18.pt": C.CHECKPOINT}.get(name, C.ROOT / name)
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
    assert stubs == make_stubs(C.REFERENCE_SOLUTION.read_text()) == C.STUBS.read_text()


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

    def broken():
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
    assert re.search(r"\b(\d+) passed\b", proc.stdout) and " failed" not in proc.stdout
