"""The stubs: generated from the reference, same API, every student part raises the message."""
import ast
import importlib.util
import inspect
import os
import subprocess
import sys

import pytest
from hypothesis import given, settings, strategies as st

import dev
import mpconfig as C
from reference import make_stubs as M


def load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def modules(monkeypatch_module):
    monkeypatch_module.chdir(C.ROOT)  # FinetuneNet opens resnet18.pt relative to the folder
    return load(C.REFERENCE_SOLUTION, "mp09_reference"), load(C.STUBS, "mp09_stubs")


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def public_names(module):
    return {n for n, v in vars(module).items()
            if not n.startswith("_") and getattr(v, "__module__", None) == module.__name__}


def test_checkout_stubs_are_generated():
    assert C.STUBS.is_file() and C.STUBS.read_text() == M.make_stubs(C.REFERENCE_SOLUTION.read_text()), \
        "submitted.py is missing or stale: run python3 dev.py setup"


def test_stubs_are_not_tracked():
    tracked = subprocess.run(["git", "ls-files", "--error-unmatch", C.STUBS.name], cwd=C.ROOT,
                             capture_output=True)
    ignored = subprocess.run(["git", "check-ignore", "-q", C.STUBS.name], cwd=C.ROOT)
    assert tracked.returncode != 0 and ignored.returncode == 0


def test_setup_writes_the_generated_stubs_only_when_missing_or_stale(tmp_path):
    out = tmp_path / "submitted.py"
    expected = M.make_stubs(C.REFERENCE_SOLUTION.read_text())
    dev.write_stubs(out)                                            # missing
    assert out.read_text() == expected
    os.utime(out, ns=(0, 0))
    dev.write_stubs(out)                                            # up to date: left as it is
    assert out.stat().st_mtime_ns == 0
    out.write_text("stale\n")
    dev.write_stubs(out)
    assert out.read_text() == expected


def test_check_mode_exit_codes(tmp_path):
    out = tmp_path / "submitted.py"
    assert M.main(["--check", "--out", str(out)]) == 1            # missing
    assert M.main(["--out", str(out)]) == 0
    assert M.main(["--check", "--out", str(out)]) == 0
    out.write_text(out.read_text().replace("raise NotImplementedError", "pass  # ", 1))
    assert M.main(["--check", "--out", str(out)]) == 1


