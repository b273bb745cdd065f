"""Child side of tests 5.x: the submission's train() on the grader's model, loader and optimizer."""
import torch
from torch import nn

import models
from grader.probes import fixtures
from grader.probes.common import CHECKPOINT, DATA_DIR, limited


def train_check(args):
    import submitted
    rows, labels = fixtures.read_batch(f"{DATA_DIR}/{args['file']}")
    first, n = args["first"], args["images"]
    net = fixtures.GraderNet(models.load_checkpoint(CHECKPOINT), args["seed"], lock_backbone_eval=True)
    loader = fixtures.labelled_loader(rows[first:first + n], labels[first:first + n], args["batch_size"])
    optimizer = torch.optim.SGD(net.head.parameters(), lr=args["lr"])
    before = fixtures.fingerprint(net.backbone)
    submitted.train(loader, net, nn.CrossEntropyLoss(), optimizer)
    after = fixtures.fingerprint(net.backbone)
    return {"weight": net.head.weight.detach().clone(), "bias": net.head.bias.detach().clone(),
            "backbone_changed": [b["name"] for a, b in zip(before, after) if a["digest"] != b["digest"]]}


PARTS = {"train": limited(train_check)}
