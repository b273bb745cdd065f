"""Tests 1.x: the CIFAR10 dataset class and build_dataset."""
import numpy as np
import torch
from torchvision import transforms

import mpconfig as C
from grader.protocol import FUNCTIONS_PROBE
from grader.schema import BOOL, DESCRIBE, IMAGE, INT, INTS, NULL_INT, array, guarded, obj
from grader.suites.base import GradedCase, count_problem, fmt, graded

PROBE = FUNCTIONS_PROBE
PART_SCHEMAS = {    # what grader/probes/dataset.py answers
    "dataset_lengths": guarded(obj({"single_length": INT, "length": INT, "labels": INTS})),
    "dataset_items": guarded(obj({
        "raw": array(obj({"describe": DESCRIBE, "label": NULL_INT, "label_describe": DESCRIBE,
                          "image": IMAGE})),
        "tensor": array(obj({"describe": DESCRIBE, "label": NULL_INT, "image": IMAGE}))})),
    "dataset_transforms": guarded(obj({
        "cifar10": array(obj({"marked": BOOL, "image_describe": DESCRIBE, "label": NULL_INT})),
        "build_dataset": obj({"length": INT, "marked": array(BOOL), "labels": array(NULL_INT)})})),
}


def prepare(k):
    """Files, item indices, and the reference's lengths, labels and items."""
    ref = k.reference
    files = list(C.DATASET_CHECK_FILES)
    paths = [str(C.DATA_DIR / f) for f in files]
    first_length = len(k.public(files[0])[1])
    raw_ds, tensor_ds = ref.CIFAR10(paths), ref.CIFAR10(paths, transform=transforms.ToTensor())
    n = len(raw_ds)
    rng = np.random.default_rng(C.FIXTURE_SEED)
    # The first and last items, both sides of the file boundary, and a few at random.
    indices = sorted({0, first_length - 1, first_length, n - 1,
                      *rng.choice(n, C.DATASET_CHECK_RANDOM_INDICES, replace=False).tolist()})
    args = {"files": files, "indices": indices, "target_offset": C.TARGET_TRANSFORM_OFFSET}
    expected = {
        "files": files, "first_length": first_length, "length": n,
        "labels": np.concatenate([k.public(f)[1] for f in files]).tolist(),
        "indices": indices,
        "raw": [torch.from_numpy(np.array(raw_ds[i][0])) for i in indices],
        "tensor": [tensor_ds[i][0] for i in indices],
    }
    args = {"dataset_lengths": args, "dataset_items": args, "dataset_transforms": args}
    return args, expected


def _where(expected, i):
    """Which file and image an index of the concatenated dataset is."""
    if i < expected["first_length"]:
        return f"image {i} of {expected['files'][0]}"
    return f"image {i - expected['first_length']} of {expected['files'][1]}"


def _call(expected, extra=""):
    names = ", ".join(f'"cifar10_batches/{f}"' for f in expected["files"])
    return f"CIFAR10([{names}]{extra})"


def judge_lengths(data, expected):
    problems = []
    if data["single_length"] != expected["first_length"]:
        first_file = expected["files"][0]
        problems.append(f'len(CIFAR10(["cifar10_batches/{first_file}"])) is {data["single_length"]}; '
                        f"expected {expected['first_length']}, one item per image of the file "
                        "(look at CIFAR10.__init__ and __len__)")
    if data["length"] != expected["length"]:
        problems.append(f"len({_call(expected)}) is {data['length']}; expected {expected['length']}: "
                        "the images of all the files, one file after the other")
    elif len(data["labels"]) != len(expected["labels"]):
        problems.append(count_problem(len(data["labels"]), len(expected["labels"]), "labels"))
    elif data["labels"] != expected["labels"]:
        i = next(j for j, (a, b) in enumerate(zip(data["labels"], expected["labels"])) if a != b)
        found = "not an integer" if data["labels"][i] == -1 else str(data["labels"][i])
        problems.append(f"{_call(expected)}[{i}] has label {found}; expected {expected['labels'][i]}, "
                        f"the label of {_where(expected, i)}: the files must be concatenated in the "
                        "order given, images and labels alike")
    return problems


FLOAT_TOLERANCE = 0.25      # of a pixel value (0..255): float images scaled to [0, 1] may round


def _dtype_words(d, image):
    """(the image's dtype, the dtypes 1.2 accepts), in torch's words for a tensor, else numpy's."""
    if d["type"].startswith("torch."):
        return str(image.dtype), "torch.uint8 (or a float dtype such as torch.float32, scaled to [0, 1])"
    found = d.get("dtype") or str(image.dtype).removeprefix("torch.")
    return found, "uint8 (or a float dtype such as float32, scaled to [0, 1])"


def faithful_pixels(image, d):
    """(the image's (32, 32, 3) pixel values as float64 in 0..255, None) or (None, why not). Faithful:
    HWC or CHW; numpy, tensor or PIL; uint8 or floating point in [0, 1] (as ToTensor gives)."""
    shape = tuple(image.shape)
    if shape == (3, 32, 32):
        image = image.permute(1, 2, 0)
    elif shape != (32, 32, 3):
        return None, (f"the image has shape {shape}; expected (32, 32, 3) (height, width, channel: "
                      "row.reshape(3, 32, 32).transpose(1, 2, 0)) or (3, 32, 32)")
    if image.dtype == torch.uint8:
        return image.double(), None
    if not image.is_floating_point():
        found, wanted = _dtype_words(d, image)
        return None, f"the image has dtype {found}; expected {wanted}"
    values = image.double()
    if not bool(torch.isfinite(values).all()) or float(values.min()) < 0 or float(values.max()) > 1:
        found, _ = _dtype_words(d, image)
        return None, (f"the image has dtype {found} with values from {fmt(float(values.min()))} to "
                      f"{fmt(float(values.max()))}; a float image must be scaled to [0, 1] (divide "
                      "the uint8 pixels by 255, as ToTensor does), or give the uint8 pixels")
    return values * 255, None


