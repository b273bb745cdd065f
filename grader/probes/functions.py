"""Child side of tests 1-6: call the submission's functions on the grader's inputs, return facts.

One probe for all the cheap checks (each child costs seconds of start-up). Every part is guarded
and time-limited on its own, so a function that raises or hangs costs only its own tests. Nothing
is judged here: the parent compares what comes back with the reference's answers.
"""
import numbers
import os

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision import transforms

import models
from grader.probes import fixtures
from grader.probes.common import guard
from grader.probes.timelimit import time_limited

DATA_DIR = "cifar10_batches"     # the public data, in the child's scratch folder
CHECKPOINT = "resnet18.pt"


def _describe(obj):
    """Type, shape and dtype of whatever a student function returned, as plain data."""
    out = {"type": f"{type(obj).__module__}.{type(obj).__qualname__}"}
    if isinstance(obj, torch.Tensor):
        out.update(shape=list(obj.shape), dtype=str(obj.dtype))
    elif hasattr(obj, "shape") and hasattr(obj, "dtype"):
        out.update(shape=[int(s) for s in obj.shape], dtype=str(obj.dtype))
    return out


def _label_value(label):
    """A label as an int if it is an integral scalar (int, numpy integer, 0-d integer tensor)."""
    if isinstance(label, bool):
        return None
    if isinstance(label, torch.Tensor):
        if label.numel() == 1 and not label.is_floating_point() and not label.is_complex():
            return int(label.item())
        return None
    return int(label) if isinstance(label, numbers.Integral) else None


def _pixels(image):
    """The image's values as a tensor (from a tensor, numpy array or PIL image), else None."""
    if isinstance(image, torch.Tensor):
        return image.detach().clone()
    try:
        array = np.array(image)
        return torch.from_numpy(array) if array.dtype != object else None
    except Exception:
        return None


def _item(dataset, i, what):
    item = dataset[i]
    if not isinstance(item, (tuple, list)) or len(item) != 2:
        raise TypeError(f"{what}[{i}] returned {_describe(item)['type']}"
                        + (f" of length {len(item)}" if isinstance(item, (tuple, list)) else "")
                        + ", expected a tuple (image, label)")
    return item


# --- 1. dataset ------------------------------------------------------------------------------
def dataset_lengths(args):
    import submitted
    files = [f"{DATA_DIR}/{name}" for name in args["files"]]
    single = len(submitted.CIFAR10(files[:1]))
    ds = submitted.CIFAR10(files)
    labels = []
    for i in range(len(ds)):
        labels.append(_label_value(_item(ds, i, "CIFAR10")[1]))
    return {"single_length": int(single), "length": int(len(ds)),
            "labels": [-1 if v is None else v for v in labels]}


def dataset_items(args):
    import submitted
    files = [f"{DATA_DIR}/{name}" for name in args["files"]]
    raw_ds = submitted.CIFAR10(files)
    tensor_ds = submitted.CIFAR10(files, transform=transforms.ToTensor())
    raw, tensors = [], []
    for i in args["indices"]:
        image, label = _item(raw_ds, i, "CIFAR10")
        raw.append({"describe": _describe(image), "label": _label_value(label),
                    "label_describe": _describe(label),
                    "image": _pixels(image)})
        image, label = _item(tensor_ds, i, "CIFAR10 (with transform=ToTensor())")
        tensors.append({"describe": _describe(image), "label": _label_value(label),
                        "image": _pixels(image)})
    return {"raw": raw, "tensor": tensors}


MARK = "grader-transform-output"


def _marking_transform(image):
    """Returns a marker, so the test can tell the transform was applied to an item."""
    return MARK


