"""Visible tests: a quick subset of the autograder's checks on your submitted.py.

Run them from the MP folder with:  python -m pytest tests

Each test is marked with the graded test it mirrors: @graded("1.2") is test 1.2 on Gradescope.
The run ends with a table of the graded tests, their points and how your code did here. Passing
here does not guarantee the points (the autograder asks more questions, and tests 7.x train your
model with run_model() and measure it on hidden images), but a failure here means a part of your
code does not yet do what its docstring asks. A test's docstring is the hint shown when it fails.
"""
import inspect
import math
import numbers
import sys

import numpy as np
import pytest
import torch
from torch import nn

TEST_FILE = "cifar10_batches/test_batch"
graded = pytest.mark.graded


def where(name):
    """`name` (a function or method of submitted.py, e.g. "CIFAR10.__getitem__") with the line
    where it starts in your submitted.py, when it can be found there."""
    obj = sys.modules.get("submitted")
    for part in name.split("."):
        obj = getattr(obj, part, None)
    try:
        line = inspect.getsourcelines(inspect.unwrap(obj))[1]
        path = inspect.getsourcefile(obj)
    except (TypeError, OSError):
        return name
    if path is None or not path.endswith("submitted.py"):
        return name
    return f"{name} (submitted.py, line {line})"


def check(ok, function, expected, found, hint=""):
    """Fail, naming your function and its line, with what was expected and what was found."""
    __tracebackhide__ = True
    if not ok:
        raise AssertionError(f"{where(function)}: expected {expected}, found {found}"
                       + (f"\nhint: {hint}" if hint else ""))


def raw_images(batch):
    """The images of a pickled batch as HWC uint8 arrays, the format the dataset starts from."""
    return np.array(batch[b"data"]).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)


def checkpoint_tensors():
    """The pretrained backbone's tensors (all but the old fc head), from resnet18.pt."""
    state = torch.load("resnet18.pt", map_location="cpu", weights_only=True)
    return {k: v for k, v in state.items() if not k.startswith("fc.") and v.is_floating_point()}


def is_pretrained(param, tensors):
    return any(t.shape == param.shape and torch.equal(t, param.detach()) for t in tensors.values())


def describe(value):
    """A short description of a value for a message (never a whole array)."""
    if isinstance(value, (torch.Tensor, np.ndarray)):
        return f"{type(value).__name__} of shape {tuple(value.shape)}, dtype {value.dtype}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --- 1. Dataset ---------------------------------------------------------------------------
@graded("1.1")
def test_1_1_length(submitted, test_batch):
    """len(dataset) counts the images of every file in data_files."""
    dataset = submitted.build_dataset([TEST_FILE])
    n = len(test_batch[b"labels"])
    check(len(dataset) == n, "CIFAR10.__len__", f"len(dataset) == {n} (the images in {TEST_FILE})",
          len(dataset))
    two = submitted.build_dataset([TEST_FILE, TEST_FILE])
    check(len(two) == 2 * n, "CIFAR10.__init__", f"{2 * n} images from the same file listed twice",
          len(two), "load every file of data_files, not only the first")


def as_hwc_pixels(image):
    """An image in any exact form (HWC, CHW or the file's row of 3072 values; numpy, tensor or PIL;
    integers 0..255, floats scaled to [0, 1] as ToTensor gives, or floats holding 0..255) as its
    (32, 32, 3) pixel values 0..255 (float64), or a string saying why it is not one."""
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu().numpy()
    image = np.asarray(image)
    if image.shape == (3072,):
        image = image.reshape(3, 32, 32)
    if image.shape == (3, 32, 32):
        image = image.transpose(1, 2, 0)
    if image.shape != (32, 32, 3):
        return f"shape {image.shape}"
    if not (np.issubdtype(image.dtype, np.integer) or np.issubdtype(image.dtype, np.floating)) \
            or not np.isfinite(image).all() or image.min() < 0 or image.max() > 255:
        return f"dtype {image.dtype}, values from {image.min()} to {image.max()}"
    if np.issubdtype(image.dtype, np.floating) and image.max() <= 1:
        return image.astype(np.float64) * 255
    return image.astype(np.float64)


