"""Child side of tests 2.x: what build_dataloader gives for index datasets and the real data."""
import torch
from torch.utils.data import TensorDataset

from grader.probes import fixtures
from grader.probes.common import DATA_DIR, describe, guard, limited


def _first_field(batch):
    return batch[0] if isinstance(batch, (tuple, list)) else batch


def loader_case(length, batch_size, shuffle, seed):
    import submitted
    torch.manual_seed(seed)
    loader = submitted.build_dataloader(fixtures.IndexDataset(length),
                                        {"batch_size": batch_size, "shuffle": shuffle})
    batches = []
    for batch in loader:
        batches.append([int(v) for v in torch.as_tensor(_first_field(batch)).reshape(-1).tolist()])
    return batches


def loader_cases(args):
    # Guarded case by case: the parent reports the first case that fails and why.
    return [guard(loader_case, *case) for case in args["cases"]]


def loader_real(args):
    """The student's build_dataloader over the grader's own dataset of the file (ToTensor images,
    int labels): 2.2 judges the loader alone; the student's dataset is 1.x's business."""
    import submitted
    rows, labels = fixtures.read_batch(f"{DATA_DIR}/{args['file']}")
    dataset = TensorDataset(fixtures.rows_to_tensor(rows), torch.as_tensor(labels, dtype=torch.int64))
    loader = submitted.build_dataloader(dataset, {"batch_size": args["batch_size"], "shuffle": False})
    batch = next(iter(loader))
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        return {"batch": describe(batch)}
    images, labels = batch
    return {"batch": describe(batch), "dataset_length": len(dataset), "loader_length": len(loader),
            "images": describe(images), "labels": describe(labels),
            "label_values": torch.as_tensor(labels).reshape(-1).tolist()
            if isinstance(labels, torch.Tensor) else None}


PARTS = {"loader_cases": limited(loader_cases), "loader_real": limited(loader_real)}