def dataset_transforms(args):
    import submitted
    files = [f"{DATA_DIR}/{name}" for name in args["files"]]
    offset = args["target_offset"]
    out = {}
    ds = submitted.CIFAR10(files, transform=_marking_transform, target_transform=lambda y: y + offset)
    items = [_item(ds, i, "CIFAR10") for i in args["indices"]]
    out["cifar10"] = [{"marked": isinstance(image, str) and image == MARK,
                       "image_describe": _describe(image), "label": _label_value(label)}
                      for image, label in items]
    built = submitted.build_dataset(files, transform=_marking_transform)
    items = [_item(built, i, "build_dataset(...)") for i in args["indices"]]
    out["build_dataset"] = {"length": len(built),
                            "marked": [isinstance(image, str) and image == MARK
                                       for image, _ in items],
                            "labels": [_label_value(label) for _, label in items]}
    return out


# --- 2. dataloader ---------------------------------------------------------------------------
def _first_field(batch):
    return batch[0] if isinstance(batch, (tuple, list)) else batch


def loader_case(length, batch_size, shuffle, seed):
    import submitted
    torch.manual_seed(seed)
    loader = submitted.build_dataloader(fixtures.IndexDataset(length),
                                        {"batch_size": batch_size, "shuffle": shuffle})
    batches = []
    for batch in loader:
        batches.append([int(v) for v in torch.as_tensor(_first_field(batch)).reshape(-1).tolist()])
    return batches


def loader_cases(args):
    # Guarded case by case: the parent reports the first case that fails and why.
    return [guard(loader_case, *case) for case in args["cases"]]


def loader_real(args):
    import submitted
    dataset = submitted.build_dataset([f"{DATA_DIR}/{args['file']}"],
                                      transform=submitted.get_preprocess_transform("test"))
    loader = submitted.build_dataloader(dataset, {"batch_size": args["batch_size"], "shuffle": False})
    batch = next(iter(loader))
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        return {"batch": _describe(batch)}
    images, labels = batch
    return {"batch": _describe(batch), "dataset_length": len(dataset), "loader_length": len(loader),
            "images": _describe(images), "labels": _describe(labels),
            "label_values": torch.as_tensor(labels).reshape(-1).tolist()
            if isinstance(labels, torch.Tensor) else None}


# --- 3. model --------------------------------------------------------------------------------
def model_build(args):
    import submitted
    net = submitted.FinetuneNet()
    if not isinstance(net, nn.Module):
        return {"is_module": False, "describe": _describe(net)}
    return {"is_module": True, "net": net, "fingerprint": fixtures.fingerprint(net)}


def model_outputs(net, args):
    net.eval()
    out = []
    with torch.no_grad():
        for x in fixtures.model_inputs(args["batch_sizes"], args["seed"]):
            y = net(x)
            d = _describe(y)
            if isinstance(y, torch.Tensor) and y.is_floating_point():
                d["finite"] = bool(torch.isfinite(y).all())
            out.append({"n": x.shape[0], "output": d})
    return out


def model_gradients(net, args):
    rows, labels = fixtures.read_batch(f"{DATA_DIR}/{args['file']}")
    n = args["images"]
    x, y = fixtures.rows_to_tensor(rows[:n]), torch.as_tensor(labels[:n])
    net.train()
    net.zero_grad(set_to_none=True)
    F.cross_entropy(net(x), y).backward()
    grads = {}
    for name, p in net.named_parameters():
        g = p.grad
        if g is None:
            grads[name] = "none"
        elif not bool(torch.isfinite(g).all()):
            grads[name] = "nonfinite"
        elif bool((g == 0).all()):
            grads[name] = "zero"
        else:
            grads[name] = "nonzero"
    return grads


def model_checks(args):
    built = guard(time_limited, args["part_timeout"], model_build, args)
    if "error" in built or not built["value"]["is_module"]:
        return {"build": built}
    net = built["value"].pop("net")
    return {"build": built,
            "outputs": guard(time_limited, args["part_timeout"], model_outputs, net, args),
            "gradients": guard(time_limited, args["part_timeout"], model_gradients, net, args)}