@graded("1.2")
def test_1_2_items(submitted, test_batch):
    """With transform=None, dataset[i] is (image, label): the i-th image as stored, e.g. a
    (32, 32, 3) uint8 array (row i of b'data' reshaped to (3, 32, 32), then transposed to
    (32, 32, 3)), and its label. A (3, 32, 32) image, the row itself, a tensor, floats scaled to
    [0, 1] or floats holding 0..255 are fine too, as long as the pixels are the file's."""
    dataset = submitted.CIFAR10([TEST_FILE])
    images, labels = raw_images(test_batch), test_batch[b"labels"]
    for idx in (0, 1, len(labels) - 1):
        item = dataset[idx]
        check(isinstance(item, tuple) and len(item) == 2, "CIFAR10.__getitem__",
              "a tuple (image, label)", describe(item))
        image, label = item
        pixels = as_hwc_pixels(image)
        check(not isinstance(pixels, str), "CIFAR10.__getitem__",
              "a (32, 32, 3) uint8 array (or (3, 32, 32), or the row of 3072 values; uint8 or floats)",
              f"{describe(image)}: {pixels}",
              "with transform=None return the image as stored: reshape(3, 32, 32).transpose(1, 2, 0)")
        check(np.abs(pixels - images[idx]).max() <= 0.25, "CIFAR10.__init__",
              f"image {idx} to equal row {idx} of b'data' reshaped to (3, 32, 32) then transposed "
              "to (32, 32, 3)", "different pixel values",
              "each row holds the 1024 red, then green, then blue values: reshape(-1, 3, 32, 32) "
              "first, then transpose(0, 2, 3, 1)")
        check(int(label) == labels[idx], "CIFAR10.__getitem__", f"label {labels[idx]} for image {idx}",
              describe(label))


@graded("1.3")
def test_1_3_transforms(submitted, test_batch):
    """__getitem__ applies transform to the image and target_transform to the label."""
    dataset = submitted.CIFAR10([TEST_FILE], transform=lambda image: ("transformed", np.asarray(image).shape),
                                target_transform=lambda label: label + 100)
    image, label = dataset[0]
    check(image == ("transformed", (32, 32, 3)), "CIFAR10.__getitem__",
          "transform applied to the (32, 32, 3) image", describe(image))
    check(label == test_batch[b"labels"][0] + 100, "CIFAR10.__getitem__",
          "target_transform applied to the label", describe(label))


@graded("1.3")
def test_1_3_build_dataset_passes_transform(submitted):
    """build_dataset passes its transform on to the dataset."""
    dataset = submitted.build_dataset([TEST_FILE], transform=submitted.get_preprocess_transform("test"))
    image, _ = dataset[0]
    check(isinstance(image, torch.Tensor) and image.shape == (3, 32, 32), "build_dataset",
          "a (3, 32, 32) tensor image", describe(image), "pass transform on to CIFAR10(...)")


# --- 2. DataLoader ------------------------------------------------------------------------
def tensor_dataset(batch):
    """The file's images (as ToTensor gives them) and labels in a dataset of these tests' own:
    tests 2.x judge build_dataloader alone, whatever your CIFAR10 does (tests 1.x judge that)."""
    images = torch.from_numpy(np.array(batch[b"data"]).reshape(-1, 3, 32, 32)).float().div(255)
    return torch.utils.data.TensorDataset(images, torch.tensor(batch[b"labels"]))


@graded("2.1")
def test_2_1_batch_size_and_order(submitted, test_batch):
    """build_dataloader uses loader_params["batch_size"], and with "shuffle": False keeps the
    file's order."""
    dataset = tensor_dataset(test_batch)
    loader = submitted.build_dataloader(dataset, {"batch_size": 16, "shuffle": False})
    n = len(test_batch[b"labels"])
    check(len(loader) == math.ceil(n / 16), "build_dataloader", f"{math.ceil(n / 16)} batches of 16",
          len(loader), 'use loader_params["batch_size"]')
    labels = next(iter(loader))[1]
    check(isinstance(labels, torch.Tensor) and labels.tolist() == test_batch[b"labels"][:16],
          "build_dataloader", f"the first 16 labels of the file, {test_batch[b'labels'][:16]}",
          describe(labels), 'with "shuffle": False the order is the file\'s')


@graded("2.1")
def test_2_1_shuffle(submitted, test_batch):
    """build_dataloader uses loader_params["shuffle"]."""
    dataset = tensor_dataset(test_batch)
    torch.manual_seed(0)
    loader = submitted.build_dataloader(dataset, {"batch_size": 64, "shuffle": True})
    labels = next(iter(loader))[1].tolist()
    in_order = test_batch[b"labels"][:64]
    check(labels != in_order, "build_dataloader", "a shuffled first batch with shuffle=True",
          "the file's order", 'use loader_params["shuffle"]')


