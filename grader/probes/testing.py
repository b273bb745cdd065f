"""Child side of tests 6.x (grader/suites/testing.py): the submission's test() on the grader's
model, with two batch sizes."""
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


def test_check(args):
    import submitted
    rows, labels = fixtures.read_batch(f"{DATA_DIR}/{args['file']}")
    first, n = args["first"], args["images"]
    net = fixtures.GraderNet(models.load_checkpoint(CHECKPOINT), args["seed"], lock_backbone_eval=False)
    # Given in training mode, as after train(): test() must switch to eval mode (else batch norm
    # uses batch statistics and overwrites its running ones, which the fingerprint catches).
    net.train()
    out = []
    for batch_size in args["batch_sizes"]:
        loader = fixtures.labelled_loader(rows[first:first + n], labels[first:first + n], batch_size)
        net.zero_grad(set_to_none=True)
        before = fixtures.fingerprint(net)
        value = submitted.test(loader, net)
        after = fixtures.fingerprint(net)
        # Gradients left behind mean test() ran backward(): testing must not build them.
        grads = [f"{name}.grad" for name, p in net.named_parameters() if p.grad is not None]
        out.append({"batch_size": batch_size, "describe": describe(value),
                    "value": _accuracy_value(value),
                    "changed": [b["name"] for a, b in zip(before, after)
                                if a["digest"] != b["digest"]] + grads})
        net.train()
    return out


PARTS = {"test": limited(test_check)}