# --- 4. optimizer ----------------------------------------------------------------------------
def optimizer_case(name, lr):
    import submitted
    lin = nn.Linear(5, 3)
    params = list(lin.parameters())
    opt = submitted.build_optimizer(name, lin.parameters(), {"lr": lr})
    groups = []
    if isinstance(opt, torch.optim.Optimizer):
        for g in opt.param_groups:
            ids = [next((k for k, p in enumerate(params) if p is q), -1) for q in g["params"]]
            lr_value = g.get("lr")
            groups.append({"lr": float(lr_value) if isinstance(lr_value, (int, float, torch.Tensor)) else None,
                           "params": ids})
    return {"describe": _describe(opt), "is_optimizer": isinstance(opt, torch.optim.Optimizer),
            "groups": groups, "given": len(params)}


def optimizer_checks(args):
    return {name: guard(time_limited, args["part_timeout"], optimizer_case, name, lr)
            for name, lr in args["cases"].items()}


# --- 5. train --------------------------------------------------------------------------------
def train_check(args):
    import submitted
    rows, labels = fixtures.read_batch(f"{DATA_DIR}/{args['file']}")
    first, n = args["first"], args["images"]
    net = fixtures.GraderNet(models.load_checkpoint(CHECKPOINT), args["seed"], lock_backbone_eval=True)
    loader = fixtures.labelled_loader(rows[first:first + n], labels[first:first + n], args["batch_size"])
    optimizer = torch.optim.SGD(net.head.parameters(), lr=args["lr"])
    before = fixtures.fingerprint(net.backbone)
    submitted.train(loader, net, nn.CrossEntropyLoss(), optimizer)
    after = fixtures.fingerprint(net.backbone)
    return {"weight": net.head.weight.detach().clone(), "bias": net.head.bias.detach().clone(),
            "backbone_changed": [b["name"] for a, b in zip(before, after) if a["digest"] != b["digest"]]}


# --- 6. test ---------------------------------------------------------------------------------
def _accuracy_value(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, torch.Tensor):
        return float(value.item()) if value.numel() == 1 else None
    return float(value) if isinstance(value, numbers.Real) else None


def test_check(args):
    import submitted
    rows, labels = fixtures.read_batch(f"{DATA_DIR}/{args['file']}")
    first, n = args["first"], args["images"]
    net = fixtures.GraderNet(models.load_checkpoint(CHECKPOINT), args["seed"], lock_backbone_eval=False)
    # Given in training mode, as after train(): test() must switch to eval mode (else batch norm
    # uses batch statistics and overwrites its running ones, which the fingerprint catches).
    net.train()
    out = []
    for batch_size in args["batch_sizes"]:
        loader = fixtures.labelled_loader(rows[first:first + n], labels[first:first + n], batch_size)
        net.zero_grad(set_to_none=True)
        before = fixtures.fingerprint(net)
        value = submitted.test(loader, net)
        after = fixtures.fingerprint(net)
        # Gradients left behind mean test() ran backward(): testing must not build them.
        grads = [f"{name}.grad" for name, p in net.named_parameters() if p.grad is not None]
        out.append({"batch_size": batch_size, "describe": _describe(value),
                    "value": _accuracy_value(value),
                    "changed": [b["name"] for a, b in zip(before, after)
                                if a["digest"] != b["digest"]] + grads})
        net.train()
    return out


# --- the probe -------------------------------------------------------------------------------
def probe(args):
    """args: one sub-dict per part (see grader/suites/*: each builds its own part's args)."""
    limit = args["part_timeout"]
    home = os.getcwd()    # each part starts here, whatever directory a previous one left
    parts = {
        "dataset_lengths": dataset_lengths, "dataset_items": dataset_items,
        "dataset_transforms": dataset_transforms, "loader_cases": loader_cases,
        "loader_real": loader_real, "train": train_check, "test": test_check,
    }
    out = {}
    for name, fn in parts.items():
        os.chdir(home)
        out[name] = guard(time_limited, limit, fn, args[name])
    os.chdir(home)
    # These two guard their own sub-parts; wrapped like the others for the parent.
    out["model"] = {"value": model_checks(dict(args["model"], part_timeout=limit))}
    os.chdir(home)
    out["optimizer"] = {"value": optimizer_checks(dict(args["optimizer"], part_timeout=limit))}
    return out
