"""Tests 4.x: build_optimizer returns the asked optimizer, learning rate and parameters."""
import math

import torch

import mpconfig as C
from grader.protocol import FUNCTIONS_PROBE
from grader.schema import BOOL, DESCRIBE, INT, INTS, NULL_NUM, array, guarded, obj
from grader.suites.base import GradedCase, fmt, graded

PROBE = FUNCTIONS_PROBE
PART_SCHEMAS = {    # what grader/probes/optimizer.py answers
    "optimizer": obj({"value": obj({name: guarded(obj({
        "describe": DESCRIBE, "is_optimizer": BOOL, "given": INT,
        "groups": array(obj({"lr": NULL_NUM, "params": INTS}))})) for name in C.OPTIMIZER_CHECK_LR})}),
}
CLASSES = {"SGD": torch.optim.SGD, "Adam": torch.optim.Adam}


def class_path(cls):
    return f"{cls.__module__}.{cls.__qualname__}"


def prepare(k):
    cases = dict(C.OPTIMIZER_CHECK_LR)
    return {"optimizer": {"cases": cases}}, {
        "cases": {name: {"lr": lr, "class": class_path(CLASSES[name])} for name, lr in cases.items()}}


def judge_optimizer(name, result, want):
    call = f'build_optimizer("{name}", model.parameters(), {{"lr": {want["lr"]}}})'
    if not result["is_optimizer"]:
        return [f"{call} returned a {result['describe']['type']}; expected a torch.optim.{name}"]
    problems = []
    found = result["describe"]["type"]
    if found != want["class"]:
        problems.append(f"{call} returned a {found}; expected a torch.optim.{name}")
    lrs = [g["lr"] for g in result["groups"]]
    if not lrs or any(lr is None or not math.isclose(lr, want["lr"], rel_tol=1e-9) for lr in lrs):
        problems.append(f"{call} has learning rate(s) {[fmt(x) if x is not None else x for x in lrs]}; "
                        f"expected {want['lr']}, hparams[\"lr\"]")
    ids = sorted(i for g in result["groups"] for i in g["params"])
    # Compared without building range(given): a tampered answer could make it huge.
    if len(ids) != result["given"] or ids != list(range(len(ids))):
        problems.append(f"{call} does not optimise exactly the {result['given']} parameters it was "
                        "given (each once): pass model_params to the optimizer")
    return problems


class OptimizerChecks(GradedCase):
    def run_case(self, name):
        cases = self.part(PROBE, "optimizer", "build_optimizer")
        result = self.unwrap(cases[name], f'build_optimizer("{name}", ...)')
        want = self.ctx.expected("optimizer")["cases"][name]
        self.check(judge_optimizer(name, result, want),
                   f"ok: torch.optim.{name} with lr {want['lr']} over the given parameters")

    @graded("4.1")
    def test_4_1_sgd(self):
        """4.1 build_optimizer: SGD"""
        self.run_case("SGD")

    @graded("4.2")
    def test_4_2_adam(self):
        """4.2 build_optimizer: Adam"""
        self.run_case("Adam")
