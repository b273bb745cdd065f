"""Visible tests: a quick subset of the autograder's checks on your submitted.py.

Run them from the MP folder with:  python -m pytest tests
Passing them does not guarantee full marks (the autograder also trains your model with
run_model() and measures its accuracy on hidden images), but failing one means a part of
your code does not yet do what its docstring asks.
"""
import math
import numbers

import numpy as np
import pytest
import torch
from torch import nn

TEST_FILE = "cifar10_batches/test_batch"


def check(ok, where, expected, found):
    """Fail with a message that says what was expected, what was found and where to look."""
    assert ok, f"look at {where}: expected {expected}, found {found}"


def raw_images(batch):
    """The images of a pickled batch as HWC uint8 arrays, the format the dataset starts from."""
    return batch[b"data"].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)


def checkpoint_tensors():
    """The pretrained backbone's tensors (all but the old fc head), from resnet18.pt."""
    state = torch.load("resnet18.pt", map_location="cpu", weights_only=True)
    return {k: v for k, v in state.items() if not k.startswith("fc.") and v.is_floating_point()}


def is_pretrained(param, tensors):
    return any(t.shape == param.shape and torch.equal(t, param.detach()) for t in tensors.values())


# --- 1. Dataset ---------------------------------------------------------------------------
def test_dataset_length(submitted, test_batch):
    dataset = submitted.build_dataset([TEST_FILE])
    n = len(test_batch[b"labels"])
    check(len(dataset) == n, "CIFAR10.__len__ / build_dataset",
          f"len(dataset) == {n} (the images in {TEST_FILE})", len(dataset))
    two = submitted.build_dataset([TEST_FILE, TEST_FILE])
    check(len(two) == 2 * n, "CIFAR10.__init__ (it must load every file in data_files)",
          f"{2 * n} images from the same file listed twice", len(two))


def test_dataset_item_without_transform(submitted, test_batch):
    dataset = submitted.CIFAR10([TEST_FILE])
    images, labels = raw_images(test_batch), test_batch[b"labels"]
    for idx in (0, 1, len(labels) - 1):
        item = dataset[idx]
        check(isinstance(item, tuple) and len(item) == 2, "CIFAR10.__getitem__",
              "a tuple (image, label)", repr(item)[:80])
        image, label = item
        image = np.asarray(image)
        check(image.shape == (32, 32, 3) and image.dtype == np.uint8,
              "CIFAR10.__getitem__ (with transform=None it returns the image as stored: "
              "reshape(3, 32, 32).transpose(1, 2, 0))",
              "a (32, 32, 3) uint8 array", f"shape {image.shape}, dtype {image.dtype}")
        check(np.array_equal(image, images[idx]), "CIFAR10.__init__ / __getitem__ (pixel layout)",
              f"image {idx} to equal row {idx} of b'data' reshaped to (3, 32, 32) then "
              "transposed to (32, 32, 3)", "different pixel values")
        check(int(label) == labels[idx], "CIFAR10.__getitem__ (labels)",
              f"label {labels[idx]} for image {idx}", label)


def test_dataset_applies_transforms(submitted, test_batch):
    dataset = submitted.CIFAR10([TEST_FILE], transform=lambda image: ("transformed", np.asarray(image).shape),
                                target_transform=lambda label: label + 100)
    image, label = dataset[0]
    check(image == ("transformed", (32, 32, 3)), "CIFAR10.__getitem__ (transform)",
          "transform applied to the (32, 32, 3) image", repr(image)[:80])
    check(label == test_batch[b"labels"][0] + 100, "CIFAR10.__getitem__ (target_transform)",
          "target_transform applied to the label", label)


@pytest.mark.parametrize("mode", ["train", "test"])
def test_preprocess_transform(submitted, test_batch, mode):
    transform = submitted.get_preprocess_transform(mode)
    out = transform(raw_images(test_batch)[0])
    check(isinstance(out, torch.Tensor) and out.dtype == torch.float32 and out.shape == (3, 32, 32),
          f'get_preprocess_transform("{mode}") (start with transforms.ToTensor())',
          "a float32 tensor of shape (3, 32, 32)",
          f"{type(out).__name__} {getattr(out, 'dtype', '')} {tuple(getattr(out, 'shape', ()))}")


def test_build_dataset_uses_transform(submitted):
    dataset = submitted.build_dataset([TEST_FILE], transform=submitted.get_preprocess_transform("test"))
    image, label = dataset[0]
    check(isinstance(image, torch.Tensor) and image.shape == (3, 32, 32),
          "build_dataset (pass transform on to the dataset)",
          "a (3, 32, 32) tensor image", f"{type(image).__name__} {tuple(getattr(image, 'shape', ()))}")


# --- 2. DataLoader ------------------------------------------------------------------------
def test_dataloader_batches(submitted, test_batch):
    dataset = submitted.build_dataset([TEST_FILE], transform=submitted.get_preprocess_transform("test"))
    loader = submitted.build_dataloader(dataset, {"batch_size": 16, "shuffle": False})
    n = len(test_batch[b"labels"])
    check(len(loader) == math.ceil(n / 16), 'build_dataloader (use loader_params["batch_size"])',
          f"{math.ceil(n / 16)} batches of 16", len(loader))
    images, labels = next(iter(loader))
    check(tuple(images.shape) == (16, 3, 32, 32), "build_dataloader",
          "images of shape (16, 3, 32, 32)", tuple(images.shape))
    check(isinstance(labels, torch.Tensor) and labels.tolist() == test_batch[b"labels"][:16],
          'build_dataloader (with "shuffle": False the order is the file\'s)',
          f"labels {test_batch[b'labels'][:16]}", labels)


