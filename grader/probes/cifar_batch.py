"""The one reader (and layout) of the MP's CIFAR-10 batch files, in the CIFAR-10 python format.

A batch file is a pickled dict, laid out as in the original CIFAR-10 archive:

    b'data'         a list of N numpy uint8 arrays of 3072 values each: the 1024 red values of
                    the 32x32 image row by row, then the 1024 green, then the 1024 blue
    b'labels'       a list of N ints
    b'filenames'    a list of N bytes
    b'batch_label'  bytes

A leaf (standard library and numpy) in grader/probes/, the only part of the project a probe gets;
the reference, the devtests and the grader's parent use it too.
"""
import pickle

import numpy as np

ROW_VALUES = 3 * 32 * 32


def unpickle(source):
    """The dict stored in a batch file, given its path or its bytes."""
    if isinstance(source, (bytes, bytearray)):
        return pickle.loads(source, encoding="bytes")
    with open(source, "rb") as f:
        return pickle.load(f, encoding="bytes")


def rows_and_labels(batch, name="batch"):
    """(uint8 (N, 3072) rows, int64 labels) of a batch dict; a ValueError naming `name` if malformed."""
    rows = np.asarray(batch[b"data"], dtype=np.uint8)
    labels = np.asarray(batch[b"labels"], dtype=np.int64)
    if rows.ndim != 2 or rows.shape[1] != ROW_VALUES or labels.shape != (len(rows),):
        raise ValueError(f"{name}: b'data' stacks to {rows.shape} with {labels.shape} labels; "
                         f"expected (N, {ROW_VALUES}) with N labels")
    return rows, labels


def read_batch(path):
    """(uint8 (N, 3072) rows, int64 (N,) labels) of one batch file."""
    return rows_and_labels(unpickle(path), str(path))


def make_batch(rows, labels, filenames, batch_label):
    """A batch dict in the layout above from (N, 3072) rows, N labels, N filenames and its label."""
    rows = np.ascontiguousarray(rows, dtype=np.uint8)
    return {b"batch_label": batch_label.encode(), b"labels": [int(v) for v in labels],
            b"data": list(rows), b"filenames": [f.encode() for f in filenames]}
