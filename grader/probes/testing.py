"""Child side of tests 6.x: the submission's test() on the grader's models, two batch sizes."""
import numbers

import torch

import models
from grader.probes import fixtures
from grader.probes.common import CHECKPOINT, DATA_DIR, describe, limited


def _accuracy_value(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, torch.Tensor):
        return float(value.item()) if value.numel() == 1 else None
    return float(value) if isinstance(value, numbers.Real) else None


def _run_test(submitted, net, loader, watch):
    """test(loader, net) on net given in training mode: (its value, the names of the tensors it
    changed, gradients left behind included; [] unless watch: fingerprints cost seconds)."""
    net.train()
    net.zero_grad(set_to_none=True)
    before = fixtures.fingerprint(net) if watch else []
    value = submitted.test(loader, net)
    if not watch:
        return value, []
    after = fixtures.fingerprint(net)
    # Gradients left behind mean test() ran backward(): testing must not build them.
    grads = [f"{name}.grad" for name, p in net.named_parameters() if p.grad is not None]
    return value, [b["name"] for a, b in zip(before, after) if a["digest"] != b["digest"]] + grads


def test_check(args):
    """For each batch size, test() twice on a model in training mode. The value comes from a model
    whose output ignores its mode (6.1 judges the accuracy alone); the changes from one whose batch
    norm follows it (6.2: test() without eval() overwrites its running statistics)."""
    import submitted
    rows, labels = fixtures.read_batch(f"{DATA_DIR}/{args['file']}")
    first, n = args["first"], args["images"]
    checkpoint = models.load_checkpoint(CHECKPOINT)
    steady = fixtures.GraderNet(checkpoint, args["seed"], lock_backbone_eval=True)
    live = fixtures.GraderNet(checkpoint, args["seed"], lock_backbone_eval=False)
    out = []
    for batch_size in args["batch_sizes"]:
        loader = fixtures.labelled_loader(rows[first:first + n], labels[first:first + n], batch_size)
        value, _ = _run_test(submitted, steady, loader, watch=False)
        _, changed = _run_test(submitted, live, loader, watch=True)
        out.append({"batch_size": batch_size, "describe": describe(value),
                    "value": _accuracy_value(value), "changed": changed})
    return out


PARTS = {"test": limited(test_check)}
