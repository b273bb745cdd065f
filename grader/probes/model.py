"""Child side of tests 3.x: FinetuneNet()'s tensors, outputs and gradients."""
import torch
import torch.nn.functional as F
from torch import nn

from grader.probes import fixtures
from grader.probes.common import DATA_DIR, describe, guard
from grader.probes.timelimit import time_limited


def model_build(args):
    import submitted
    net = submitted.FinetuneNet()
    if not isinstance(net, nn.Module):
        return {"is_module": False, "describe": describe(net)}
    return {"is_module": True, "net": net, "fingerprint": fixtures.fingerprint(net)}


def model_outputs(net, args):
    net.eval()
    out = []
    with torch.no_grad():
        for x in fixtures.model_inputs(args["batch_sizes"], args["seed"]):
            y = net(x)
            d = describe(y)
            if isinstance(y, torch.Tensor) and y.is_floating_point():
                d["finite"] = bool(torch.isfinite(y).all())
            out.append({"n": x.shape[0], "output": d})
    return out


def model_gradients(net, args):
    rows, labels = fixtures.read_batch(f"{DATA_DIR}/{args['file']}")
    n = args["images"]
    x, y = fixtures.rows_to_tensor(rows[:n]), torch.as_tensor(labels[:n])
    net.train()
    net.zero_grad(set_to_none=True)
    F.cross_entropy(net(x), y).backward()
    grads = {}
    for name, p in net.named_parameters():
        g = p.grad
        if g is None:
            grads[name] = "none"
        elif not bool(torch.isfinite(g).all()):
            grads[name] = "nonfinite"
        elif bool((g == 0).all()):
            grads[name] = "zero"
        else:
            grads[name] = "nonzero"
    return grads


def model_checks(args, limit):
    """Build, then outputs and gradients of the built Module, each guarded and time-limited on its own."""
    built = guard(time_limited, limit, model_build, args)
    if "error" in built or not built["value"]["is_module"]:
        return {"value": {"build": built}}
    net = built["value"].pop("net")
    return {"value": {"build": built,
                      "outputs": guard(time_limited, limit, model_outputs, net, args),
                      "gradients": guard(time_limited, limit, model_gradients, net, args)}}


PARTS = {"model": model_checks}
