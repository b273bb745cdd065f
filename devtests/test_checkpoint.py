"""resnet18.pt and the recipe that made it (reference/pretrain.py).

test_checkpoint_is_the_one_on_the_model_card fails until the lead writes the card for the real
checkpoint (python -m reference.pretrain card): that is intended.
"""
import json
import math

import pytest
import torch

import models
import mpconfig as C
from reference import build_data, pretrain


@pytest.fixture(scope="module")
def state():
    return models.load_checkpoint(C.CHECKPOINT)


@pytest.fixture(scope="module")
def tiny_batch():
    """16 real training images (uint8, N x 3 x 32 x 32) and their labels."""
    x, y = pretrain.load_batch(C.DATA_DIR / C.TRAIN_FILES[0])
    return x[:16], y[:16]


def test_checkpoint_is_the_one_on_the_model_card():
    assert C.MODEL_CARD.is_file(), f"{C.MODEL_CARD} missing: run python -m reference.pretrain card"
    card = json.loads(C.MODEL_CARD.read_text())
    assert card.get("sha256") == build_data.sha256_file(C.CHECKPOINT), \
        f"{C.CHECKPOINT} is not the checkpoint described by {C.MODEL_CARD}"


def test_the_cards_reasons_and_notes_are_the_recipes():
    # The card is written by `pretrain card`; its texts live in pretrain.py, kept in step.
    card = json.loads(C.MODEL_CARD.read_text())
    assert (card["why"], card["notes"]) == (pretrain.WHY, pretrain.NOTES), \
        "reference/model_card.json's why/notes differ from reference/pretrain.py's WHY/NOTES"


def test_checkpoint_loads_strictly_with_a_512_to_10_head(state):
    model = models.resnet18()
    result = model.load_state_dict(state, strict=True)
    assert (result.missing_keys, result.unexpected_keys) == ([], [])
    assert (model.fc.in_features, model.fc.out_features) == (512, 10)
    assert state["fc.weight"].shape == (10, 512) and state["fc.bias"].shape == (10,)
    assert all(torch.isfinite(v.float()).all() for v in state.values())


def _one_step(tiny_batch, seed=0):
    x, y = tiny_batch
    torch.manual_seed(seed)
    model = models.resnet18().to(memory_format=torch.channels_last)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    opt, sched = pretrain.make_optimizer(model, pretrain.RECIPE, steps_per_epoch=1)
    gen = torch.Generator().manual_seed(seed)
    loss, logits = pretrain.train_step(model, opt, sched, x, y, gen)
    return loss, logits, before, model.state_dict()


def test_one_pretraining_step_is_finite_changes_weights_and_is_seeded(tiny_batch):
    loss, logits, before, after = _one_step(tiny_batch)
    assert math.isfinite(loss) and 0 < loss < 10
    assert logits.shape == (16, 10)
    for name in ("conv1.weight", "layer4.1.conv2.weight", "fc.weight", "bn1.running_mean"):
        assert not torch.equal(before[name], after[name]), f"{name} unchanged by the step"
    # Seeds fixed: the same step twice gives the same loss and weights.
    loss2, _, _, after2 = _one_step(tiny_batch)
    assert loss2 == loss and torch.equal(after2["fc.weight"], after["fc.weight"])


def test_augment_keeps_shape_and_pixels():
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
    out = pretrain.augment(x, gen, pad=4)
    assert out.shape == x.shape and out.dtype == torch.uint8
    # With no padding, a crop is the identity, so only flips remain.
    same = pretrain.augment(x, gen, pad=0)
    assert all(torch.equal(s, i) or torch.equal(s, i.flip(2)) for s, i in zip(same, x))


def test_features_and_convention_helpers(tiny_batch):
    torch.manual_seed(0)
    model = models.resnet18().to(memory_format=torch.channels_last)
    x = tiny_batch[0][:6]
    f = pretrain.features(model, x, "half", batch=4)
    assert f.shape == (6, 512)
    with torch.no_grad():
        assert torch.allclose(f, model.features((x.float() / 255 - 0.5) / 0.5), atol=1e-5)


def test_linear_probe_learns_separable_features_and_not_noise():
    gen = torch.Generator().manual_seed(0)
    centers = torch.randn(C.NUM_CLASSES, 32, generator=gen) * 3
    y_tr = torch.arange(400) % C.NUM_CLASSES
    y_te = torch.arange(200) % C.NUM_CLASSES
    f_tr = centers[y_tr] + torch.randn(400, 32, generator=gen)
    f_te = centers[y_te] + torch.randn(200, 32, generator=gen)
    noise = torch.randn(200, 32, generator=gen)
    acc = pretrain.linear_probe(f_tr, y_tr, {"test": (f_te, y_te), "noise": (noise, y_te)})
    assert acc["test"] > 0.95
    assert acc["noise"] < 0.35  # chance is 1/8
