"""Tests 3.x: FinetuneNet loads the checkpoint, freezes the backbone, has a trainable 8-way head.

Student key names differ from the checkpoint's, so backbone tensors are matched by value: one is
"in the model" when a model tensor is bit-identical to it (SHA-256 of dtype, shape and bytes).
"""

import mpconfig as C
import models
from grader.probes import fixtures
from grader.protocol import FUNCTIONS_PROBE
from grader.schema import BOOL, DESCRIBE, FINGERPRINT, INT, array, guarded, is_module, obj, when
from grader.suites.base import GradedCase, count_problem, graded

PROBE = FUNCTIONS_PROBE
PART_SCHEMAS = {    # what grader/probes/model.py answers
    "model": obj({"value": when(
        is_module("build"),
        obj({"build": obj({"value": obj({"is_module": BOOL, "fingerprint": FINGERPRINT})}),
             "outputs": guarded(array(obj({"n": INT, "output": DESCRIBE}))),
             "gradients": guarded(obj(values={"enum": ["none", "nonfinite", "zero", "nonzero"]}))}),
        # FinetuneNet() raised or made no Module: nothing else measured
        obj({"build": guarded(obj({"is_module": BOOL, "describe": DESCRIBE}))}))}),
}
HEAD_KEYS = ("fc.weight", "fc.bias")   # the checkpoint's 10-class head: replaced, not required


def checkpoint_backbone(checkpoint):
    """[{key, kind, digest}] of every backbone tensor of the checkpoint (all but fc)."""
    params = {name for name, _ in models.resnet18().named_parameters()}
    return [{"key": key, "kind": "param" if key in params else "buffer",
             "digest": fixtures.tensor_digest(t)}
            for key, t in checkpoint.items() if key not in HEAD_KEYS]


def prepare(k):
    rows, labels = k.public(C.TEST_FILE)
    args = {"batch_sizes": list(C.MODEL_CHECK_BATCH_SIZES), "seed": C.FIXTURE_SEED,
            "file": C.TEST_FILE, "images": C.MODEL_CHECK_GRAD_IMAGES}
    return {"model": args}, {"backbone": checkpoint_backbone(k.checkpoint),
                             "batch_sizes": list(C.MODEL_CHECK_BATCH_SIZES)}


def match_backbone(fingerprint, backbone, kinds=("param", "buffer")):
    """(model tensors holding checkpoint backbone tensors, missing keys); one model tensor per key."""
    available = {}
    for entry in fingerprint:
        available.setdefault(entry["digest"], []).append(entry["name"])
    matched, missing = [], []
    for entry in backbone:
        if entry["kind"] not in kinds:
            continue
        names = available.get(entry["digest"])
        if names:
            matched.append(names.pop(0))
        else:
            missing.append(entry["key"])
    return matched, missing


def judge_loaded(build, expected):
    if not build["is_module"]:
        return [f"FinetuneNet() made a {build['describe']['type']}, not a torch.nn.Module"]
    _, missing = match_backbone(build["fingerprint"], expected["backbone"])
    if not missing:
        return []
    total = len(expected["backbone"])
    return [f"{len(missing)} of the {total} backbone tensors of resnet18.pt are not in FinetuneNet() "
            f"bit for bit (e.g. {', '.join(missing[:3])}): build the backbone with "
            "resnet18(pretrained=True) (or load resnet18.pt into it) and replace only its fc layer"]


def judge_frozen(build, expected):
    if not build["is_module"]:
        return [f"FinetuneNet() made a {build['describe']['type']}, not a torch.nn.Module"]
    params = [e for e in build["fingerprint"] if e["kind"] == "param"]
    matched, missing = match_backbone(params, expected["backbone"], kinds=("param",))
    # Without the checkpoint's values the backbone is recognised by its convolutions alone.
    backbone = set(matched) | ({e["name"] for e in params if len(e["shape"]) == 4} if missing else set())
    problems = []
    trainable = [e["name"] for e in params if e["name"] in backbone and e["requires_grad"]]
    if trainable:
        problems.append(f"{len(trainable)} backbone parameters still have requires_grad=True "
                        f"(e.g. {', '.join(trainable[:3])}): freeze every backbone parameter")
    if not any(e["requires_grad"] for e in params if e["name"] not in backbone):
        problems.append("FinetuneNet() has no trainable parameter outside the backbone: the new "
                        "head (e.g. nn.Linear(512, 8)) must keep requires_grad=True (create it "
                        "after freezing the backbone)")
    return problems


