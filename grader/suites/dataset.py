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
                          "image": IMAGE}))})),
    "dataset_transforms": guarded(obj({
        "cifar10": array(obj({"marked": BOOL, "image_describe": DESCRIBE, "label": NULL_INT})),
        "tensor": array(obj({"describe": DESCRIBE, "image": IMAGE})),
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
    ends = {0, first_length - 1, first_length, n - 1}
    indices = sorted({*ends, *rng.choice(n, C.DATASET_CHECK_RANDOM_INDICES, replace=False).tolist()})
    # 1.1 reads labels at a sample, not every item: a __getitem__ as slow as run_model's limit
    # allows still finishes here (devtests/test_suites.py checks the arithmetic).
    label_indices = sorted({*ends, *rng.choice(n, C.DATASET_CHECK_LABEL_INDICES, replace=False).tolist()})
    args = {"files": files, "indices": indices, "target_offset": C.TARGET_TRANSFORM_OFFSET}
    expected = {
        "files": files, "first_length": first_length, "length": n,
        "labels": np.concatenate([k.public(f)[1] for f in files]).tolist(),
        "indices": indices, "label_indices": label_indices,
        "raw": [torch.from_numpy(np.array(raw_ds[i][0])) for i in indices],
        "tensor": [tensor_ds[i][0] for i in indices],
    }
    args = {"dataset_lengths": dict(args, label_indices=label_indices), "dataset_items": args,
            "dataset_transforms": args}
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
    elif len(data["labels"]) != len(expected["label_indices"]):
        problems.append(count_problem(len(data["labels"]), len(expected["label_indices"]), "labels"))
    elif data["labels"] != [expected["labels"][i] for i in expected["label_indices"]]:
        k, i = next((k, i) for k, i in enumerate(expected["label_indices"])
                    if data["labels"][k] != expected["labels"][i])
        found = "not an integer" if data["labels"][k] == -1 else str(data["labels"][k])
        problems.append(f"{_call(expected)}[{i}] has label {found}; expected {expected['labels'][i]}, "
                        f"the label of {_where(expected, i)}: the files must be concatenated in the "
                        "order given, images and labels alike")
    return problems


FLOAT_TOLERANCE = 0.25      # of a pixel value (0..255): float images scaled to [0, 1] may round
ROW = 3 * 32 * 32


def _dtype_words(d, image):
    """(the image's dtype, the dtypes 1.2 accepts), in torch's words for a tensor, else numpy's."""
    if d["type"].startswith("torch."):
        return str(image.dtype), "torch.uint8 or a float dtype such as torch.float32"
    return d.get("dtype") or str(image.dtype).removeprefix("torch."), "uint8 or a float dtype such as float32"


def faithful_pixels(image, d):
    """([(32, 32, 3) float64 pixel values in 0..255, one per reading of the values], None), or
    (None, why not). Every exact form: HWC, CHW or the file's 3072-value row; numpy, tensor or PIL;
    integers 0..255, floats in [0, 1] (as ToTensor gives) or floats holding 0..255."""
    shape = tuple(image.shape)
    if shape == (ROW,):                 # the file's own row: R plane, G, B, row by row
        image = image.reshape(3, 32, 32)
        shape = (3, 32, 32)
    if shape == (3, 32, 32):
        image = image.permute(1, 2, 0)
    elif shape != (32, 32, 3):
        return None, (f"the image has shape {shape}; expected (32, 32, 3) (height, width, channel: "
                      "row.reshape(3, 32, 32).transpose(1, 2, 0)), (3, 32, 32) or the file's row "
                      f"of {ROW} values")
    found, wanted = _dtype_words(d, image)
    if image.dtype == torch.bool or image.is_complex():
        return None, f"the image has dtype {found}; expected {wanted}"
    values = image.double()
    low, high = (float(values.min()), float(values.max())) if bool(torch.isfinite(values).all()) \
        else (float("nan"), float("nan"))
    readings = []
    if image.is_floating_point() and 0 <= low and high <= 1:
        readings.append(values * 255)                      # ToTensor's scale
    if 0 <= low and high <= 255:
        readings.append(values)                            # the pixel values themselves
    if not readings:
        return None, (f"the image has dtype {found} with values from {fmt(low)} to {fmt(high)}; "
                      "expected the pixel values 0..255, or floats scaled to [0, 1] as ToTensor "
                      "gives")
    return readings, None


def _what_differs(pixels, want):
    """A likely reordering that explains a mismatch, in the student's words, or ''."""
    row = want.permute(2, 0, 1).reshape(-1)
    known = (
        (want.flip(-1), "the channels are in reverse order (blue, green, red)"),
        (want.transpose(0, 1), "rows and columns are swapped (transpose(1, 2, 0), not (2, 1, 0))"),
        (row.reshape(32, 32, 3), "the row was reshaped to (32, 32, 3) directly; reshape(3, 32, 32) "
                                 "first, then transpose(1, 2, 0)"),
    )
    for candidate, why in known:
        if not bool(((pixels - candidate).abs() > FLOAT_TOLERANCE).any()):
            return f": {why}"
    return (": each row holds the 1024 red values, then the 1024 green, then the 1024 blue, "
            "row by row")


def judge_items(data, expected):
    """Items without a transform: any exact form of the file's image, and an int label."""
    count = len(expected["indices"])
    if len(data["raw"]) != count:
        return [count_problem(len(data["raw"]), count, "items")]
    problems = []
    for k, i in enumerate(expected["indices"]):
        raw, want = data["raw"][k], expected["raw"][k].double()
        image = raw["image"]
        readings, why = (None, None) if image is None else faithful_pixels(image, raw["describe"])
        if image is None:
            problems.append(f"{_call(expected)}[{i}] (no transform): the image is a "
                            f"{raw['describe']['type']}; expected the file's pixels, e.g. the HWC "
                            "uint8 numpy array")
        elif why:
            problems.append(f"{_call(expected)}[{i}] (no transform): {why}")
        else:
            differ = [int(((p - want).abs() > FLOAT_TOLERANCE).sum()) for p in readings]
            if min(differ):
                closest = readings[differ.index(min(differ))]
                problems.append(f"{_call(expected)}[{i}] (no transform): {min(differ)} of "
                                f"{want.numel()} pixel values differ from {_where(expected, i)}"
                                + _what_differs(closest, want))
        if raw["label"] is None:
            problems.append(f"{_call(expected)}[{i}]: the label is a {raw['label_describe']['type']}; "
                            "expected an int")
        elif raw["label"] != expected["labels"][i]:
            problems.append(f"{_call(expected)}[{i}]: label {raw['label']}; expected {expected['labels'][i]} "
                            f"(the label of {_where(expected, i)})")
    return problems


def _judge_to_tensor(data, expected):
    """CIFAR10(files, transform=ToTensor()): the transform gets the HWC uint8 image."""
    problems = []
    call = _call(expected, ", transform=transforms.ToTensor()")
    for k, i in enumerate(expected["indices"]):
        t, want = data["tensor"][k], expected["tensor"][k]
        image, d = t["image"], t["describe"]
        if image is None or not d["type"].startswith("torch.") or "shape" not in d:
            problems.append(f"{call}[{i}]: the image is a {d['type']}; expected the tensor the "
                            "transform returns (is transform applied in __getitem__?)")
        elif tuple(image.shape) != (3, 32, 32) or image.dtype != torch.float32:
            problems.append(f"{call}[{i}]: the image has shape {tuple(image.shape)} and dtype "
                            f"{image.dtype}; expected (3, 32, 32) float32: ToTensor() must be given "
                            "the HWC uint8 image")
        elif not torch.equal(image, want):
            problems.append(f"{call}[{i}]: values differ from ToTensor() of {_where(expected, i)} "
                            f"(largest difference {fmt(float((image - want).abs().max()))}): give "
                            "the transform the HWC uint8 image")
    return problems


def judge_transforms(data, expected, offset=C.TARGET_TRANSFORM_OFFSET):
    count = len(expected["indices"])
    built = data["build_dataset"]
    for n in (len(data["cifar10"]), len(data["tensor"]), len(built["marked"]), len(built["labels"])):
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
    return problems + _judge_to_tensor(data, expected)


class DatasetChecks(GradedCase):
    @graded("1.1")
    def test_1_1_lengths_and_order(self):
        """1.1 CIFAR10: length, and several files concatenated in order"""
        data = self.part(PROBE, "dataset_lengths", "CIFAR10(...) or len()/indexing")
        expected = self.ctx.expected("dataset")
        self.check(judge_lengths(data, expected),
                   f"ok: lengths {expected['first_length']} and {expected['length']}; "
                   f"labels in order at {len(expected['label_indices'])} indices across both files")

    @graded("1.2")
    def test_1_2_items(self):
        """1.2 CIFAR10: items without a transform are the files' images (any exact form) and int labels"""
        data = self.part(PROBE, "dataset_items", "CIFAR10 indexing (__getitem__)")
        expected = self.ctx.expected("dataset")
        self.check(judge_items(data, expected),
                   f"ok: items {expected['indices']} pixel-exact")

    @graded("1.3")
    def test_1_3_transforms(self):
        """1.3 CIFAR10 and build_dataset: transform and target_transform applied"""
        data = self.part(PROBE, "dataset_transforms", "CIFAR10 / build_dataset with a transform")
        self.check(judge_transforms(data, self.ctx.expected("dataset")),
                   "ok: transform and target_transform applied to every item checked, ToTensor() "
                   "given the HWC uint8 image")