def test_cli_check_reports_a_diff(tmp_path):
    out = tmp_path / "submitted.py"
    out.write_text("stale\n")
    proc = subprocess.run([sys.executable, "-m", "reference.make_stubs", "--check", "--out", str(out)],
                          cwd=C.ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "differs" in proc.stderr and "-stale" in proc.stderr


def test_same_public_api(modules):
    ref, stub = modules
    assert public_names(ref) == public_names(stub)
    for name in public_names(ref):
        r, s = getattr(ref, name), getattr(stub, name)
        if inspect.isclass(r):
            r_methods = {m for m in vars(r) if callable(vars(r)[m])}
            assert r_methods == {m for m in vars(s) if callable(vars(s)[m])}, name
            assert [b.__name__ for b in r.__mro__] == [b.__name__ for b in s.__mro__], name
            for m in r_methods:
                assert inspect.signature(getattr(r, m)) == inspect.signature(getattr(s, m)), f"{name}.{m}"
                assert inspect.getdoc(getattr(r, m)) == inspect.getdoc(getattr(s, m)), f"{name}.{m}"
        elif callable(r):
            assert inspect.signature(r) == inspect.signature(s), name
            assert inspect.getdoc(r) == inspect.getdoc(s), name


def test_same_imports_and_module_docstring():
    ref, stub = (ast.parse(p.read_text()) for p in (C.REFERENCE_SOLUTION, C.STUBS))
    imports = lambda tree: [ast.dump(n) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]  # noqa: E731
    assert imports(ref) == imports(stub)
    assert ast.get_docstring(ref) == ast.get_docstring(stub)


# Every student part, called with arguments that the reference would accept.
STUDENT_CALLS = {
    "CIFAR10.__init__": lambda S: S.CIFAR10(["cifar10_batches/test_batch"]),
    "CIFAR10.__len__": lambda S: S.CIFAR10.__len__(object.__new__(S.CIFAR10)),
    "CIFAR10.__getitem__": lambda S: S.CIFAR10.__getitem__(object.__new__(S.CIFAR10), 0),
    "get_preprocess_transform": lambda S: S.get_preprocess_transform("train"),
    "build_dataset": lambda S: S.build_dataset(["cifar10_batches/test_batch"]),
    "build_dataloader": lambda S: S.build_dataloader([(0, 0)], {"batch_size": 1, "shuffle": False}),
    "FinetuneNet.__init__": lambda S: S.FinetuneNet(),
    "FinetuneNet.forward": lambda S: S.FinetuneNet.forward(object.__new__(S.FinetuneNet), None),
    "build_model": lambda S: S.build_model(),
    "build_optimizer": lambda S: S.build_optimizer("SGD", [], {"lr": 0.1}),
    "train": lambda S: S.train([], None, None, None),
    "test": lambda S: S.test([], None),
    "run_model": lambda S: S.run_model(),
}


def test_every_student_part_is_listed():
    """STUDENT_CALLS covers exactly the functions that contain a solution region."""
    tree = ast.parse(C.REFERENCE_SOLUTION.read_text())
    lines = {start for start, _, _ in M.solution_regions(C.REFERENCE_SOLUTION.read_text())}
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and any(item.lineno < n <= item.end_lineno for n in lines):
                    found.add(f"{node.name}.{item.name}")
        elif isinstance(node, ast.FunctionDef) and node.col_offset == 0:
            if any(node.lineno < n <= node.end_lineno for n in lines):
                found.add(node.name)
    assert found == set(STUDENT_CALLS)
    assert len(lines) == len(STUDENT_CALLS)  # one region per function


@pytest.mark.parametrize("part", sorted(STUDENT_CALLS))
def test_stub_raises_the_message(modules, part):
    _, stub = modules
    with pytest.raises(NotImplementedError) as info:
        STUDENT_CALLS[part](stub)
    assert str(info.value) == M.MESSAGE
    # the raise comes from the part itself, not from something it called
    assert info.traceback[-1].name == part.split(".")[-1]


@pytest.mark.parametrize("text, problem", [
    (f"{M.START}\nx = 1\n", "never closed"),
    (f"x = 1\n{M.END}\n", "without a start"),
    (f"{M.START}\n{M.START}\n{M.END}\n", "opened again"),
    (f"{M.START}\n\n{M.END}\n", "empty"),
    (f"def f():\n    {M.START}\n    x = 1\n{M.END}\n", "indented differently"),
    ("x = 1\n", "no solution regions"),
])
def test_malformed_reference_is_named(text, problem):
    with pytest.raises(M.StubError, match=problem):
        M.make_stubs(text, "ref.py")


def test_malformed_reference_leaves_stubs_untouched(tmp_path):
    ref, out = tmp_path / "ref.py", tmp_path / "submitted.py"
    ref.write_text(f"{M.START}\nx = 1\n")
    out.write_text("old\n")
    assert M.main(["--reference", str(ref), "--out", str(out)]) == 2
    assert out.read_text() == "old\n"


line = st.text(alphabet="abcxyz =+()_.0123456789#", min_size=1, max_size=30).filter(lambda s: s.strip())


@settings(max_examples=60, deadline=None)
@given(blocks=st.lists(st.tuples(st.lists(line, max_size=3), st.lists(line, min_size=1, max_size=4),
                                 st.sampled_from(["", "    ", "        "])), min_size=1, max_size=5))
def test_stubs_replace_exactly_the_regions(blocks):
    """Outside text is kept line for line; each region body becomes exactly one raise."""
    ref, expected = [], []
    for outside, body, indent in blocks:
        ref += outside + [indent + M.START] + [indent + b for b in body] + [indent + M.END]
        expected += outside + [indent + M.START, f'{indent}raise NotImplementedError("{M.MESSAGE}")', indent + M.END]
    text = "\n".join(ref) + "\n"
    assert M.make_stubs(text) == "\n".join(expected) + "\n"
    assert [body for _, _, body in M.solution_regions(text)] == [[indent + b for b in body] for _, body, indent in blocks]