def test_dataloader_shuffles(submitted):
    dataset = submitted.build_dataset([TEST_FILE])
    torch.manual_seed(0)
    loader = submitted.build_dataloader(dataset, {"batch_size": 64, "shuffle": True})
    labels = next(iter(loader))[1].tolist()
    in_order = [dataset[i][1] for i in range(64)]
    check(labels != in_order, 'build_dataloader (use loader_params["shuffle"])',
          "a shuffled first batch with shuffle=True", "the file's order")


# --- 3. Model -----------------------------------------------------------------------------
def test_model_output_shape(submitted, class_names):
    model = submitted.build_model()
    check(isinstance(model, nn.Module), "build_model", "a torch.nn.Module (your FinetuneNet)",
          type(model).__name__)
    with torch.no_grad():
        out = model(torch.rand(4, 3, 32, 32))
    check(isinstance(out, torch.Tensor) and tuple(out.shape) == (4, len(class_names)),
          "FinetuneNet.forward (the new head needs one output per class)",
          f"logits of shape (4, {len(class_names)})", tuple(getattr(out, "shape", ())))


def test_backbone_pretrained_and_frozen(submitted):
    model = submitted.FinetuneNet()
    tensors = checkpoint_tensors()
    params = list(model.parameters())
    check(any(is_pretrained(p, {"conv1": tensors["conv1.weight"]}) for p in params),
          "FinetuneNet.__init__ (step 1: resnet18(pretrained=True))",
          "the backbone's weights loaded from resnet18.pt", "no parameter equal to its conv1.weight")
    unfrozen = sum(1 for p in params if p.requires_grad and is_pretrained(p, tensors))
    check(unfrozen == 0, "FinetuneNet.__init__ (step 2: set requires_grad = False on the backbone)",
          "every pretrained backbone parameter frozen", f"{unfrozen} still trainable")
    trainable = sum(p.numel() for p in params if p.requires_grad)
    check(trainable > 0, "FinetuneNet.__init__ (step 3: a new linear layer)",
          "at least one trainable parameter (the new head)", "none")


def test_build_optimizer(submitted):
    param = nn.Parameter(torch.zeros(3))
    for name, cls in (("SGD", torch.optim.SGD), ("Adam", torch.optim.Adam)):
        optimizer = submitted.build_optimizer(name, [param], {"lr": 0.0123})
        check(isinstance(optimizer, cls), "build_optimizer", f"a torch.optim.{name}",
              type(optimizer).__name__)
        check(optimizer.param_groups[0]["lr"] == 0.0123, 'build_optimizer (use hparams["lr"])',
              "lr 0.0123", optimizer.param_groups[0]["lr"])


# --- 4. Training and testing --------------------------------------------------------------
def test_training_reduces_loss(submitted, test_batch):
    torch.manual_seed(0)
    dataset = submitted.build_dataset([TEST_FILE], transform=submitted.get_preprocess_transform("test"))
    subset = torch.utils.data.Subset(dataset, range(64))
    loader = submitted.build_dataloader(subset, {"batch_size": 16, "shuffle": False})
    model = submitted.build_model()
    frozen_before = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    images = torch.stack([subset[i][0] for i in range(64)])
    labels = torch.tensor(test_batch[b"labels"][:64])
    loss_fn = nn.CrossEntropyLoss()

    def loss():
        model.eval()
        with torch.no_grad():
            return loss_fn(model(images), labels).item()

    before = loss()
    optimizer = submitted.build_optimizer("Adam", [p for p in model.parameters() if p.requires_grad],
                                          {"lr": 1e-3})
    for _ in range(5):
        submitted.train(loader, model, loss_fn, optimizer)
    after = loss()
    check(after < before, "train (prediction, loss, zero_grad, backward, step for every batch)",
          f"the loss on the training images to fall below {before:.4f} after 5 passes", f"{after:.4f}")
    changed = [n for n, p in model.named_parameters() if n in frozen_before and not torch.equal(p, frozen_before[n])]
    check(not changed, "train / FinetuneNet (frozen parameters must not change)",
          "frozen parameters unchanged by training", f"{len(changed)} changed, e.g. {changed[:1]}")


def as_number(value):
    """test()'s result as a float, or None if it is not a number (a 1-element tensor counts)."""
    if isinstance(value, torch.Tensor):
        return float(value.item()) if value.numel() == 1 else None
    return float(value) if isinstance(value, numbers.Real) else None


def test_test_returns_accuracy(submitted, test_batch):
    dataset = submitted.build_dataset([TEST_FILE], transform=submitted.get_preprocess_transform("test"))
    subset = torch.utils.data.Subset(dataset, range(100))
    loader = submitted.build_dataloader(subset, {"batch_size": 32, "shuffle": False})
    model = submitted.build_model()
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = submitted.test(loader, model)
    acc = as_number(result)
    check(acc is not None, "test (return a number, e.g. correct / total)", "a float", type(result).__name__)
    check(0.0 <= acc <= 1.0, "test (accuracy is a fraction, not a percentage)",
          "a value in [0, 1]", acc)
    check(model.training, "test (remember model.training, call model.eval(), and restore the mode "
          "with model.train(was_training) at the end)",
          "the model back in training mode, as test() got it", "eval mode")
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
    check(not changed, "test (evaluate in eval mode under torch.no_grad(); do not train)",
          "the model's parameters and buffers unchanged", f"{len(changed)} changed, e.g. {changed[:1]}")
    model.eval()
    with torch.no_grad():
        predictions = model(torch.stack([subset[i][0] for i in range(100)])).argmax(dim=1)
    expected = (predictions == torch.tensor(test_batch[b"labels"][:100])).float().mean().item()
    check(abs(acc - expected) < 1e-6, "test (the fraction of images whose largest logit is the label)",
          f"{expected:.4f}", f"{acc:.4f}")
