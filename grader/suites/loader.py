"""Tests 2.x: build_dataloader honours batch_size and shuffle, and batches real data correctly."""
import math

from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

import mpconfig as C
from grader.protocol import FUNCTIONS_PROBE
from grader.schema import DESCRIBE, INT, INTS, NUM, array, guarded, obj, when
from grader.suites.base import GradedCase, count_problem, graded

PROBE = FUNCTIONS_PROBE
PART_SCHEMAS = {    # what grader/probes/loader.py answers
    "loader_cases": guarded(array(guarded(array(INTS)))),
    "loader_real": guarded(when(
        {"type": "object", "required": ["images"]},
        obj({"batch": DESCRIBE, "dataset_length": INT, "loader_length": INT, "images": DESCRIBE,
             "labels": DESCRIBE, "label_values": {"type": ["array", "null"], "items": NUM}}),
        obj({"batch": DESCRIBE}))),    # the first batch was not a pair: nothing else measured
}


def draw_cases(count=C.LOADER_CHECK_CASES, max_length=C.LOADER_CHECK_MAX_LENGTH,
               max_batch=C.LOADER_CHECK_MAX_BATCH, seed=C.FIXTURE_SEED):
    """(length, batch_size, shuffle, seed) cases from hypothesis (derandomized): the same every run."""
    cases = []

    @settings(derandomize=True, max_examples=count, database=None, deadline=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @example(length=1, batch_size=1, shuffle=False)                  # smallest
    @example(length=64, batch_size=16, shuffle=False)                # batch size divides length
    @example(length=65, batch_size=16, shuffle=True)                 # a last batch of one
    @example(length=5, batch_size=max_batch, shuffle=False)          # batch larger than the data
    @example(length=max_length, batch_size=7, shuffle=True)
    @given(length=st.integers(1, max_length), batch_size=st.integers(1, max_batch),
           shuffle=st.booleans())
    def collect(length, batch_size, shuffle):
        cases.append((length, batch_size, shuffle))

    collect()
    unique = list(dict.fromkeys(cases))
    return [[n, b, s, seed + i] for i, (n, b, s) in enumerate(unique)]


def prepare(k):
    rows, labels = k.public(C.TEST_FILE)
    real = {"file": C.TEST_FILE, "batch_size": C.LOADER_CHECK_REAL_BATCH}
    expected = {"cases": draw_cases(), "real": dict(real, length=len(labels),
                                                  labels=labels[:real["batch_size"]].tolist())}
    return {"loader_cases": {"cases": expected["cases"]}, "loader_real": real}, expected


def judge_case(case, result, shuffle_min_length=C.LOADER_SHUFFLE_MIN_LENGTH):
    """The problem with one case's batches (lists of item indices), or None."""
    length, batch_size, shuffle, _ = case
    call = (f"build_dataloader(dataset of {length} items, "
            f'{{"batch_size": {batch_size}, "shuffle": {shuffle}}})')
    if "error" in result:
        return f"iterating over {call} raised an error:\n{result['error']}"
    batches = result["value"]
    count = math.ceil(length / batch_size)
    sizes = [len(b) for b in batches]
    want = [batch_size] * (count - 1) + [length - batch_size * (count - 1)]
    if sizes != want:
        shown = sizes if len(sizes) <= 8 else sizes[:4] + ["..."] + sizes[-2:]
        return (f"{call} gave {len(sizes)} batches of sizes {shown}; expected {count} batches "
                f"of {batch_size} (the last one {want[-1]})")
    order = [i for b in batches for i in b]
    if sorted(order) != list(range(length)):
        return f"{call} did not give every item exactly once in one pass"
    if not shuffle and order != list(range(length)):
        return f"{call} changed the order of the items; with shuffle False they come in dataset order"
    if shuffle and length >= shuffle_min_length and order == list(range(length)):
        return f"{call} kept the dataset order; with shuffle True it must be shuffled"
    return None


def judge_cases(results, cases):
    wrong = count_problem(len(results), len(cases), "loader cases")
    if wrong:
        return [wrong]
    problems = [judge_case(c, r) for c, r in zip(cases, results)]
    return [p for p in problems if p]


def judge_real(data, expected):
    b = expected["batch_size"]
    call = (f"build_dataloader(the grader's dataset of {C.TEST_FILE}, "
            f'{{"batch_size": {b}, "shuffle": False}})')
    if len(data) == 1:   # the first batch was not a pair: nothing else was measured
        return [f"the first batch of {call} is a {data['batch']['type']}; expected a pair "
                "(images, labels)"]
    problems = []
    images, labels = data["images"], data["labels"]
    if images.get("shape") != [b, 3, 32, 32] or images.get("dtype") != "torch.float32":
        problems.append(f"first batch of {call}: images are {images['type']} of shape "
                        f"{images.get('shape')} and dtype {images.get('dtype')}; expected a "
                        f"torch.float32 tensor of shape [{b}, 3, 32, 32]")
    if labels.get("shape") != [b] or labels.get("dtype") != "torch.int64":
        problems.append(f"first batch of {call}: labels are {labels['type']} of shape "
                        f"{labels.get('shape')} and dtype {labels.get('dtype')}; expected a "
                        f"torch.int64 tensor of shape [{b}]: the dataset gives float32 (3, 32, 32) "
                        "images and int64 labels, so the loader must batch them unchanged")
    elif data["label_values"] != expected["labels"]:
        found = data["label_values"][:8] if data["label_values"] is not None else None
        problems.append(f"first batch of {call}: labels {found}...; expected "
                        f"{expected['labels'][:8]}..., the file's first {b} labels")
    if data["dataset_length"] != expected["length"]:
        problems.append(f"the dataset given to build_dataloader has length "
                        f"{data['dataset_length']}; expected {expected['length']}: build_dataloader "
                        "must not change the dataset it is given")
    elif data["loader_length"] != math.ceil(expected["length"] / b):
        problems.append(f"len({call}) is {data['loader_length']}; expected "
                        f"{math.ceil(expected['length'] / b)} batches")
    return problems


class DataloaderChecks(GradedCase):
    @graded("2.1")
    def test_2_1_batch_size_and_shuffle(self):
        """2.1 build_dataloader: batch_size and shuffle honoured"""
        results = self.part(PROBE, "loader_cases", "build_dataloader")
        cases = self.ctx.expected("loader")["cases"]
        self.check(judge_cases(results, cases),
                   f"ok: {len(cases)} (length, batch_size, shuffle) cases batched correctly")

    @graded("2.2")
    def test_2_2_real_batches(self):
        """2.2 build_dataloader: batch shapes and dtypes on the real data (the grader's dataset)"""
        data = self.part(PROBE, "loader_real", "build_dataloader")
        self.check(judge_real(data, self.ctx.expected("loader")["real"]),
                   "ok: batches of float32 images [B, 3, 32, 32] and int64 labels, in file order")
