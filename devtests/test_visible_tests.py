"""The student-visible tests (tests/) pass on the reference, fail on the stubs with the stubs'
message only, and catch typical mistakes with a message that names the function."""
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

import mpconfig as C
from reference.make_stubs import MESSAGE, make_stubs

pytestmark = pytest.mark.slow


def make_submission(root, solution):
    """A student's folder as the bundle lays it out, with ``solution`` as submitted.py."""
    root.mkdir()
    (root / "tests").mkdir()
    for p in C.VISIBLE_TESTS.glob("*.py"):
        shutil.copyfile(p, root / "tests" / p.name)
    shutil.copyfile(C.ROOT / "models.py", root / "models.py")
    (root / "submitted.py").write_text(solution)
    (root / "resnet18.pt").symlink_to(C.CHECKPOINT)
    (root / C.DATA_DIR.name).symlink_to(C.DATA_DIR)
    return root


def run_visible(folder, *args):
    """Run ``python -m pytest tests`` in ``folder``: test id -> (outcome, message)."""
    report = folder.parent / f"{folder.name}-junit.xml"
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run([sys.executable, "-m", "pytest", "tests", "-p", "no:cacheprovider", "-q",
                           f"--junitxml={report}", *args],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=600)
    assert report.is_file(), f"pytest wrote no report:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    results = {}
    for case in ET.parse(report).iter("testcase"):
        problems = [c for c in case if c.tag in ("failure", "error", "skipped")]
        outcome = problems[0].tag if problems else "passed"
        results[case.get("name")] = (outcome, problems[0].get("message", "") if problems else "")
    return results, proc


@pytest.fixture(scope="module")
def reference_results(tmp_path_factory):
    folder = make_submission(tmp_path_factory.mktemp("visible") / "reference", C.REFERENCE_SOLUTION.read_text())
    return run_visible(folder)


@pytest.fixture(scope="module")
def stub_results(tmp_path_factory):
    folder = make_submission(tmp_path_factory.mktemp("visible") / "stubs", make_stubs(C.REFERENCE_SOLUTION.read_text()))
    return run_visible(folder)


def test_all_pass_on_the_reference(reference_results):
    results, proc = reference_results
    assert len(results) >= 10, proc.stdout[-2000:]
    failing = {name: r for name, r in results.items() if r[0] != "passed"}
    assert not failing, proc.stdout[-3000:]
    assert proc.returncode == 0


def test_all_fail_with_not_implemented_on_the_stubs(reference_results, stub_results):
    results, proc = stub_results
    assert set(results) == set(reference_results[0])
    for name, (outcome, message) in results.items():
        assert outcome == "failure", f"{name}: {outcome} {message}\n{proc.stdout[-2000:]}"
        assert message == f"NotImplementedError: {MESSAGE}", f"{name}: {message}"


MUTATIONS = {
    # test name -> (text in the reference, replacement, words the failure message must contain)
    "test_backbone_pretrained_and_frozen": (
        "param.requires_grad = False", "param.requires_grad = True",
        ["FinetuneNet.__init__", "expected every pretrained backbone parameter frozen", "found"]),
    "test_dataset_item_without_transform": (
        ".reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)", ".reshape(-1, 32, 32, 3)",
        ["CIFAR10.__init__ / __getitem__ (pixel layout)", "expected image 0"]),
    "test_test_returns_accuracy": (
        "return correct / total", "return 100 * correct / total",
        ["test (accuracy is a fraction", "expected a value in [0, 1]"]),
}


def test_typical_mistakes_are_named(tmp_path):
    solution = C.REFERENCE_SOLUTION.read_text()
    for old, new, _ in MUTATIONS.values():
        assert solution.count(old) == 1, old
        solution = solution.replace(old, new)
    folder = make_submission(tmp_path / "mutant", solution)
    results, proc = run_visible(folder, "-k", " or ".join(MUTATIONS))
    assert set(results) == set(MUTATIONS), proc.stdout[-2000:]
    for name, (_, _, words) in MUTATIONS.items():
        outcome, message = results[name]
        assert outcome == "failure", f"{name}: {outcome}"
        for word in words:
            assert word in message, f"{name}: {word!r} not in {message!r}"
