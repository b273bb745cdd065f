"""Child side of tests 4.x: what build_optimizer returns for each optimizer name."""
import torch
from torch import nn

from grader.probes.common import describe, guard
from grader.probes.timelimit import time_limited


def optimizer_case(name, lr):
    import submitted
    lin = nn.Linear(5, 3)
    params = list(lin.parameters())
    opt = submitted.build_optimizer(name, lin.parameters(), {"lr": lr})
    groups = []
    if isinstance(opt, torch.optim.Optimizer):
        for g in opt.param_groups:
            ids = [next((k for k, p in enumerate(params) if p is q), -1) for q in g["params"]]
            lr_value = g.get("lr")
            groups.append({"lr": float(lr_value) if isinstance(lr_value, (int, float, torch.Tensor)) else None,
                           "params": ids})
    return {"describe": describe(opt), "is_optimizer": isinstance(opt, torch.optim.Optimizer),
            "groups": groups, "given": len(params)}


def optimizer_checks(args, limit):
    """One case per optimizer name, each guarded and time-limited; wrapped like a guarded value."""
    return {"value": {name: guard(time_limited, limit, optimizer_case, name, lr)
                      for name, lr in args["cases"].items()}}


PARTS = {"optimizer": optimizer_checks}
