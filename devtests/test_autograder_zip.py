"""The Gradescope autograder zip: its contents, and a full Gradescope-like run of it (setup.sh
without installs, then run_autograder on the reference) in a temporary /autograder layout."""
import json
import os
import stat
import subprocess
import sys
import zipfile

import pytest

import mpconfig as C
from grader import package
from grader.rehearse import unzip
from grader import results as R
from reference.build_data import sha256_file

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def autograder_zip(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist") / "autograder.zip"
    package.build(out)
    return out


def test_build_leaves_no_partial_zip_on_failure(tmp_path, monkeypatch):
    out = tmp_path / "autograder.zip"
    entries = package.members()
    monkeypatch.setattr(package, "members", lambda: entries + [("x", tmp_path / "gone", 0o644)])
    with pytest.raises(FileNotFoundError):
        package.build(out)
    assert list(tmp_path.iterdir()) == []


def test_the_zip_holds_what_gradescope_needs_and_nothing_else(autograder_zip):
    with zipfile.ZipFile(autograder_zip) as zf:
        infos = {i.filename: i for i in zf.infolist()}
        names = set(infos)
        for entry in ("setup.sh", "run_autograder"):
            assert entry in names, f"{entry} must be at the zip's top level"
            assert infos[entry].external_attr >> 16 & 0o111, f"{entry} must be executable"
        required = {C.GRADING_REQUIREMENTS.name, C.DEPLOY_FILE, C.PREPARED_KNOWLEDGE, "mpconfig.py", "models.py",
                    "resnet18.pt",
                    "grader/__init__.py", "grader/__main__.py", "grader/grade.py", "grader/sandbox/__init__.py",
                    "grader/sandbox/__main__.py", "grader/sandbox/box.py",
                    "grader/child.py", "grader/context.py", "grader/protocol.py", "grader/schema.py",
                    "grader/results_schema.json", "grader/probes/functions.py", "grader/probes/dataset.py",
                    "grader/probes/common.py", "reference/__init__.py", "reference/submitted.py",
                    "reference/data_manifest.json", f"hidden_data/{C.HIDDEN_FILE}"}
        required |= {f"cifar10_batches/{n}" for n in (*C.TRAIN_FILES, C.TEST_FILE, C.META_FILE)}
        assert required <= names, sorted(required - names)
        assert any(n.startswith("grader/suites/") for n in names)
        forbidden = ("grader/catalogue/", "devtests/", ".venv/", "build/", "dist/", "tests/",
                     ".git/", "__pycache__")
        assert not [n for n in names if any(n.startswith(f) or f"/{f}" in n for f in forbidden)]
        assert not [n for n in names if n.endswith(".pyc")]
        # Byte-identical to the files the grader was calibrated on.
        import hashlib
        for name, path in (("resnet18.pt", C.CHECKPOINT),
                           (f"hidden_data/{C.HIDDEN_FILE}", C.HIDDEN_DIR / C.HIDDEN_FILE)):
            assert hashlib.sha256(zf.read(name)).hexdigest() == sha256_file(path)


def test_gradescope_run_of_the_reference_scores_full_marks(autograder_zip, tmp_path):
    root = tmp_path / "autograder"
    source, submission, results_dir = root / "source", root / "submission", root / "results"
    unzip(autograder_zip, source)
    submission.mkdir()
    (submission / "submitted.py").write_text(C.REFERENCE_SOLUTION.read_text())
    env = dict(os.environ, AUTOGRADER_ROOT=str(root), AUTOGRADER_PYTHON=sys.executable,
               AUTOGRADER_SKIP_INSTALL="1")
    setup = subprocess.run(["bash", str(source / "setup.sh")], cwd=source, env=env,
                           capture_output=True, text=True, timeout=600)
    assert setup.returncode == 0, setup.stdout[-2000:] + setup.stderr[-2000:]
    if os.geteuid() == 0:  # what setup.sh closes to the probe user
        for closed in ("hidden_data", "grader", "reference"):
            assert stat.S_IMODE((source / closed).stat().st_mode) == 0o700
    # Gradescope copies run_autograder to /autograder/ and runs it from there.
    (root / "run_autograder").write_bytes((source / "run_autograder").read_bytes())
    (root / "run_autograder").chmod(0o755)
    run = subprocess.run([str(root / "run_autograder")], cwd=root, env=env,
                         capture_output=True, text=True, timeout=1800)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    results = json.loads((results_dir / "results.json").read_text())
    R.validate(results)
    lost = [(t["number"], t["score"], t["max_score"], t["output"][:300])
            for t in results["tests"] if t["score"] < t["max_score"]]
    assert not lost, lost
    assert results["score"] == sum(points for points, _ in C.TESTS.values())
    assert (submission / "submitted.py").read_text() == C.REFERENCE_SOLUTION.read_text()
    assert sorted(p.name for p in results_dir.iterdir()) == ["results.json"]


def _same(a, b):
    """Nested equality that compares tensors by value."""
    import torch
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(_same, a, b))
    return a == b


def test_the_zip_s_prepared_knowledge_is_the_reference_s_and_a_stale_one_is_ignored(
        autograder_zip, tmp_path, caplog):
    """The zip ships the reference's results (the grade then neither imports nor runs it); they
    equal what the grader computes in-process, and a file made from other files is not trusted."""
    import torch
    from grader import context
    path = tmp_path / C.PREPARED_KNOWLEDGE
    with zipfile.ZipFile(autograder_zip) as zf:
        path.write_bytes(zf.read(C.PREPARED_KNOWLEDGE))
    prepared = context.read_prepared(path)
    assert prepared is not None
    shipped, here = context.build_knowledge(prepared), context.load()
    assert shipped.reference is None
    assert _same(shipped.expected, here.expected)
    without_timeout = [{name: {k: v for k, v in args.items() if k != "part_timeout"}
                        for name, args in knowledge.probe_args.items()} for knowledge in (shipped, here)]
    assert _same(*without_timeout)        # the part time limit is each machine's own
    stale = dict(prepared, fingerprint="0" * 64)
    torch.save(stale, path)
    with caplog.at_level("WARNING"):
        assert context.read_prepared(path) is None
    assert "made from other files" in caplog.text