def judge_items(data, expected):
    count = len(expected["indices"])
    for n in (len(data["raw"]), len(data["tensor"])):
        if n != count:
            return [count_problem(n, count, "items")]
    problems = []
    for k, i in enumerate(expected["indices"]):
        raw, want = data["raw"][k], expected["raw"][k]
        image = raw["image"]
        pixels, why = (None, None) if image is None else faithful_pixels(image, raw["describe"])
        if image is None:
            problems.append(f"{_call(expected)}[{i}] (no transform): the image is a "
                            f"{raw['describe']['type']}; expected the file's pixels, e.g. the HWC "
                            "uint8 numpy array")
        elif why:
            problems.append(f"{_call(expected)}[{i}] (no transform): {why}")
        else:
            differ = int(((pixels - want.double()).abs() > FLOAT_TOLERANCE).sum())
            if differ:
                problems.append(f"{_call(expected)}[{i}] (no transform): {differ} of {want.numel()} "
                                f"pixel values differ from {_where(expected, i)}: each row holds the "
                                "1024 red values, then the 1024 green, then the 1024 blue, row by row")
        if raw["label"] is None:
            problems.append(f"{_call(expected)}[{i}]: the label is a {raw['label_describe']['type']}; "
                            "expected an int")
        elif raw["label"] != expected["labels"][i]:
            problems.append(f"{_call(expected)}[{i}]: label {raw['label']}; expected {expected['labels'][i]} "
                            f"(the label of {_where(expected, i)})")
        t, want = data["tensor"][k], expected["tensor"][k]
        image, d = t["image"], t["describe"]
        call = _call(expected, ", transform=transforms.ToTensor()")
        if image is None or not d["type"].startswith("torch.") or "shape" not in d:
            problems.append(f"{call}[{i}]: the image is a {d['type']}; expected the tensor the "
                            "transform returns (is transform applied in __getitem__?)")
        elif tuple(image.shape) != (3, 32, 32) or image.dtype != torch.float32:
            problems.append(f"{call}[{i}]: the image has shape {tuple(image.shape)} and dtype "
                            f"{image.dtype}; expected (3, 32, 32) float32: ToTensor() must be given "
                            "the HWC uint8 image")
        elif not torch.equal(image, want):
            problems.append(f"{call}[{i}]: values differ from ToTensor() of {_where(expected, i)} "
                            f"(largest difference {fmt(float((image - want).abs().max()))})")
    return problems


def judge_transforms(data, expected, offset=C.TARGET_TRANSFORM_OFFSET):
    count = len(expected["indices"])
    built = data["build_dataset"]
    for n in (len(data["cifar10"]), len(built["marked"]), len(built["labels"])):
        if n != count:
            return [count_problem(n, count, "items")]
    problems = []
    call = _call(expected, ", transform=T, target_transform=lambda y: y + 100")
    for k, i in enumerate(expected["indices"]):
        item = data["cifar10"][k]
        if not item["marked"]:
            problems.append(f"{call}[{i}]: the image is a {item['image_describe']['type']}, not what "
                            "T returned: apply self.transform to the image in __getitem__")
        if item["label"] != expected["labels"][i] + offset:
            problems.append(f"{call}[{i}]: label {item['label']}; expected {expected['labels'][i] + offset}: "
                            "apply self.target_transform to the label in __getitem__")
    if built["length"] != expected["length"]:
        problems.append(f"build_dataset(files, transform=T) has length {built['length']}; "
                        f"expected {expected['length']}, all images of the files")
    if not all(built["marked"]):
        problems.append("build_dataset(files, transform=T): items do not hold what T returned; "
                        "pass transform on to CIFAR10")
    if built["labels"] != [expected["labels"][i] for i in expected["indices"]]:
        problems.append("build_dataset(files, transform=T): labels differ from the files' labels "
                        "(build_dataset adds no target_transform)")
    return problems


class DatasetChecks(GradedCase):
    @graded("1.1")
    def test_1_1_lengths_and_order(self):
        """1.1 CIFAR10: length, and several files concatenated in order"""
        data = self.part(PROBE, "dataset_lengths", "CIFAR10(...) or len()/indexing")
        expected = self.ctx.expected("dataset")
        self.check(judge_lengths(data, expected),
                   f"ok: lengths {expected['first_length']} and {expected['length']}; "
                   f"all {expected['length']} labels in order")

    @graded("1.2")
    def test_1_2_items(self):
        """1.2 CIFAR10: items are the files' images (any faithful form) and int labels"""
        data = self.part(PROBE, "dataset_items", "CIFAR10 indexing (__getitem__)")
        expected = self.ctx.expected("dataset")
        self.check(judge_items(data, expected),
                   f"ok: items {expected['indices']} pixel-exact, with and without ToTensor()")

    @graded("1.3")
    def test_1_3_transforms(self):
        """1.3 CIFAR10 and build_dataset: transform and target_transform applied"""
        data = self.part(PROBE, "dataset_transforms", "CIFAR10 / build_dataset with a transform")
        self.check(judge_transforms(data, self.ctx.expected("dataset")),
                   "ok: transform and target_transform applied to every item checked")
