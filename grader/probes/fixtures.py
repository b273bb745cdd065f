"""The grader's own inputs to a submission's functions, built the same way in both processes.

The child feeds them to the student's code, the parent to the reference; everything is
deterministic, so both build bit-identical tensors. Runs in the child too: it imports only torch,
numpy, the canonical models.py and the standard library.
"""
import hashlib
import pickle

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

import models
from grader.probes.cifar_batch import read_batch  # noqa: F401  (re-exported: the one batch reader)

NUM_CLASSES = 8
FEATURES = 512


def rows_to_tensor(rows):
    """What transforms.ToTensor() makes of each image, bit for bit: (N, 3, 32, 32) in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(np.asarray(rows).reshape(-1, 3, 32, 32))).float().div(255)


def cifar_batch_bytes(rows, labels, batch_label):
    """A CIFAR pickle batch file; placeholder filenames (the hidden images' real ones name their class)."""
    batch = {b"batch_label": batch_label.encode(),
             b"labels": [int(v) for v in labels],
             b"data": list(np.ascontiguousarray(rows, dtype=np.uint8)),   # the original layout
             b"filenames": [f"image_{i:05d}.png".encode() for i in range(len(labels))]}
    return pickle.dumps(batch, protocol=4)


class GraderNet(nn.Module):
    """The frozen backbone with a fixed Linear(512, 8) head, given to train() and test(); with
    lock_backbone_eval its batch norm stays in eval mode, so model.eval() or .train() change nothing."""

    def __init__(self, checkpoint_state, head_seed, lock_backbone_eval):
        super().__init__()
        self.lock_backbone_eval = lock_backbone_eval
        self.backbone = models.resnet18(num_classes=10)
        self.backbone.load_state_dict(checkpoint_state)
        self.backbone.fc = nn.Identity()
        for p in self.backbone.parameters():
            p.requires_grad = False
        self.head = nn.Linear(FEATURES, NUM_CLASSES)
        gen = torch.Generator().manual_seed(head_seed)
        with torch.no_grad():
            # Large enough for a non-trivial accuracy spread, small enough for sane losses.
            self.head.weight.copy_(torch.randn(NUM_CLASSES, FEATURES, generator=gen) * 0.05)
            self.head.bias.copy_(torch.randn(NUM_CLASSES, generator=gen) * 0.05)
        if lock_backbone_eval:
            self.backbone.eval()

    def train(self, mode=True):
        super().train(mode)
        if self.lock_backbone_eval:
            self.backbone.eval()
        return self

    def forward(self, x):
        return self.head(self.backbone(x))


def labelled_loader(rows, labels, batch_size):
    """An unshuffled loader of (ToTensor images, int64 labels)."""
    return DataLoader(TensorDataset(rows_to_tensor(rows), torch.as_tensor(labels, dtype=torch.int64)),
                      batch_size=batch_size, shuffle=False)


class IndexDataset(Dataset):
    """n items (i, 0): what a loader returns shows exactly which items it took, in which order."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return i, 0


def model_inputs(sizes, seed):
    """Random (N, 3, 32, 32) images in [0, 1], one batch per N."""
    gen = torch.Generator().manual_seed(seed)
    return [torch.rand(n, 3, 32, 32, generator=gen) for n in sizes]


def tensor_digest(t):
    """SHA-256 of dtype, shape and raw bytes: equal digests mean bit-identical tensors."""
    t = t.detach().cpu().contiguous()
    h = hashlib.sha256(f"{t.dtype}|{tuple(t.shape)}|".encode())
    h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def fingerprint(module):
    """Every parameter and buffer of a module: name, kind, shape, dtype, digest, requires_grad."""
    out = []
    for kind, named in (("param", module.named_parameters()), ("buffer", module.named_buffers())):
        for name, t in named:
            out.append({"name": name, "kind": kind, "shape": list(t.shape), "dtype": str(t.dtype),
                        "digest": tensor_digest(t), "requires_grad": bool(t.requires_grad)})
    return out


