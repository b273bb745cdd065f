"""The catalogue: submissions `python -m grader validate` grades to check the grader itself.

Every entry is one small module, ``grader/catalogue/<kind>/<name>.py``: the reference solution
(reference/submitted.py) with a few edits, kept as a recipe rather than a copy, so that a
change to the reference reaches every entry and a recipe whose text is gone fails loudly.

    \"\"\"train() never zeroes the gradients\"\"\"        # one line: the description
    from grader.catalogue.shared import points

    EXPECTED = {"must_fail": ["5.1"], "min_lost": points("5.1")}   # what its grade must show
    EDITS = [("        optimizer.zero_grad()\\n", "")]             # (old, new), applied in order

Each ``old`` must occur exactly once in the text it is applied to (the reference after the edits
before it) and differ from its ``new``. The kinds, and what their EXPECTED says (validate's
judge reads it; no other key is allowed):

- variants/ (correct, another style):  {"score": 100}                    (percent of max)
  any kind, optionally:                {"run_model_limit_s": s}           (see below)
- mutants/ (one realistic bug):        {"must_fail": [test numbers], "must_fail_any": [...],
                                        "min_lost": points, "max_lost": points, "times_out": bool}
- hostile/ (attacks the grader):       {"max_points": p, "min_points": p, "times_out": bool,
                                        "output_has": [...], "output_lacks": [...]}

validate grades every entry with run_model's limit shortened to mpconfig.VALIDATE_RUN_MODEL_LIMIT_S
s (before scaling by the machine's speed); an entry that trains longer by design (batch size 4)
names its own, and validate grades it first, whatever its budget.

Adding an entry is adding one module (its file name is its name, unique across the kinds);
shared.py holds the reference texts and helpers several recipes use (``at_import``,
``points``). ``entries()`` lists the entries, ``entry.build(folder)`` writes an entry's
submission folder, and ``python -m grader validate --keep DIR`` writes out every graded file.
Check a new entry with ``pytest devtests/test_validate.py -k recipe`` (fast: every recipe applies)
and ``python -m grader validate --only NAME`` (grades it).
"""
import importlib
import pkgutil
from dataclasses import dataclass
from pathlib import Path

import mpconfig as C

HERE = Path(__file__).resolve().parent
KINDS = ("variants", "mutants", "hostile")
EXPECTATION_KEYS = frozenset({"score", "must_fail", "must_fail_any", "min_lost", "max_lost",
                              "max_points", "min_points", "times_out", "output_has", "output_lacks",
                              "run_model_limit_s"})


class RecipeError(ValueError):
    """A catalogue module that is malformed, or whose edits no longer apply to the reference."""


@dataclass(frozen=True)
class Entry:
    kind: str                     # "reference" or one of KINDS
    name: str
    description: str
    expected: dict
    edits: tuple = ()             # (old, new) pairs

    @property
    def label(self):
        return self.name if self.kind == "reference" else f"{self.kind}/{self.name}"

    def source(self, reference=None):
        """This entry's submitted.py: the reference text with the edits applied in order."""
        original = text = C.REFERENCE_SOLUTION.read_text() if reference is None else reference
        where = C.REFERENCE_SOLUTION.relative_to(C.ROOT)
        for number, (old, new) in enumerate(self.edits, 1):
            count = text.count(old)
            if count != 1:
                raise RecipeError(f"catalogue {self.label}, edit {number}: the text to change occurs "
                                  f"{count} times in {where} after the edits before it "
                                  f"(needs exactly 1):\n{old}")
            if old == new:
                raise RecipeError(f"catalogue {self.label}, edit {number}: changes nothing")
            text = text.replace(old, new)
        if self.kind != "reference" and text == original:
            raise RecipeError(f"catalogue {self.label}: its edits leave {where} unchanged")
        return text

    def build(self, folder, reference=None):
        """Write the submission folder (only submitted.py, what a student uploads); returns it."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "submitted.py").write_text(self.source(reference))
        return folder


REFERENCE = Entry("reference", "reference", "the reference solution", {"score": 100})


def _entry(kind, module):
    """The Entry a recipe module declares, or a RecipeError naming the module."""
    name = module.__name__.rsplit(".", 1)[1]
    where = f"catalogue {kind}/{name} ({module.__file__})"
    description = (module.__doc__ or "").strip()
    if not description or "\n" in description:
        raise RecipeError(f"{where}: needs a one-line docstring that describes the submission")
    expected = getattr(module, "EXPECTED", None)
    if not isinstance(expected, dict) or not expected:
        raise RecipeError(f"{where}: needs EXPECTED, a non-empty dict")
    unknown = set(expected) - EXPECTATION_KEYS
    if unknown:
        raise RecipeError(f"{where}: EXPECTED has unknown keys {sorted(unknown)} "
                          f"(known: {sorted(EXPECTATION_KEYS)})")
    edits = getattr(module, "EDITS", None)
    if not (isinstance(edits, (list, tuple)) and edits and all(
            isinstance(e, tuple) and len(e) == 2 and all(isinstance(s, str) for s in e) for e in edits)):
        raise RecipeError(f"{where}: needs EDITS, a non-empty list of (old, new) string pairs")
    return Entry(kind, name, description, expected, tuple(edits))


def entries():
    """Every catalogue entry (the reference itself is REFERENCE), kind by kind, by name."""
    found, seen = [], {}
    for kind in KINDS:
        for info in sorted(pkgutil.iter_modules([str(HERE / kind)]), key=lambda m: m.name):
            entry = _entry(kind, importlib.import_module(f"{__name__}.{kind}.{info.name}"))
            if entry.name in seen or entry.name == REFERENCE.name:   # validate --only NAME
                taken = seen.get(entry.name, "the reference")
                raise RecipeError(f"catalogue {entry.label}: the name is taken by {taken}")
            seen[entry.name] = entry.label
            found.append(entry)
    return found
