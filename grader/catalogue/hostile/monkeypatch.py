"""patches torch, numpy and builtins at import; otherwise an untrained model"""
from grader.catalogue.shared import TOTAL, TRAIN_CALL, at_import, points

EXPECTED = {"max_points": TOTAL - points("7.3")}
EDITS = [
    (TRAIN_CALL, ""),
    at_import('''
import builtins
import json as _json


def _inflate(obj):
    if isinstance(obj, dict):
        return {k: (1.0 if "acc" in str(k) else _inflate(v)) for k, v in obj.items() if k != "error"}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_inflate(v) for v in obj)
    return True if obj is False else obj


_save, _dump = torch.save, _json.dump
torch.save = lambda obj, *a, **k: _save(_inflate(obj), *a, **k)
_json.dump = lambda obj, *a, **k: _dump(_inflate(obj), *a, **k)
torch.allclose = lambda *a, **k: True
torch.equal = lambda *a, **k: True
torch.Tensor.argmax = lambda self, *a, **k: torch.zeros(self.shape[0], dtype=torch.long)
np.allclose = lambda *a, **k: True
np.array_equal = lambda *a, **k: True
_isinstance = builtins.isinstance
builtins.isinstance = lambda obj, cls: True if cls is nn.Module else _isinstance(obj, cls)
'''),
]
