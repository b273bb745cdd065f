"""build_dataloader ignores shuffle"""
from grader.catalogue.shared import points

EXPECTED = {"must_fail": ["2.1"], "min_lost": points("2.1")}
EDITS = [
    ("    return DataLoader(dataset, **loader_params)\n",
     '    return DataLoader(dataset, batch_size=loader_params["batch_size"])\n'),
]
