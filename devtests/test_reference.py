"""The reference solution does what its docstrings (and the grader's comparisons) rely on.

run_model is exercised on a tiny copy of the data (64 images per batch file) so that these
tests take seconds; its accuracy on the real data is checked by the notebook test and the
grader's own end-to-end runs.
"""
import importlib.util
import pickle
import shutil

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch import nn
from torchvision import transforms

import mpconfig as C
from grader.probes.cifar_batch import rows_and_labels, unpickle
from models import load_checkpoint

TINY = 64
HEAD = ("backbone.fc.weight", "backbone.fc.bias")


def raw_images(batch):
    return rows_and_labels(batch)[0].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)


@pytest.fixture(scope="module")
def R():
    spec = importlib.util.spec_from_file_location("mp09_reference_under_test", C.REFERENCE_SOLUTION)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def checkpoint():
    return load_checkpoint(C.CHECKPOINT)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    """A submission folder whose batch files hold the first TINY images of the real ones."""
    root = tmp_path_factory.mktemp("tiny")
    (root / C.DATA_DIR.name).mkdir()
    for name in (*C.TRAIN_FILES, C.TEST_FILE):
        batch = unpickle(C.DATA_DIR / name)
        batch[b"data"], batch[b"labels"] = batch[b"data"][:TINY], batch[b"labels"][:TINY]
        batch[b"filenames"] = batch[b"filenames"][:TINY]
        with open(root / C.DATA_DIR.name / name, "wb") as f:
            pickle.dump(batch, f)
    shutil.copyfile(C.DATA_DIR / C.META_FILE, root / C.DATA_DIR.name / C.META_FILE)
    (root / "resnet18.pt").symlink_to(C.CHECKPOINT)
    return root


@pytest.fixture(scope="module")
def model(R):
    return R.FinetuneNet()


def state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


# --- data ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def two_files(R):
    files = [str(C.DATA_DIR / f) for f in C.TRAIN_FILES[:2]]
    batches = [unpickle(f) for f in files]
    return (R.build_dataset(files), np.concatenate([raw_images(b) for b in batches]),
            [y for b in batches for y in b[b"labels"]])


def test_dataset_concatenates_in_order(two_files):
    dataset, images, labels = two_files
    assert len(dataset) == len(labels) == 2 * len(unpickle(C.DATA_DIR / C.TRAIN_FILES[0])[b"labels"])


@settings(max_examples=40, deadline=None)
@given(fraction=st.floats(0, 1, exclude_max=True))
def test_dataset_items_are_the_stored_images(two_files, fraction):
    dataset, images, labels = two_files
    idx = int(fraction * len(labels))
    image, label = dataset[idx]
    assert image.shape == (32, 32, 3) and image.dtype == np.uint8
    assert np.array_equal(image, images[idx]) and label == labels[idx] and type(label) is int


def test_transforms(R):
    image = raw_images(unpickle(C.DATA_DIR / C.TEST_FILE))[0]
    expected = transforms.ToTensor()(image)
    assert torch.equal(R.get_preprocess_transform("test")(image), expected)
    torch.manual_seed(0)
    outs = [R.get_preprocess_transform("train")(image) for _ in range(50)]
    assert all(torch.equal(o, expected) or torch.equal(o, expected.flip(-1)) for o in outs)
    assert any(torch.equal(o, expected.flip(-1)) for o in outs) and any(torch.equal(o, expected) for o in outs)
    with pytest.raises(ValueError, match="'valid'"):
        R.get_preprocess_transform("valid")


def test_dataloader_passes_every_parameter(R):
    loader = R.build_dataloader(list(range(10)), {"batch_size": 4, "shuffle": False, "drop_last": True})
    assert [b.tolist() for b in loader] == [[0, 1, 2, 3], [4, 5, 6, 7]]


# --- model --------------------------------------------------------------------------------
def test_model_is_the_checkpoint_plus_a_new_head(model, checkpoint):
    params = dict(model.named_parameters())
    trainable = {n for n, p in params.items() if p.requires_grad}
    assert trainable == set(HEAD)
    assert params["backbone.fc.weight"].shape == (C.NUM_CLASSES, 512)
    for name, value in checkpoint.items():
        if not name.startswith("fc."):
            assert torch.equal(model.state_dict()["backbone." + name], value), name
    assert model(torch.rand(3, 3, 32, 32)).shape == (3, C.NUM_CLASSES)