@graded("2.2")
@pytest.mark.parametrize("mode", ["train", "test"])
def test_2_2_preprocess_transform(submitted, test_batch, mode):
    """get_preprocess_transform(mode) turns a (32, 32, 3) uint8 image into a float32 tensor of
    shape (3, 32, 32): start with transforms.ToTensor()."""
    out = submitted.get_preprocess_transform(mode)(raw_images(test_batch)[0])
    check(isinstance(out, torch.Tensor) and out.dtype == torch.float32 and out.shape == (3, 32, 32),
          "get_preprocess_transform", "a float32 tensor of shape (3, 32, 32)", describe(out),
          "start with transforms.ToTensor()")


@graded("2.2")
def test_2_2_real_batches(submitted, test_batch):
    """A batch of the loader is (images, labels): a float32 tensor (N, 3, 32, 32) and N labels."""
    dataset = tensor_dataset(test_batch)
    images, labels = next(iter(submitted.build_dataloader(dataset, {"batch_size": 16, "shuffle": False})))
    check(isinstance(images, torch.Tensor) and tuple(images.shape) == (16, 3, 32, 32)
          and images.dtype == torch.float32, "build_dataloader",
          "images: a float32 tensor of shape (16, 3, 32, 32)", describe(images))
    check(isinstance(labels, torch.Tensor) and tuple(labels.shape) == (16,), "build_dataloader",
          "labels: a tensor of shape (16,)", describe(labels))


# --- 3. Model -----------------------------------------------------------------------------
@graded("3.1")
def test_3_1_loads_checkpoint(submitted):
    """FinetuneNet's backbone holds the weights of resnet18.pt (step 1: resnet18(pretrained=True))."""
    params = list(submitted.FinetuneNet().parameters())
    conv1 = {"conv1": checkpoint_tensors()["conv1.weight"]}
    check(any(is_pretrained(p, conv1) for p in params), "FinetuneNet.__init__",
          "the backbone's weights loaded from resnet18.pt", "no parameter equal to its conv1.weight",
          "step 1: resnet18(pretrained=True)")


@graded("3.2")
def test_3_2_frozen_backbone(submitted):
    """Every pretrained backbone parameter is frozen, and the new head is trainable."""
    params = list(submitted.FinetuneNet().parameters())
    tensors = checkpoint_tensors()
    unfrozen = sum(1 for p in params if p.requires_grad and is_pretrained(p, tensors))
    check(unfrozen == 0, "FinetuneNet.__init__", "every pretrained backbone parameter frozen",
          f"{unfrozen} still trainable", "step 2: set requires_grad = False on the backbone's parameters")
    trainable = sum(p.numel() for p in params if p.requires_grad)
    check(trainable > 0, "FinetuneNet.__init__", "at least one trainable parameter (the new head)",
          "none", "step 3: a new linear layer, created after freezing the backbone")


@graded("3.3")
def test_3_3_output_shape(submitted, class_names):
    """build_model() returns the network; its output for N images is (N, 8) logits."""
    model = submitted.build_model()
    check(isinstance(model, nn.Module), "build_model", "a torch.nn.Module (your FinetuneNet)",
          type(model).__name__)
    with torch.no_grad():
        out = model(torch.rand(4, 3, 32, 32))
    check(isinstance(out, torch.Tensor) and tuple(out.shape) == (4, len(class_names)),
          "FinetuneNet.forward", f"logits of shape (4, {len(class_names)})", describe(out),
          "the new head needs one output per class")


@graded("3.4")
def test_3_4_gradients(submitted):
    """A backward pass gives the head gradients and the frozen backbone none."""
    model = submitted.build_model()
    model(torch.rand(2, 3, 32, 32)).sum().backward()
    tensors = checkpoint_tensors()
    with_grad = [p for p in model.parameters() if p.grad is not None]
    check(any(not is_pretrained(p, tensors) for p in with_grad), "FinetuneNet.forward",
          "gradients in the new head after backward()", "none",
          "forward must pass the backbone's features through the new head")
    check(not any(is_pretrained(p, tensors) for p in with_grad), "FinetuneNet.__init__",
          "no gradient in the frozen backbone", "backbone parameters with gradients")


# --- 4. Optimizer -------------------------------------------------------------------------
@pytest.mark.parametrize("name", [pytest.param("SGD", marks=graded("4.1")),
                                  pytest.param("Adam", marks=graded("4.2"))])
