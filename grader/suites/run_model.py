"""Tests 7.x: run_model() trains in time, keeps the backbone, and classifies the hidden images.

The child returns the model's logits on the hidden images (and on the first FLIP_CHECK_IMAGES of
them mirrored); the labels never leave this process, which computes the accuracy itself.
"""
import torch

import mpconfig as C
from grader.protocol import RUN_MODEL_PROBE
from grader.schema import BOOL, FINGERPRINT, NUM, STR, TENSOR, guarded, is_module, obj, when
from grader.suites.base import GradedCase, fmt, graded, leaderboard_column, raised
from grader.suites.model import checkpoint_backbone, match_backbone

PROBE = RUN_MODEL_PROBE
EVAL_BATCH = 500          # images per forward pass when the child scores the hidden set

_RUN = guarded(obj({"type": STR, "is_module": BOOL}))
SCHEMA = when(    # what grader/probes/run_model.py answers
    is_module("run"),
    obj({"seconds": NUM, "run": _RUN, "fingerprint": FINGERPRINT,
         "buffers": obj(values={"type": "tensor", "floating": True}),
         "preprocess": {"oneOf": [obj({"fallback": STR}), obj({"submission": {"const": True}})]},
         "evaluation": guarded(obj({"logits": TENSOR, "flip_logits": TENSOR}))}),
    obj({"seconds": NUM, "run": _RUN}))   # run_model() raised or returned no Module


def prepare(k):
    args = {"seed": C.RUN_MODEL_SEED, "images": len(k.hidden_labels),
            "flip_images": min(C.FLIP_CHECK_IMAGES, len(k.hidden_labels)), "batch_size": EVAL_BATCH}
    buffers = {key: t for key, t in k.checkpoint.items() if t.is_floating_point() and key.endswith(
        ("running_mean", "running_var"))}
    return args, {"backbone": checkpoint_backbone(k.checkpoint), "buffers": buffers,
                  "labels": torch.as_tensor(k.hidden_labels), "flip_images": args["flip_images"]}


def tier_share(accuracy, tiers=C.ACCURACY_TIERS):
    """The share of the accuracy points earned: the first tier whose threshold is reached."""
    return next((share for threshold, share in tiers if accuracy >= threshold), 0.0)


def _logits_problem(logits, n, what):
    """Why these logits cannot be scored, or None. Any number of columns from NUM_CLASSES up is
    scored (the shape is 3.3's business): a prediction past the last class is simply wrong."""
    if not isinstance(logits, torch.Tensor):
        return f"{what}: the model's output is not a tensor"
    if logits.dim() != 2 or logits.shape[0] != n or logits.shape[1] < C.NUM_CLASSES:
        return (f"{what}: the model's outputs for {n} images have shape {tuple(logits.shape)}; "
                f"expected ({n}, {C.NUM_CLASSES}), one row of {C.NUM_CLASSES} logits per image")
    if not bool(torch.isfinite(logits).all()):
        bad = int((~torch.isfinite(logits)).any(dim=1).sum())
        return f"{what}: the model's outputs hold NaN or infinite values for {bad} of the {n} images"
    return None


def judge_accuracy(evaluation, expected, tiers=C.ACCURACY_TIERS, flip_gap_max=C.FLIP_GAP_MAX):
    """{"share": of the points, in [0, 1], "accuracy": on the hidden set (None when the logits
    are unusable), "flagged": too large a flip gap, "lines": the student-facing account}."""
    labels = expected["labels"]
    n, m = len(labels), expected["flip_images"]
    problem = (_logits_problem(evaluation.get("logits"), n, "hidden images")
               or _logits_problem(evaluation.get("flip_logits"), m, "mirrored hidden images"))
    if problem:
        return {"share": 0.0, "accuracy": None, "flagged": False, "lines": [problem]}
    predicted = evaluation["logits"].argmax(dim=1)
    accuracy = float((predicted == labels).double().mean())
    flip_accuracy = float((evaluation["flip_logits"].argmax(dim=1) == labels[:m]).double().mean())
    same = float((predicted[:m] == labels[:m]).double().mean())
    lines = [f"accuracy on the {n} hidden images: {accuracy:.4f}",
             f"on the first {m} of them: {same:.4f} as given, {flip_accuracy:.4f} mirrored"]
    columns = evaluation["logits"].shape[1]
    if columns > C.NUM_CLASSES:
        beyond = int((predicted >= C.NUM_CLASSES).sum())
        lines.append(f"note: the model gives {columns} logits per image, not {C.NUM_CLASSES} (see "
                     f"test 3.3); the largest of all {columns} counts, so the {beyond} images "
                     f"predicted as class {C.NUM_CLASSES} or above count as wrong")
    if same - flip_accuracy > flip_gap_max:
        lines.append(f"the model is {same - flip_accuracy:.3f} less accurate on mirrored images "
                     f"(more than {flip_gap_max}): a real classifier of these classes is not; no "
                     "points for accuracy. Train the network; do not recognise memorised images.")
        return {"share": 0.0, "accuracy": accuracy, "flagged": True, "lines": lines}
    share = tier_share(accuracy, tiers)
    tier_text = ", ".join(f">= {t:g}: {s:.0%}" for t, s in tiers)
    lines.append(f"tiers ({tier_text}): {share:.0%} of the points")
    return {"share": share, "accuracy": accuracy, "flagged": False, "lines": lines}