def test_train_mode_keeps_frozen_batchnorm_in_eval(model):
    model.train()
    assert model.training and model.backbone.fc.training
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms and not any(m.training for m in norms)
    model.eval()
    assert not any(m.training for m in model.modules())


def test_training_moves_only_the_head(R, monkeypatch):
    monkeypatch.chdir(C.ROOT)
    torch.manual_seed(0)
    model = R.build_model()
    before = state(model)
    dataset = R.build_dataset([C.DATA_DIR / C.TEST_FILE], R.get_preprocess_transform("train"))
    loader = R.build_dataloader(torch.utils.data.Subset(dataset, range(64)), {"batch_size": 16, "shuffle": True})
    optimizer = R.build_optimizer("SGD", [p for p in model.parameters() if p.requires_grad], {"lr": 0.1, "momentum": 0.9})
    R.train(loader, model, nn.CrossEntropyLoss(), optimizer)
    after = state(model)
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == set(HEAD)  # batch-norm running statistics included: untouched
    assert optimizer.param_groups[0]["momentum"] == 0.9


@pytest.mark.parametrize("mode", [True, False])
def test_test_is_exact_and_leaves_the_model_unchanged(R, model, mode):
    dataset = R.build_dataset([C.DATA_DIR / C.TEST_FILE], R.get_preprocess_transform("test"))
    subset = torch.utils.data.Subset(dataset, range(50))
    loader = R.build_dataloader(subset, {"batch_size": 16, "shuffle": False})
    model.train(mode)
    before = state(model)
    acc = R.test(loader, model)
    assert model.training is mode
    assert all(torch.equal(v, state(model)[k]) for k, v in before.items())
    model.eval()
    with torch.no_grad():
        predictions = model(torch.stack([subset[i][0] for i in range(50)])).argmax(1)
    labels = torch.tensor([subset[i][1] for i in range(50)])
    assert type(acc) is float and acc == (predictions == labels).sum().item() / 50


def test_build_optimizer(R):
    p = [nn.Parameter(torch.zeros(2))]
    assert isinstance(R.build_optimizer("Adam", p, {"lr": 0.01, "betas": (0.8, 0.9)}), torch.optim.Adam)
    sgd = R.build_optimizer("SGD", p, {"lr": 0.01, "momentum": 0.5})
    assert isinstance(sgd, torch.optim.SGD) and sgd.param_groups[0]["momentum"] == 0.5
    with pytest.raises(ValueError, match="'RMSprop'"):
        R.build_optimizer("RMSprop", p, {"lr": 0.01})


def test_build_model_trained_loads_trained_model_pt(R, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model = R.FinetuneNet()
    with torch.no_grad():
        model.backbone.fc.weight.fill_(0.25)
    torch.save(model.state_dict(), "trained_model.pt")
    loaded = R.build_model(trained=True)
    assert torch.equal(loaded.backbone.fc.weight, model.backbone.fc.weight)
    assert not R.build_model().backbone.fc.weight.eq(0.25).all()


# --- run_model on tiny data -----------------------------------------------------------------
def run_tiny(R, tiny_dir, monkeypatch, seed):
    monkeypatch.chdir(tiny_dir)
    torch.manual_seed(seed)
    return R.run_model()


def test_run_model_trains_one_epoch_over_all_training_files(R, tiny_dir, monkeypatch, checkpoint):
    passes = []
    original = R.train

    def counting_train(loader, model, loss_fn, optimizer):
        passes.append(len(loader.dataset))
        return original(loader, model, loss_fn, optimizer)

    monkeypatch.setattr(R, "train", counting_train)
    model = run_tiny(R, tiny_dir, monkeypatch, 0)
    assert isinstance(model, R.FinetuneNet)
    assert passes == [TINY * len(C.TRAIN_FILES)]
    assert torch.equal(model.backbone.conv1.weight, checkpoint["conv1.weight"])


def test_run_model_depends_on_the_callers_seed_only(R, tiny_dir, monkeypatch):
    """The grader seeds before calling run_model; run_model must not re-seed."""
    heads = [run_tiny(R, tiny_dir, monkeypatch, seed).backbone.fc.weight for seed in (1, 1, 2)]
    assert torch.equal(heads[0], heads[1])
    assert not torch.equal(heads[0], heads[2])
