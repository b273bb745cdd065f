"""models.py: torchvision compatibility, offline loading, clear checkpoint errors, input conventions.

Uses random weights except where the shipped checkpoint is the point.
"""
import copy
import socket

import numpy as np
import pytest
import torch
import torchvision
from hypothesis import given, settings, strategies as st
from torchvision import transforms

import models
import mpconfig as C
from grader.probes.cifar_batch import rows_and_labels
from reference import build_data

CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)


@pytest.fixture(scope="module")
def images():
    """16 real test images as ToTensor() gives them: float (N, 3, 32, 32) in [0, 1]."""
    rows, _ = rows_and_labels(build_data.load_batch(C.DATA_DIR / C.TEST_FILE))
    hwc = rows[:16].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
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


@pytest.fixture(scope="module")
def pretrained():
    return models.resnet18(pretrained=True).eval()


def _children_but_fc(m):
    """The common student idiom: every child but the last (fc)."""
    return torch.nn.Sequential(*list(m.children())[:-1])


def _named_children(m):
    """The backbone re-assembled by hand from the named layers (another common idiom)."""
    return torch.nn.Sequential(m.conv1, m.bn1, m.relu, m.maxpool, m.layer1, m.layer2, m.layer3,
                               m.layer4, m.avgpool)


def _fc_identity(m):
    m = copy.deepcopy(m)
    m.fc = torch.nn.Identity()
    return m


@pytest.mark.parametrize("take", [_children_but_fc, _named_children, _fc_identity],
                         ids=lambda f: f.__name__.strip("_"))
def test_every_usual_way_of_taking_the_backbone_gives_the_same_features(take, images, pretrained):
    """Each gets the standardisation (it is inside conv1), so each gives the model's own 512
    features: the same as forward's up to fc, which is what the head is trained on."""
    body = take(pretrained).eval()
    with torch.no_grad():
        own = pretrained.features(images)
        got = body(images).flatten(1)
        logits = pretrained(images)
    assert own.shape == got.shape == (len(images), 512)
    assert torch.allclose(got, own, atol=1e-5)
    # features() is forward up to fc: the head sees exactly these.
    assert torch.allclose(pretrained.fc(got), logits, atol=1e-4)


def test_conv1_is_a_conv2d_with_torchvisions_keys_and_no_separate_standardisation_layer(random_model):
    assert isinstance(random_model.conv1, torch.nn.Conv2d)
    assert [name for name, _ in random_model.named_children()] == [
        "conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool", "fc"]
    assert [k for k in random_model.state_dict() if k.startswith("conv1.")] == ["conv1.weight"]


def test_conv1_standardises_before_it_convolves(images, random_model):
    plain = torch.nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
    plain.load_state_dict(random_model.conv1.state_dict())
    x = images * 3 - 1
    with torch.no_grad():
        assert torch.allclose(random_model.conv1(x), plain(models.standardize(x)), atol=1e-6)
        assert not torch.allclose(random_model.conv1(x), plain(x), atol=1e-2)


def test_standardize_standardises_each_image(images):
    z = models.standardize(images * torch.linspace(0.5, 3, len(images)).view(-1, 1, 1, 1) - 1)
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
        # tolerances below measure what the standardisation buys and are not trivially met.
        bare = models.resnet18().eval()
        bare.load_state_dict(random_model.state_dict())
        plain = torch.nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        plain.load_state_dict(random_model.conv1.state_dict())
        bare.conv1 = plain
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
