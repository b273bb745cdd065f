"""Child side of tests 1.x: the submission's CIFAR10 and build_dataset, at the parent's indices."""
import numbers

import numpy as np
import torch
from torchvision import transforms

from grader.probes.common import DATA_DIR, describe, limited


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
        raise TypeError(f"{what}[{i}] returned {describe(item)['type']}"
                        + (f" of length {len(item)}" if isinstance(item, (tuple, list)) else "")
                        + ", expected a tuple (image, label)")
    return item


def _unchanged(image):
    return image


def dataset_lengths(args):
    """Lengths, and labels at the parent's sampled indices through a no-op transform (a missing
    transform=None branch costs only 1.2); a sample, so a slow __getitem__ costs no more here than
    run_model's limit allows."""
    import submitted
    files = [f"{DATA_DIR}/{name}" for name in args["files"]]
    single = len(submitted.CIFAR10(files[:1], transform=_unchanged))
    ds = submitted.CIFAR10(files, transform=_unchanged)
    labels = [_label_value(_item(ds, i, "CIFAR10")[1]) for i in args["label_indices"]]
    return {"single_length": int(single), "length": int(len(ds)),
            "labels": [-1 if v is None else v for v in labels]}


def dataset_items(args):
    """Items without a transform: what a transform does is 1.3's business."""
    import submitted
    files = [f"{DATA_DIR}/{name}" for name in args["files"]]
    raw_ds = submitted.CIFAR10(files)
    raw = []
    for i in args["indices"]:
        image, label = _item(raw_ds, i, "CIFAR10")
        raw.append({"describe": describe(image), "label": _label_value(label),
                    "label_describe": describe(label), "image": _pixels(image)})
    return {"raw": raw}


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
                       "image_describe": describe(image), "label": _label_value(label)}
                      for image, label in items]
    tensor_ds = submitted.CIFAR10(files, transform=transforms.ToTensor())
    out["tensor"] = []
    for i in args["indices"]:
        image, label = _item(tensor_ds, i, "CIFAR10 (with transform=ToTensor())")
        out["tensor"].append({"describe": describe(image), "image": _pixels(image)})
    built = submitted.build_dataset(files, transform=_marking_transform)
    items = [_item(built, i, "build_dataset(...)") for i in args["indices"]]
    out["build_dataset"] = {"length": len(built),
                            "marked": [isinstance(image, str) and image == MARK
                                       for image, _ in items],
                            "labels": [_label_value(label) for _, label in items]}
    return out


PARTS = {"dataset_lengths": limited(dataset_lengths), "dataset_items": limited(dataset_items),
         "dataset_transforms": limited(dataset_transforms)}