def test_4_build_optimizer(submitted, name):
    """build_optimizer(optim_type, ...) returns torch.optim.SGD or torch.optim.Adam with
    hparams["lr"]."""
    param = nn.Parameter(torch.zeros(3))
    optimizer = submitted.build_optimizer(name, [param], {"lr": 0.0123})
    check(isinstance(optimizer, getattr(torch.optim, name)), "build_optimizer",
          f"a torch.optim.{name}", type(optimizer).__name__)
    check(optimizer.param_groups[0]["lr"] == 0.0123, "build_optimizer", "lr 0.0123",
          optimizer.param_groups[0]["lr"], 'use hparams["lr"]')


# --- 5. Training --------------------------------------------------------------------------
def small_loader(submitted, first, n, batch_size):
    dataset = submitted.build_dataset([TEST_FILE], transform=submitted.get_preprocess_transform("test"))
    subset = torch.utils.data.Subset(dataset, range(first, first + n))
    return subset, submitted.build_dataloader(subset, {"batch_size": batch_size, "shuffle": False})


def train_five_passes(submitted, test_batch):
    """A model before and after 5 passes of your train() over 64 test images (run inside each
    test, not as a fixture, so that an error in your code fails the test instead of erroring
    its set-up)."""
    torch.manual_seed(0)
    subset, loader = small_loader(submitted, 0, 64, 16)
    model = submitted.build_model()
    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
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
    return {"model": model, "frozen": frozen, "before": before, "after": loss()}


@graded("5.1")
def test_5_1_training_reduces_loss(submitted, test_batch):
    """train() does, for every batch: prediction, loss, zero_grad(), backward(), step()."""
    trained = train_five_passes(submitted, test_batch)
    before, after = trained["before"], trained["after"]
    check(after < before, "train", f"the loss on the training images to fall below {before:.4f} "
          "after 5 passes", f"{after:.4f}",
          "for every batch: prediction, loss, optimizer.zero_grad(), loss.backward(), optimizer.step()")


@graded("5.2")
def test_5_2_backbone_untouched(submitted, test_batch):
    """Training leaves the frozen backbone's parameters unchanged."""
    trained = train_five_passes(submitted, test_batch)
    changed = [n for n, p in trained["model"].named_parameters()
               if n in trained["frozen"] and not torch.equal(p, trained["frozen"][n])]
    check(not changed, "train", "frozen parameters unchanged by training",
          f"{len(changed)} changed, e.g. {changed[:1]}")


# --- 6. Testing ---------------------------------------------------------------------------
def as_number(value):
    """test()'s result as a float, or None if it is not a number (a 1-element tensor counts)."""
    if isinstance(value, torch.Tensor):
        return float(value.item()) if value.numel() == 1 else None
    return float(value) if isinstance(value, numbers.Real) else None


def in_training_mode(model):
    """The model with every layer in training mode, batch norm included, as the autograder hands
    it to test() for 6.2: nn.Module.train, not FinetuneNet.train, which keeps frozen batch norm in
    eval mode. A test() that does not call model.eval() then overwrites the batch-norm
    statistics."""
    return nn.Module.train(model, True)


@graded("6.1")
def test_6_1_accuracy(submitted, test_batch):
    """test() returns the fraction (not a percentage) of images whose largest logit is the label.
    The model comes in eval mode, so this test judges the number alone (test 6.2 checks that
    test() switches to eval mode)."""
    subset, loader = small_loader(submitted, 0, 100, 32)
    model = submitted.build_model().eval()
    result = submitted.test(loader, model)
    acc = as_number(result)
    check(acc is not None, "test", "a number, e.g. correct / total", describe(result))
    check(0.0 <= acc <= 1.0, "test", "a value in [0, 1]", acc, "accuracy is a fraction, not a percentage")
    model.eval()
    with torch.no_grad():
        predictions = model(torch.stack([subset[i][0] for i in range(100)])).argmax(dim=1)
    expected = (predictions == torch.tensor(test_batch[b"labels"][:100])).float().mean().item()
    check(abs(acc - expected) < 1e-6, "test", f"{expected:.4f}", f"{acc:.4f}",
          "count the images whose largest logit is the label, over all batches, then divide by "
          "the number of images")


@graded("6.2")
def test_6_2_model_unchanged(submitted):
    """test() leaves the model's parameters and buffers as it got them (eval mode and
    torch.no_grad(), no training). Leaving the model in eval mode is fine."""
    _, loader = small_loader(submitted, 0, 100, 32)
    model = in_training_mode(submitted.build_model())
    before = {k: v.clone() for k, v in model.state_dict().items()}
    submitted.test(loader, model)
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, before[k])]
    check(not changed, "test", "the model's parameters and buffers unchanged",
          f"{len(changed)} changed, e.g. {changed[:1]}",
          "evaluate in eval mode under torch.no_grad(); do not train or call backward()")
