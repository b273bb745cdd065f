"""Child side of test 7: run the submission's run_model(), then score its model on hidden images.

The hidden images come as a batch file with placeholder labels: the labels stay in the parent, which
scores the logits returned here. The images go through the submission's own build_dataset and "test"
transform, and also mirrored, so the parent can spot a lookup table of memorised images.
"""
import os
import random
import time

import numpy as np
import torch
from torch import nn

from grader.probes import fixtures
from grader.probes.common import guard
from grader.probes.timelimit import time_limited


def _seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _call_run_model():
    import submitted
    return submitted.run_model()


def _submission_dataset(path, expected):
    """The hidden images through the submission's dataset and "test" transform (item 0 fetched now: fail early)."""
    import submitted
    dataset = submitted.build_dataset([path], transform=submitted.get_preprocess_transform("test"))
    if len(dataset) != expected:
        raise ValueError(f"build_dataset([...]) on a file of {expected} images has length {len(dataset)}")
    _image(dataset, 0)
    return dataset


def _image(dataset, i):
    item = dataset[i]
    image = item[0] if isinstance(item, (tuple, list)) else item
    if not isinstance(image, torch.Tensor) or not image.is_floating_point():
        raise TypeError(f"item {i} of the dataset holds a {type(image).__name__}, not a float tensor")
    return image


def _evaluate(model, dataset, count, flip_count, batch_size):
    """Logits in index order, batch by batch, and those of the first flip_count images mirrored."""
    model.eval()
    logits, flip_logits = [], []
    with torch.no_grad():
        for start in range(0, count, batch_size):
            images = torch.stack([_image(dataset, i) for i in range(start, min(count, start + batch_size))])
            logits.append(_as_logits(model(images)))
            if start < flip_count:
                flip_logits.append(_as_logits(model(images[:flip_count - start].flip(-1))))
    return {"logits": torch.cat(logits), "flip_logits": torch.cat(flip_logits)}


def _as_logits(y):
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"the model returned a {type(y).__name__}, not a tensor")
    return y.detach().float().cpu()


def probe(args):
    """args: seed, time_limit (s), hidden_file, images, flip_images (also scored mirrored), batch_size."""
    # The hidden images stay out of run_model()'s sight: read, removed, written back once it trained.
    home = os.getcwd()
    path = os.path.join(home, args["hidden_file"])
    with open(path, "rb") as f:
        hidden = f.read()
    os.remove(path)
    _seed_everything(args["seed"])
    start = time.perf_counter()
    run = guard(time_limited, args["time_limit"], _call_run_model)
    seconds = time.perf_counter() - start
    out = {"seconds": seconds}
    if "error" in run:
        out["run"] = {"error": run["error"]}
        return out
    model = run["value"]
    out["run"] = {"value": {"type": f"{type(model).__module__}.{type(model).__qualname__}",
                            "is_module": isinstance(model, nn.Module)}}
    if not isinstance(model, nn.Module):
        return out
    out["fingerprint"] = fixtures.fingerprint(model)
    # Batch-norm running statistics are small: sent whole so the parent can report any drift.
    out["buffers"] = {name: b.detach().clone() for name, b in model.named_buffers()
                      if b.is_floating_point() and b.numel() <= 4096}

    os.chdir(home)    # run_model() may have left it
    with open(path, "wb") as f:
        f.write(hidden)
    prepared = guard(_submission_dataset, path, args["images"])
    if "error" in prepared:
        rows, _ = fixtures.read_batch(path)
        dataset = fixtures.rows_to_tensor(rows)      # plain ToTensor, indexed like a dataset
        out["preprocess"] = {"fallback": prepared["error"]}
    else:
        dataset = prepared["value"]
        out["preprocess"] = {"submission": True}
    out["evaluation"] = guard(_evaluate, model, dataset, args["images"], args["flip_images"],
                              args["batch_size"])
    return out
