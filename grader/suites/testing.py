"""Tests 6.x: test() returns the reference's accuracy, as a fraction, and leaves the model alone.

test() gets two unshuffled loaders of the same images (different batch sizes, the last batch
partial), each time with a model in training mode. One defect, one deduction: 6.1 judges the
accuracy returned for a model whose output ignores its mode (a mean of per-batch accuracies, a
count of batches, a percentage all differ); 6.2 what it does to a model whose batch norm follows
the mode (no model.eval() overwrites running statistics; training changes parameters or gradients).
"""
import math

import mpconfig as C
from grader.probes import fixtures
from grader.protocol import FUNCTIONS_PROBE
from grader.schema import DESCRIBE, INT, NULL_NUM, STRS, array, guarded, obj
from grader.suites.base import GradedCase, count_problem, fmt, graded

PROBE = FUNCTIONS_PROBE
PART_SCHEMAS = {    # what grader/probes/testing.py answers
    "test": guarded(array(obj({"batch_size": INT, "describe": DESCRIBE, "value": NULL_NUM,
                                "changed": STRS}))),
}


def prepare(k):
    rows, labels = k.public(C.TEST_FILE)
    first, n = C.TEST_CHECK["first"], C.TEST_CHECK["images"]
    net = fixtures.GraderNet(k.checkpoint, C.FIXTURE_SEED, lock_backbone_eval=True)
    accuracies = [float(k.reference.test(fixtures.labelled_loader(rows[first:first + n],
                                                                  labels[first:first + n], b),
                                         net.train()))
                  for b in C.TEST_CHECK["batch_sizes"]]
    args = dict(C.TEST_CHECK, batch_sizes=list(C.TEST_CHECK["batch_sizes"]), file=C.TEST_FILE,
                seed=C.FIXTURE_SEED)
    return {"test": args}, {"accuracies": accuracies, "images": n,
                            "batch_sizes": list(C.TEST_CHECK["batch_sizes"])}


def judge_accuracy(results, expected):
    wrong = count_problem(len(results), len(expected["accuracies"]), "accuracy checks")
    if wrong:
        return [wrong]
    problems = []
    for r, want in zip(results, expected["accuracies"]):
        call = f"test(loader of {expected['images']} images in batches of {r['batch_size']}, model)"
        value = r["value"]
        if value is None:
            problems.append(f"{call} returned a {r['describe']['type']}; expected a number, the "
                            "fraction of images classified correctly")
        elif not math.isfinite(value) or not 0.0 <= value <= 1.0:
            hint = " (a percentage? return a fraction in [0, 1])" if math.isclose(
                value, 100 * want, abs_tol=1e-6) else ""
            problems.append(f"{call} returned {fmt(value)}; expected {fmt(want)}, a fraction in [0, 1]{hint}")
        elif abs(value - want) > C.TEST_CHECK_ATOL:
            problems.append(f"{call} returned {fmt(value)}; expected {fmt(want)}: correct "
                            f"predictions (argmax of the logits) over all {expected['images']} images, "
                            "divided by the number of images")
    return problems


def judge_unchanged(results):
    problems = []
    for r in results:
        if r["changed"]:
            problems.append(f"test() changed {len(r['changed'])} of the model's tensors (e.g. "
                            f"{', '.join(r['changed'][:3])}): testing must not train the model, "
                            "update batch-norm statistics or leave gradients behind (evaluate in "
                            "eval mode, under torch.no_grad(), without backward())")
        # Most correct submissions stay in eval mode (train() switches back): only tensors are judged.
        if problems:
            break
    return problems


class TestFunctionChecks(GradedCase):
    @graded("6.1")
    def test_6_1_accuracy(self):
        """6.1 test: the reference's accuracy, as a fraction"""
        results = self.part(PROBE, "test", "test()")
        expected = self.ctx.expected("testing")
        self.check(judge_accuracy(results, expected),
                   f"ok: accuracies {[fmt(a) for a in expected['accuracies']]} "
                   f"for batch sizes {expected['batch_sizes']}")

    @graded("6.2")
    def test_6_2_model_unchanged(self):
        """6.2 test: the model's parameters, buffers and gradients are left unchanged"""
        results = self.part(PROBE, "test", "test()")
        self.check(judge_unchanged(results), "ok: parameters and buffers unchanged")
