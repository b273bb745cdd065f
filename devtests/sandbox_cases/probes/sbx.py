"""Probe module for devtests/test_sandbox.py (run_probe(probe_dirs=[this folder]))."""
from collections import OrderedDict

import torch

from grader.probes.common import guard


def call(args):
    """Call submitted.<fn>(*args) unguarded: what it raises reaches child.py."""
    import submitted
    return {"value": getattr(submitted, args["fn"])(*args.get("args", []))}


def guarded(args):
    """Two parts, each guarded: one broken function must not hide the other."""
    import submitted
    return {"first": guard(getattr(submitted, args["fn"]), *args.get("args", [])),
            "second": guard(lambda: "still here")}


def echo(args):
    """Plain data of every kind, back to the parent."""
    return {"args": args, "tensor": torch.arange(6).reshape(2, 3),
            "state": OrderedDict(w=torch.ones(2, requires_grad=True)), "tuple": (1, 2.5, None),
            "files": {name: open(name, "rb").read() for name in args.get("read", [])}}


def not_plain(args):
    import submitted
    return {"thing": submitted.not_plain()}


def environment(args):
    """Who the child runs as, with what environment, limits and files."""
    import os
    import resource

    import torch
    limits = {name: list(resource.getrlimit(getattr(resource, name)))
              for name in ("RLIMIT_AS", "RLIMIT_FSIZE", "RLIMIT_NPROC", "RLIMIT_CORE")}
    return {"ids": list(os.getresuid()) + list(os.getresgid()), "groups": os.getgroups(),
            "env": dict(os.environ), "cwd": os.getcwd(), "listing": sorted(os.listdir(".")),
            "models_head": open("models.py").read(120), "limits": limits,
            "data_writable": os.access("cifar10_batches/test_batch", os.W_OK),
            "checkpoint_writable": os.access("resnet18.pt", os.W_OK),
            "torch_threads": torch.get_num_threads()}
