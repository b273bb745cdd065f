"""Tests 5.x: train() does one correct pass, isolated from the rest of the submission.

train() gets the grader's model (frozen backbone, fixed Linear(512, 8) head), a fixed unshuffled
loader, cross-entropy and plain SGD; its head must end where the reference's does. The usual slips
are recognisable: no step() leaves the initial head, no zero_grad() an accumulated-gradients one.
"""
import torch
from torch import nn

import mpconfig as C
from grader.probes import fixtures
from grader.protocol import FUNCTIONS_PROBE, TAMPERING
from grader.schema import STRS, TENSOR, guarded, obj
from grader.suites.base import GradedCase, fmt, graded

PROBE = FUNCTIONS_PROBE
PART_SCHEMAS = {    # what grader/probes/training.py answers
    "train": guarded(obj({"weight": TENSOR, "bias": TENSOR, "backbone_changed": STRS})),
}


def _fixture(k):
    rows, labels = k.public(C.TEST_FILE)
    first, n = C.TRAIN_CHECK["first"], C.TRAIN_CHECK["images"]
    net = fixtures.GraderNet(k.checkpoint, C.FIXTURE_SEED, lock_backbone_eval=True)
    loader = fixtures.labelled_loader(rows[first:first + n], labels[first:first + n],
                                      C.TRAIN_CHECK["batch_size"])
    return net, loader, torch.optim.SGD(net.head.parameters(), lr=C.TRAIN_CHECK["lr"])


def _head(net):
    return net.head.weight.detach().clone(), net.head.bias.detach().clone()


def train_without_zero_grad(loader, model, loss_fn, optimizer):
    """The commonest slip, for a precise message: gradients summed over every batch so far."""
    model.train()
    for images, labels in loader:
        loss_fn(model(images), labels).backward()
        optimizer.step()


def prepare(k):
    net, loader, opt = _fixture(k)
    initial = _head(net)
    k.reference.train(loader, net, nn.CrossEntropyLoss(), opt)
    reference = _head(net)
    net, loader, opt = _fixture(k)
    train_without_zero_grad(loader, net, nn.CrossEntropyLoss(), opt)
    args = dict(C.TRAIN_CHECK, file=C.TEST_FILE, seed=C.FIXTURE_SEED)
    return {"train": args}, {"initial": initial, "reference": reference, "no_zero_grad": _head(net)}


def _close(found, want):
    return all(f.shape == w.shape and torch.allclose(f, w, rtol=C.TRAIN_CHECK_RTOL, atol=C.TRAIN_CHECK_ATOL)
               for f, w in zip(found, want))


def judge_head(data, expected):
    found = (data["weight"], data["bias"])
    want = expected["reference"]
    call = "train(loader, model, nn.CrossEntropyLoss(), SGD over the head)"
    if any(f.shape != w.shape or f.dtype != w.dtype for f, w in zip(found, want)):
        return [f"the grader's head came back as {[(tuple(f.shape), str(f.dtype)) for f in found]}; "
                f"expected {[(tuple(w.shape), str(w.dtype)) for w in want]}. {TAMPERING}"]
    if _close(found, want):
        return []
    if all(torch.equal(f, w) for f, w in zip(found, expected["initial"])):
        return [f"{call} left the head's weights unchanged: for every batch call loss.backward() "
                "and then optimizer.step() (with no zero_grad() in between)"]
    if _close(found, expected["no_zero_grad"]):
        return [f"{call}: the head's weights are what training gives when gradients are never "
                "zeroed: call optimizer.zero_grad() for every batch"]
    diff = max(float((f - w).abs().max()) for f, w in zip(found, want))
    return [f"{call}: after one pass over {C.TRAIN_CHECK['images']} images the head's weights differ "
            f"from the reference's by up to {fmt(diff)} (tolerance {C.TRAIN_CHECK_ATOL}): for each "
            "batch, loss = loss_fn(model(images), labels), optimizer.zero_grad(), loss.backward(), "
            "optimizer.step(), one pass over the loader"]


def judge_backbone(data):
    changed = data["backbone_changed"]
    if changed:
        return [f"train() changed {len(changed)} tensors of the frozen backbone (e.g. "
                f"{', '.join(changed[:3])}): it must update only what the optimizer holds"]
    return []


class TrainFunctionChecks(GradedCase):
    @graded("5.1")
    def test_5_1_matches_reference(self):
        """5.1 train: one pass gives the reference's head weights"""
        data = self.part(PROBE, "train", "train()")
        self.check(judge_head(data, self.ctx.expected("training")),
                   f"ok: head weights match the reference's after one pass "
                   f"({C.TRAIN_CHECK['images']} images, batches of {C.TRAIN_CHECK['batch_size']})")

    @graded("5.2")
    def test_5_2_backbone_untouched(self):
        """5.2 train: the frozen backbone is left untouched"""
        data = self.part(PROBE, "train", "train()")
        self.check(judge_backbone(data), "ok: no backbone parameter or buffer changed")
