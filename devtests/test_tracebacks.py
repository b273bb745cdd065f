"""What a student reads when their code raises (grader/probes/common.py traceback_tail): the
deepest frame in submitted.py and the exception line always, torch/torchvision frames folded to
one line, grader frames gone, a hint for the common data errors, the keys a KeyError missed."""
import importlib
import importlib.util
import sys
import textwrap

import numpy as np
import pytest
import torch

from grader.probes import common
from grader.suites.base import raised

SOURCE = '''
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision import transforms


def to_tensor(row):
    return transforms.ToTensor()(row)


def flip_first(image):
    return transforms.Compose([transforms.RandomHorizontalFlip(p=1.0), transforms.ToTensor()])(image)


def build_optimizer(optim_type, model_params, hparams):
    return torch.optim.SGD(model_params, lr=hparams["learning_rate"])


def float_labels():
    return F.cross_entropy(torch.randn(4, 8), torch.tensor([1.0, 2.0, 3.0, 0.0]))


class Broken(nn.Module):
    def forward(self, x):
        return x.reshape(3, 7)          # the student's line, deep inside torch's calls


def nested(depth):
    """Broken() wrapped in `depth` Sequentials: many torch frames above the student's forward."""
    model = Broken()
    for _ in range(depth):
        model = nn.Sequential(model)
    return model(torch.zeros(2, 5))


def deep_in_torch(depth):
    """The error raised deep inside torch, below `depth` Sequentials: the student's frame is
    followed by torch frames only."""
    model = nn.Linear(3, 3)
    for _ in range(depth):
        model = nn.Sequential(model)
    return model(torch.zeros(2, 5))     # the student's line


def long_message():
    raise ValueError("first line\\n" + "more\\n" * 40)


def test(model):        # one parameter fewer than the stub's test(test_dataloader, model)
    return 0.0


def recurse(n):
    if n == 0:
        return deep_in_torch(40)
    return recurse(n - 1)
'''


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    path = tmp_path_factory.mktemp("submission") / "submitted.py"
    path.write_text(textwrap.dedent(SOURCE))
    spec = importlib.util.spec_from_file_location("submitted_for_tracebacks", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def error(fn, *args):
    out = common.guard(fn, *args)
    assert set(out) == {"error"}, out
    return out["error"]


def test_torch_frames_between_fold_to_one_line_and_the_students_line_stays(student):
    text = error(student.nested, 30)
    lines = text.splitlines()
    assert len(lines) <= common.TRACEBACK_LINES
    assert "return x.reshape(3, 7)" in text and "in forward" in text
    assert lines[-1].startswith("RuntimeError: shape '[3, 7]' is invalid")
    assert any(line.strip().startswith("...") and "inside torch" in line for line in lines), text
    assert "torch/nn/modules" not in text and "common.py" not in text


@pytest.mark.parametrize("limit", [6, 8, 15])
def test_the_deepest_student_frame_and_the_exception_survive_any_depth(student, limit):
    text = common.traceback_tail(_raised(student.recurse, 50), lines=limit)
    lines = [line for line in text.splitlines() if not line.startswith("hint: ")]
    assert len(lines) <= limit
    assert "return model(torch.zeros(2, 5))" in text and "in deep_in_torch" in text, text
    assert "frames inside torch ..." in text, text
    assert lines[-1].startswith("RuntimeError: mat1 and mat2 shapes cannot be multiplied"), text


def _raised(fn, *args):
    try:
        fn(*args)
    except Exception as exc:  # noqa: BLE001 - any student error
        return exc
    raise AssertionError("no exception")


def test_a_long_message_keeps_its_first_line_and_the_students_frame(student):
    text = common.traceback_tail(_raised(student.long_message), lines=10)
    assert len(text.splitlines()) <= 10
    assert "ValueError: first line" in text and "in long_message" in text, text


@pytest.mark.parametrize("fn, args, words", [
    ("to_tensor", (np.zeros(3072, np.uint8),), "reshape(3, 32, 32).transpose(1, 2, 0)"),
    ("to_tensor", (torch.zeros(3, 32, 32),), "already a tensor"),
    ("flip_first", (np.zeros((32, 32, 3), np.uint8),), "after transforms.ToTensor()"),
    ("float_labels", (), "a label must be an int"),
])
def test_common_data_errors_get_a_hint(student, fn, args, words):
    text = error(getattr(student, fn), *args)
    hint = text.splitlines()[-1]
    assert hint.startswith("hint: ") and words in hint, text
    assert f"in {fn}" in text


def test_a_key_error_names_the_keys_that_were_passed(student):
    text = error(student.build_optimizer, "SGD", [torch.nn.Parameter(torch.zeros(1))], {"lr": 0.1})
    assert "KeyError: 'learning_rate'" in text
    assert text.splitlines()[-1] == ("hint: build_optimizer() got hparams with the keys 'lr'; no key "
                                     "'learning_rate' (its docstring lists the keys the grader passes)")


def test_no_hint_for_other_errors():
    def divide():
        return 1 / 0
    assert error(divide).rstrip().endswith("ZeroDivisionError: division by zero")


# --- frames a student never reads: the import system's, the grader's, install paths -----------------
@pytest.fixture
def stub_defs(monkeypatch):
    from grader.submission import stub_definitions
    monkeypatch.setattr(common, "STUB_DEFS", stub_definitions())
    return common.STUB_DEFS


def _import_raising(tmp_path, monkeypatch, name, source):
    (tmp_path / f"{name}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        importlib.import_module(name)
    except Exception as exc:  # noqa: BLE001 - the import's error
        return exc
    raise AssertionError("imported")


def test_an_error_at_import_shows_the_students_line_and_no_import_machinery(tmp_path, monkeypatch):
    exc = _import_raising(tmp_path, monkeypatch, "broken_at_import", "import os\n\nimport numpyy\n")
    text = common.traceback_tail(exc)
    assert 'broken_at_import.py", line 3' in text and "import numpyy" in text, text
    assert text.splitlines()[-1] == "ModuleNotFoundError: No module named 'numpyy'"
    assert "<frozen" not in text and "importlib/" not in text and "_bootstrap" not in text, text


def test_installed_packages_fold_and_their_paths_never_show(student):
    def parse():
        import json
        return json.loads("{")
    text = error(parse)
    assert "... 3 frames inside json ..." in text or "frames inside json" in text, text
    assert "lib/python3" not in text and "site-packages" not in text, text
    text = error(np.zeros(4).reshape, 3, 5)
    assert "site-packages" not in text and text.splitlines()[-1].startswith("ValueError: cannot reshape")


def test_an_error_raised_in_the_grader_alone_shows_no_grader_frame():
    from grader.probes import fixtures
    text = error(fixtures.read_batch, "/nonexistent/data_batch_9")
    assert "grader/" not in text and "fixtures.py" not in text, text
    assert text.splitlines()[-1].startswith("FileNotFoundError"), text


@pytest.mark.parametrize("text, cut", [
    ("/root/.pyenv/versions/3.11.7/lib/python3.11/site-packages/torch/nn/modules/module.py:12: "
     "UserWarning: x", "torch/nn/modules/module.py:12: UserWarning: x"),
    ('File "/usr/lib/python3.10/json/decoder.py", line 3', 'File "json/decoder.py", line 3'),
    ("C:\\Python311\\Lib\\site-packages\\numpy\\core.py", "numpy\\core.py"),
    ("/tmp/box/scratch/grader/probes/fixtures.py:40: UserWarning: y", "the grader: UserWarning: y"),
])
def test_install_paths_are_cut_from_any_text(text, cut):
    assert common.scrub_paths(text) == cut


def test_a_missing_function_is_said_in_the_students_terms(tmp_path, monkeypatch, stub_defs):
    module = type(sys)("submitted")
    module.test_model = lambda loader, model: 0.5
    module.train = lambda *args: None
    monkeypatch.setitem(sys.modules, "submitted", module)
    text = error(lambda: module.test)
    line, signature, kind = stub_defs["test"]
    assert text == (f"submitted.py defines no `test` function, and this test calls it. It defines "
                    f"`test_model`: if that is the one, name it `test`. (the stub defines it at line "
                    f"{line}: {signature})"), text
    assert kind == "function" and signature == "def test(test_dataloader, model)"
    assert "`train`" not in text, "another function of the stub is never offered as a match"
    # The parent says it as it is: test() raised nothing, it is not there.
    assert raised("test()", text) == text
    assert raised("test()", "ValueError: x") == "test() raised an error:\nValueError: x"


def test_a_class_of_another_case_is_offered(monkeypatch, stub_defs):
    module = type(sys)("submitted")
    module.Cifar10 = type("Cifar10", (), {})
    monkeypatch.setitem(sys.modules, "submitted", module)
    text = error(lambda: module.CIFAR10)
    assert text.startswith("submitted.py defines no `CIFAR10` class") and "`Cifar10`" in text, text


def test_a_call_with_the_stubs_arguments_says_how_the_grader_calls(student, stub_defs):
    text = error(student.test, "loader", "model")
    assert "TypeError: " in text and "takes 1 positional argument but 2 were given" in text
    assert text.splitlines()[-1] == (f"hint: the grader calls test as the stub defines it (the stub "
                                     f"defines it at line {stub_defs['test'][0]}: def test(test_dataloader, "
                                     "model)): keep its parameters as they are"), text


def test_a_name_the_students_own_code_lacks_gets_the_stubs_line(stub_defs):
    def run_model():
        return test(None, None)  # noqa: F821 - the student's test() is missing
    text = error(run_model)
    assert "NameError: name 'test' is not defined" in text
    assert text.splitlines()[-1].startswith("hint: submitted.py uses `test` but does not define it (the "
                                            f"stub defines it at line {stub_defs['test'][0]}")


# --- hints for the crashes real code of this MP hits in torch ---------------------------------------
def _batch_norm_on_one_image():
    return torch.nn.BatchNorm2d(4).train()(torch.zeros(1, 4, 1, 1))


def _uint8_into_a_conv():
    return torch.nn.Conv2d(3, 4, 3)(torch.zeros(2, 3, 8, 8, dtype=torch.uint8))


def _float64_into_a_linear():
    return torch.nn.Linear(3, 4)(torch.zeros(2, 3, dtype=torch.float64))


def _channels_last():
    return torch.nn.Conv2d(3, 4, 3)(torch.zeros(2, 32, 32, 3))


def _unflattened_features():
    return torch.nn.Linear(512, 8)(torch.zeros(2, 512, 1, 1))


def _backward_twice():
    w = torch.ones(2, requires_grad=True)
    loss = (w * w).sum()
    loss.backward()
    loss.backward()


def _backward_under_no_grad():
    with torch.no_grad():
        loss = torch.nn.Linear(3, 1)(torch.zeros(2, 3)).sum()
    loss.backward()


@pytest.mark.parametrize("fn, words", [
    (_batch_norm_on_one_image, "model.eval()"),
    (_uint8_into_a_conv, "float32"),
    (_float64_into_a_linear, "float32"),
    (_channels_last, "(N, 3, 32, 32)"),
    (_unflattened_features, "torch.flatten(x, 1)"),
    (_backward_twice, "once per batch"),
    (_backward_under_no_grad, "torch.no_grad()"),
])
def test_real_torch_crashes_get_a_hint(fn, words):
    text = error(fn)
    assert text.splitlines()[-1].startswith("hint: ") and words in text.splitlines()[-1], text


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU: .cuda() works")
def test_cuda_on_a_cpu_machine_gets_a_hint():
    text = error(lambda: torch.zeros(1).cuda())
    assert text.splitlines()[-1].startswith("hint: the grader runs on a CPU without a GPU"), text
