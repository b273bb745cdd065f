"""What a student reads when their code raises (grader/probes/common.py traceback_tail): the
deepest frame in submitted.py and the exception line always, torch/torchvision frames folded to
one line, grader frames gone, a hint for the common data errors, the keys a KeyError missed."""
import importlib.util
import textwrap

import numpy as np
import pytest
import torch

from grader.probes import common

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