def judge_outputs(outputs, expected):
    wrong = count_problem([e["n"] for e in outputs], expected["batch_sizes"], "output batch sizes")
    if wrong:
        return [wrong]
    problems = []
    for entry in outputs:
        n, out = entry["n"], entry["output"]
        if out.get("shape") != [n, C.NUM_CLASSES] or not out["type"].startswith("torch."):
            problems.append(f"FinetuneNet()(x) for x of shape ({n}, 3, 32, 32) in eval mode gave a "
                            f"{out['type']} of shape {out.get('shape')}; expected a tensor of shape "
                            f"[{n}, {C.NUM_CLASSES}] (one logit per class)")
        elif out.get("dtype") != "torch.float32" or not out.get("finite", False):
            problems.append(f"FinetuneNet()(x) for {n} images: dtype {out.get('dtype')}, all finite: "
                            f"{out.get('finite')}; expected finite float32 logits")
    return problems


def _head_params(build, expected):
    """(backbone parameter names, trainable parameter names outside the backbone)."""
    params = [e for e in build["fingerprint"] if e["kind"] == "param"]
    backbone, _ = match_backbone(params, expected["backbone"], kinds=("param",))
    backbone = set(backbone)
    return backbone, [e["name"] for e in params if e["name"] not in backbone and e["requires_grad"]]


def judge_gradients(grads, build, expected):
    """3.4: the backbone gets no gradient and the head gets a finite, non-zero one. A trainable
    parameter with no gradient at all (a layer forward() skips) is gradient_notes' business."""
    backbone, head = _head_params(build, expected)
    problems = []
    leaking = [n for n in backbone if grads.get(n) not in ("none", "zero")]
    if leaking:
        problems.append(f"after loss.backward(), {len(leaking)} backbone parameters have non-zero "
                        f"gradients (e.g. {', '.join(sorted(leaking)[:3])}): the backbone must be frozen")
    if not head:
        problems.append("no trainable head parameter to receive gradients (see test 3.2)")
        return problems
    nonfinite = [n for n in head if grads.get(n) == "nonfinite"]
    if nonfinite:
        problems.append(f"after loss.backward(), {len(nonfinite)} head parameters have NaN or "
                        f"infinite gradients (e.g. {', '.join(nonfinite[:3])})")
    elif not any(grads.get(n) == "nonzero" for n in head):
        what = ", ".join(f"{n}: {grads.get(n)}" for n in head[:3])
        problems.append(f"after loss.backward(), no trainable parameter outside the backbone has a "
                        f"non-zero gradient ({what}): is the new head used in forward()?")
    return problems


def gradient_notes(grads, build, expected):
    """Lines (no points) on trainable non-backbone parameters with no gradient: layers forward() skips."""
    _, head = _head_params(build, expected)
    unused = [n for n in head if grads.get(n) in ("none", "zero")]
    if not unused or not any(grads.get(n) == "nonzero" for n in head):
        return []
    return [f"note (no points): {len(unused)} trainable parameters outside the backbone get no "
            f"gradient (e.g. {', '.join(unused[:3])}): a layer that forward() does not use? It "
            "costs nothing here, but you may remove it"]


class FinetuneNetChecks(GradedCase):
    def build(self, module=False):
        """(the model checks, FinetuneNet()'s fingerprint); module: fail unless it is a Module
        (else there are no outputs or gradients to judge)."""
        checks = self.part(PROBE, "model", "FinetuneNet")
        build = self.unwrap(checks["build"], "FinetuneNet()")
        if module and not build["is_module"]:
            self.fail(judge_loaded(build, self.ctx.expected("model"))[0])
        return checks, build

    @graded("3.1")
    def test_3_1_loads_checkpoint(self):
        """3.1 FinetuneNet: the backbone is resnet18.pt's"""
        _, build = self.build()
        expected = self.ctx.expected("model")
        self.check(judge_loaded(build, expected),
                   f"ok: all {len(expected['backbone'])} backbone tensors of resnet18.pt found bit for bit")

    @graded("3.2")
    def test_3_2_frozen_backbone(self):
        """3.2 FinetuneNet: backbone frozen, new head trainable"""
        _, build = self.build()
        self.check(judge_frozen(build, self.ctx.expected("model")),
                   "ok: every backbone parameter frozen, the head trainable")

    @graded("3.3")
    def test_3_3_output_shape(self):
        """3.3 FinetuneNet: outputs (N, 8) logits"""
        checks, _ = self.build(module=True)
        outputs = self.unwrap(checks["outputs"], "FinetuneNet.forward (in eval mode)")
        expected = self.ctx.expected("model")
        self.check(judge_outputs(outputs, expected),
                   f"ok: (N, 8) finite logits for N in {expected['batch_sizes']}")

    @graded("3.4")
    def test_3_4_gradients(self):
        """3.4 FinetuneNet: gradients reach the head, not the backbone"""
        checks, build = self.build(module=True)
        grads = self.unwrap(checks["gradients"], "FinetuneNet.forward + loss.backward()")
        expected = self.ctx.expected("model")
        for line in gradient_notes(grads, build, expected):
            print(line)
        self.check(judge_gradients(grads, build, expected),
                   "ok: after backward() the head has (finite, non-zero) gradients, the backbone none")
