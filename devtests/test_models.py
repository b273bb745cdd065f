"""models.py: torchvision compatibility, offline loading, clear checkpoint errors, input conventions.

Uses random weights except where the shipped checkpoint is the point.
"""
import socket

import numpy as np
import pytest
import torch
import torchvision
from hypothesis import given, settings, strategies as st
from torchvision import transforms

import models
import mpconfig as C
from reference import build_data

CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)


@pytest.fixture(scope="module")
def images():
    """16 real test images as ToTensor() gives them: float (N, 3, 32, 32) in [0, 1]."""
    batch = build_data.load_batch(C.DATA_DIR / C.TEST_FILE)
    hwc = batch[b"data"][:16].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return torch.stack([transforms.ToTensor()(im) for im in hwc])


@pytest.fixture(scope="module")
def random_model():
    torch.manual_seed(0)
    return models.resnet18().eval()


def rel_diff(a, b):
    return ((a - b).norm() / a.norm()).item()


def test_state_dict_matches_torchvision_resnet18_exactly():
    ours = models.resnet18().state_dict()
    theirs = torchvision.models.resnet18(num_classes=10).state_dict()
    assert list(ours) == list(theirs)
    assert {k: v.shape for k, v in ours.items()} == {k: v.shape for k, v in theirs.items()}
    # Without the 10-class head the keys are still torchvision's (fc is just smaller).
    assert list(models.resnet18(num_classes=8).state_dict()) == list(torchvision.models.resnet18().state_dict())


def test_pretrained_loads_the_local_checkpoint_without_network(tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("models.resnet18(pretrained=True) tried to use the network")
    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.chdir(tmp_path)  # found next to models.py, not in the working directory
    model = models.resnet18(pretrained=True, progress=False)
    expected = torch.load(C.CHECKPOINT, weights_only=True)
    assert all(torch.equal(v, expected[k]) for k, v in model.state_dict().items())


def test_usual_torch_load_recipe_works(monkeypatch):
    monkeypatch.chdir(C.ROOT)
    model = models.resnet18()
    result = model.load_state_dict(torch.load("resnet18.pt"))
    assert (result.missing_keys, result.unexpected_keys) == ([], [])


def _truncated(path):
    path.write_bytes(C.CHECKPOINT.read_bytes()[:100_000])
    return RuntimeError, "is corrupt or not a PyTorch file"


def _random_bytes(path):
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    return RuntimeError, "is corrupt or not a PyTorch file"


def _missing(path):
    return FileNotFoundError, "not found"


def _no_conv1(path):
    state = models.resnet18().state_dict()
    del state["conv1.weight"]
    torch.save(state, path)
    return RuntimeError, "is not a ResNet-18 state dict"


def _not_a_dict(path):
    torch.save(torch.zeros(3), path)
    return RuntimeError, "is not a ResNet-18 state dict"


@pytest.mark.parametrize("make", [_truncated, _random_bytes, _missing, _no_conv1, _not_a_dict],
                         ids=lambda f: f.__name__.strip("_"))
def test_bad_checkpoint_gives_a_clear_error_naming_the_file(make, tmp_path):
    path = tmp_path / "resnet18.pt"
    kind, message = make(path)
    with pytest.raises(kind, match=f"checkpoint {path} {message}"):
        models.load_checkpoint(path)
    with pytest.raises(kind, match=f"checkpoint {path} {message}"):
        models.resnet18(pretrained=True, checkpoint=path)


def test_pretrained_needs_the_checkpoint_head_size():
    with pytest.raises(ValueError, match="num_classes=10"):
        models.resnet18(num_classes=8, pretrained=True)


def test_output_shapes(images, random_model):
    x = images[:4]
    with torch.no_grad():
        assert random_model(x).shape == (4, 10)
        assert random_model.features(x).shape == (4, 512)
        assert models.resnet18(num_classes=8).eval()(x).shape == (4, 8)
        assert random_model(x[:1]).shape == (1, 10)


def test_dropping_fc_with_sequential_children_keeps_the_input_standardisation(images, random_model):
    """The common student idiom nn.Sequential(*list(model.children())[:-1])."""
    body = torch.nn.Sequential(*list(random_model.children())[:-1])
    with torch.no_grad():
        assert torch.allclose(body(images).flatten(1), random_model.features(images), atol=1e-6)


def test_input_norm_standardises_each_image(images):
    z = models.InputStandardize()(images * torch.linspace(0.5, 3, len(images)).view(-1, 1, 1, 1) - 1)
    assert torch.allclose(z.mean(dim=(1, 2, 3)), torch.zeros(len(images)), atol=1e-5)
    assert torch.allclose(z.std(dim=(1, 2, 3)), torch.ones(len(images)), atol=1e-3)


def test_three_input_conventions_give_the_same_features(images, random_model):
    conventions = {
        "totensor": transforms.Compose([]),
        "half": transforms.Normalize((0.5,) * 3, (0.5,) * 3),
        "meanstd": transforms.Normalize(CIFAR_MEAN, CIFAR_STD),
    }
    with torch.no_grad():
        feats = {k: random_model.features(t(images)) for k, t in conventions.items()}
        # The same conventions without the model's standardisation differ a lot, so the
        # tolerances below measure what input_norm buys and are not trivially met.
        bare = models.resnet18().eval()
        bare.load_state_dict(random_model.state_dict())
        bare.input_norm = torch.nn.Identity()
        raw = {k: bare.features(t(images)) for k, t in conventions.items()}
    assert rel_diff(raw["totensor"], raw["half"]) > 0.3
    assert rel_diff(raw["totensor"], raw["meanstd"]) > 0.3
    # Normalize(0.5, 0.5) is a per-image affine map: identical up to the 1e-5 in the std.
    assert rel_diff(feats["totensor"], feats["half"]) < 1e-4
    # Mean/std differs per channel, so not identical, but close (measured 0.06).
    assert rel_diff(feats["totensor"], feats["meanstd"]) < 0.15


@settings(max_examples=15, deadline=None)
@given(scale=st.floats(0.2, 20), shift=st.floats(-10, 10))
def test_features_ignore_any_positive_affine_rescaling_of_the_input(images, random_model, scale, shift):
    x = images[:4]
    with torch.no_grad():
        assert rel_diff(random_model.features(x), random_model.features(scale * x + shift)) < 2e-3