def judge_run(data, limit):
    """Problems with the run itself (error, too slow, not a model)."""
    run = data.get("run", {})
    if "error" in run:
        if "PartTimeout" in run["error"]:
            return [f"run_model() did not finish within its time limit of {limit:.0f} s on this "
                    "machine: train for fewer epochs or more efficiently"]
        return [raised("run_model()", run["error"])]
    if not run["value"]["is_module"]:
        return [f"run_model() returned a {run['value']['type']}; expected the trained model "
                "(a torch.nn.Module): end run_model with `return model`"]
    return []


def judge_backbone(fingerprint, expected):
    params = [e for e in fingerprint if e["kind"] == "param"]
    _, missing = match_backbone(params, expected["backbone"], kinds=("param",))
    if missing:
        total = sum(1 for e in expected["backbone"] if e["kind"] == "param")
        return [f"{len(missing)} of the {total} backbone parameters of resnet18.pt are not in the "
                f"model run_model() returned, bit for bit (e.g. {', '.join(missing[:3])}): the "
                "backbone must stay frozen while training (requires_grad=False, only the head's "
                "parameters in the optimizer)"]
    return []


def buffer_drift(buffers, expected):
    """Lines (not graded) on backbone batch-norm statistics that moved (paired by name suffix)."""
    changed, largest = 0, 0.0
    for key, want in expected["buffers"].items():
        name = next((n for n in buffers if n == key or n.endswith("." + key)), None)
        if name is None or buffers[name].shape != want.shape:
            continue
        diff = float((buffers[name] - want).abs().max())
        if diff > 0:
            changed, largest = changed + 1, max(largest, diff)
    if not changed:
        return []
    return [f"note (no points): {changed} batch-norm running statistics of the backbone changed "
            f"during run_model() (largest change {largest:.3g}); the model was trained with the "
            "backbone's batch norm in training mode. Keeping frozen batch-norm layers in eval mode "
            "(see FinetuneNet.train) keeps the features the backbone was pretrained to compute."]


class RunModelChecks(GradedCase):
    def run_data(self):
        result = self.ctx.probe(PROBE)
        limit = self.ctx.run_model_limit_s
        if not result.ok and result.error.startswith("timed out"):
            self.fail(f"run_model() and the evaluation of its model did not finish within "
                      f"{limit + C.RUN_MODEL_EXTRA_S:.0f} s (run_model's limit on this machine is "
                      f"{limit:.0f} s)")
        data = self.probe_data(PROBE)
        problems = judge_run(data, limit)
        if problems:
            self.fail(problems[0])
        return data

    @graded("7.1")
    def test_7_1_runs_in_time(self):
        """7.1 run_model: finishes within the time limit and returns a model"""
        data = self.run_data()
        limit = self.ctx.run_model_limit_s
        print(f"ok: run_model() took {data['seconds']:.1f} s (limit on this machine: {limit:.0f} s)")
        if "fallback" in data.get("preprocess", {}):
            print("note: the hidden images could not go through your build_dataset / "
                  "get_preprocess_transform(\"test\"), so plain ToTensor() was used:\n"
                  + data["preprocess"]["fallback"])

    @graded("7.2")
    def test_7_2_backbone_kept(self):
        """7.2 run_model: the returned model's backbone is still resnet18.pt's"""
        data = self.run_data()
        expected = self.ctx.expected("run_model")
        for line in buffer_drift(data.get("buffers", {}), expected):
            print(line)
        self.check(judge_backbone(data["fingerprint"], expected),
                   "ok: every backbone parameter of resnet18.pt is unchanged in the trained model")

    @graded("7.3", partial=True)
    def test_7_3_accuracy(self, set_score=None):
        """7.3 run_model: accuracy on the hidden images"""
        set_score(0.0)
        data = self.run_data()
        evaluation = self.unwrap(data["evaluation"], "Classifying the hidden images with your model")
        verdict = judge_accuracy(evaluation, self.ctx.expected("run_model"))
        points = C.TESTS["7.3"][0]
        set_score(round(verdict["share"] * points, 4))
        print("\n".join(verdict["lines"]))
        if verdict["share"] < 1.0:
            self.fail(f"{fmt(verdict['share'] * points)} of {fmt(points)} points for accuracy")

    @leaderboard_column("accuracy")
    def test_7_4_leaderboard_accuracy(self, set_leaderboard_value=None):
        """Leaderboard: hidden-set accuracy"""
        set_leaderboard_value(0.0)
        data = self.run_data()
        evaluation = self.unwrap(data["evaluation"], "Classifying the hidden images with your model")
        verdict = judge_accuracy(evaluation, self.ctx.expected("run_model"))
        usable = verdict["accuracy"] is not None and not verdict["flagged"]
        set_leaderboard_value(round(verdict["accuracy"], 4) if usable else 0.0)

    @leaderboard_column("seconds")
    def test_7_5_leaderboard_seconds(self, set_leaderboard_value=None):
        """Leaderboard: run_model() seconds"""
        limit = self.ctx.run_model_limit_s
        set_leaderboard_value(round(limit, 1))
        data = self.run_data()
        set_leaderboard_value(round(min(float(data["seconds"]), limit), 1))
