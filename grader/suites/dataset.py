"""Tests 1.x: the CIFAR10 dataset class and build_dataset."""
import numpy as np
import torch
from torchvision import transforms

import mpconfig as C
from grader.context import FUNCTIONS_PROBE
from grader.suites.base import GradedCase, count_problem, fmt, graded

PROBE = FUNCTIONS_PROBE


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
    answers = {
        "files": files, "first_length": first_length, "length": n,
        "labels": np.concatenate([k.public(f)[1] for f in files]).tolist(),
        "indices": indices,
        "raw": [torch.from_numpy(np.array(raw_ds[i][0])) for i in indices],
        "tensor": [tensor_ds[i][0] for i in indices],
    }
    args = {"dataset_lengths": args, "dataset_items": args, "dataset_transforms": args}
    return args, answers


def _where(ans, i):
    """Which file and image an index of the concatenated dataset is."""
    if i < ans["first_length"]:
        return f"image {i} of {ans['files'][0]}"
    return f"image {i - ans['first_length']} of {ans['files'][1]}"


def _call(ans, extra=""):
    names = ", ".join(f'"cifar10_batches/{f}"' for f in ans["files"])
    return f"CIFAR10([{names}]{extra})"


def judge_lengths(data, ans):
    problems = []
    if data["single_length"] != ans["first_length"]:
        problems.append(f'len(CIFAR10(["cifar10_batches/{ans["files"][0]}"])) is {data["single_length"]}; '
                        f"expected {ans['first_length']}, one item per image of the file "
                        "(look at CIFAR10.__init__ and __len__)")
    if data["length"] != ans["length"]:
        problems.append(f"len({_call(ans)}) is {data['length']}; expected {ans['length']}: "
                        "the images of all the files, one file after the other")
    elif len(data["labels"]) != len(ans["labels"]):
        problems.append(count_problem(len(data["labels"]), len(ans["labels"]), "labels"))
    elif data["labels"] != ans["labels"]:
        i = next(j for j, (a, b) in enumerate(zip(data["labels"], ans["labels"])) if a != b)
        found = "not an integer" if data["labels"][i] == -1 else str(data["labels"][i])
        problems.append(f"{_call(ans)}[{i}] has label {found}; expected {ans['labels'][i]}, the label "
                        f"of {_where(ans, i)}: the files must be concatenated in the order given, "
                        "images and labels alike")
    return problems


def judge_items(data, ans):
    count = len(ans["indices"])
    for n in (len(data["raw"]), len(data["tensor"])):
        if n != count:
            return [count_problem(n, count, "items")]
    problems = []
    for k, i in enumerate(ans["indices"]):
        raw, want = data["raw"][k], ans["raw"][k]
        image = raw["image"]
        if image is None:
            problems.append(f"{_call(ans)}[{i}] (no transform): the image is a {raw['describe']['type']}; "
                            "expected the HWC uint8 numpy array of the file's pixels")
        elif tuple(image.shape) != tuple(want.shape) or image.dtype != want.dtype:
            problems.append(f"{_call(ans)}[{i}] (no transform): the image has shape {tuple(image.shape)} and "
                            f"dtype {image.dtype}; expected shape (32, 32, 3) (height, width, channel) "
                            "and dtype uint8: row.reshape(3, 32, 32).transpose(1, 2, 0)")
        elif not torch.equal(image, want):
            differ = int((image != want).sum())
            problems.append(f"{_call(ans)}[{i}] (no transform): {differ} of {want.numel()} pixel values "
                            f"differ from {_where(ans, i)}")
        if raw["label"] is None:
            problems.append(f"{_call(ans)}[{i}]: the label is a {raw['label_describe']['type']}; "
                            "expected an int")
        elif raw["label"] != ans["labels"][i]:
            problems.append(f"{_call(ans)}[{i}]: label {raw['label']}; expected {ans['labels'][i]} "
                            f"(the label of {_where(ans, i)})")
        t, want = data["tensor"][k], ans["tensor"][k]
        image, d = t["image"], t["describe"]
        call = _call(ans, ", transform=transforms.ToTensor()")
        if image is None or not d["type"].startswith("torch.") or "shape" not in d:
            problems.append(f"{call}[{i}]: the image is a {d['type']}; expected the tensor the "
                            "transform returns (is transform applied in __getitem__?)")
        elif tuple(image.shape) != (3, 32, 32) or image.dtype != torch.float32:
            problems.append(f"{call}[{i}]: the image has shape {tuple(image.shape)} and dtype "
                            f"{image.dtype}; expected (3, 32, 32) float32: ToTensor() must be given "
                            "the HWC uint8 image")
        elif not torch.equal(image, want):
            problems.append(f"{call}[{i}]: values differ from ToTensor() of {_where(ans, i)} "
                            f"(largest difference {fmt(float((image - want).abs().max()))})")
    return problems


def judge_transforms(data, ans, offset=C.TARGET_TRANSFORM_OFFSET):
    count = len(ans["indices"])
    built = data["build_dataset"]
    for n in (len(data["cifar10"]), len(built["marked"]), len(built["labels"])):
        if n != count:
            return [count_problem(n, count, "items")]
    problems = []
    call = _call(ans, ", transform=T, target_transform=lambda y: y + 100")
    for k, i in enumerate(ans["indices"]):
        item = data["cifar10"][k]
        if not item["marked"]:
            problems.append(f"{call}[{i}]: the image is a {item['image_describe']['type']}, not what "
                            "T returned: apply self.transform to the image in __getitem__")
        if item["label"] != ans["labels"][i] + offset:
            problems.append(f"{call}[{i}]: label {item['label']}; expected {ans['labels'][i] + offset}: "
                            "apply self.target_transform to the label in __getitem__")
    if built["length"] != ans["length"]:
        problems.append(f"build_dataset(files, transform=T) has length {built['length']}; "
                        f"expected {ans['length']}, all images of the files")
    if not all(built["marked"]):
        problems.append("build_dataset(files, transform=T): items do not hold what T returned; "
                        "pass transform on to CIFAR10")
    if built["labels"] != [ans["labels"][i] for i in ans["indices"]]:
        problems.append("build_dataset(files, transform=T): labels differ from the files' labels "
                        "(build_dataset adds no target_transform)")
    return problems


class DatasetTests(GradedCase):
    @graded("1.1")
    def test_1_1_lengths_and_order(self):
        """1.1 CIFAR10: length, and several files concatenated in order"""
        data = self.part(PROBE, "dataset_lengths", "CIFAR10(...) or len()/indexing")
        ans = self.ctx.answers("dataset")
        self.check(judge_lengths(data, ans),
                   f"ok: lengths {ans['first_length']} and {ans['length']}; all {ans['length']} labels in order")

    @graded("1.2")
    def test_1_2_items(self):
        """1.2 CIFAR10: items are the files' images (HWC uint8) and int labels"""
        data = self.part(PROBE, "dataset_items", "CIFAR10 indexing (__getitem__)")
        ans = self.ctx.answers("dataset")
        self.check(judge_items(data, ans),
                   f"ok: items {ans['indices']} pixel-exact, with and without ToTensor()")

    @graded("1.3")
    def test_1_3_transforms(self):
        """1.3 CIFAR10 and build_dataset: transform and target_transform applied"""
        data = self.part(PROBE, "dataset_transforms", "CIFAR10 / build_dataset with a transform")
        self.check(judge_transforms(data, self.ctx.answers("dataset")),
                   "ok: transform and target_transform applied to every item checked")
