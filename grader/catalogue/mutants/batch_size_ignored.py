"""build_dataloader hard-codes batch_size=64"""
from grader.catalogue.shared import points

EXPECTED = {"must_fail": ["2.1"], "min_lost": points("2.1")}
EDITS = [
    ("    return DataLoader(dataset, **loader_params)\n",
     '    return DataLoader(dataset, batch_size=64, shuffle=loader_params["shuffle"])\n'),
]
