"""The shape of each probe's answer, checked where the parent receives it.

A probe's answer is built by grader code, but inside the child, next to student code that can
patch torch, numpy or builtins. So the parent checks every answer against the schema below before
any judge reads it: an answer that does not fit fails that probe's tests as the submission's
doing, naming where it went wrong; an answer that fits is one the judges must handle. A judge
that still crashes on it is a grader bug and shows as one.

The schemas are JSON Schema (checked by jsonschema) with two extra types, "tensor" and "ints" (a
list of ints, checked at once rather than item by item), one extra keyword, "floating" (a
floating-point tensor), and arrays that may also be tuples (torch.load gives tuples back as such).
"""
import jsonschema
import torch

import mpconfig as C
from grader.context import FUNCTIONS_PROBE, IMPORT_PROBE, RUN_MODEL_PROBE


def _obj(required=None, optional=None, values=None):
    """A dict with exactly these keys (all required ones present), or with any str keys whose
    values fit `values`."""
    if values is not None:
        return {"type": "object", "additionalProperties": values}
    props = dict(required or {}, **(optional or {}))
    return {"type": "object", "properties": props, "required": sorted(required or {}),
            "additionalProperties": False}


def _array(items):
    return {"type": "array", "items": items}


def _when(condition, then, otherwise):
    """`then` if the answer meets `condition`, else `otherwise`: unlike oneOf, errors then come
    from the branch the answer claims to be, which makes their messages to the point."""
    return {"if": condition, "then": then, "else": otherwise}


def _guarded(value):
    """What grader.probes.common.guard returns: the student-facing error, or the value."""
    return _when({"type": "object", "required": ["error"]}, _obj({"error": STR}), _obj({"value": value}))


def _is_module(key):
    """The condition: answer[key] is a guarded value whose is_module is True."""
    return {"type": "object", "required": [key], "properties": {key: {
        "type": "object", "required": ["value"], "properties": {"value": {
            "type": "object", "required": ["is_module"], "properties": {"is_module": {"const": True}}}}}}}


STR = {"type": "string"}
INT = {"type": "integer"}
NUM = {"type": "number"}
BOOL = {"type": "boolean"}
TENSOR = {"type": "tensor"}
NULL_INT = {"type": ["integer", "null"]}
NULL_NUM = {"type": ["number", "null"]}
STRS = _array(STR)
INTS = {"type": "ints"}    # a list of ints, checked in one go: answers hold thousands
DESCRIBE = _obj({"type": STR}, {"shape": INTS, "dtype": STR, "finite": BOOL})
FINGERPRINT = _array(_obj({"name": STR, "kind": {"enum": ["param", "buffer"]}, "shape": INTS,
                           "dtype": STR, "digest": STR, "requires_grad": BOOL}))
IMAGE = {"type": ["tensor", "null"]}   # not oneOf: its failing branch would repr the tensor

FUNCTIONS = _obj({
    "dataset_lengths": _guarded(_obj({"single_length": INT, "length": INT, "labels": INTS})),
    "dataset_items": _guarded(_obj({
        "raw": _array(_obj({"describe": DESCRIBE, "label": NULL_INT, "label_describe": DESCRIBE,
                            "image": IMAGE})),
        "tensor": _array(_obj({"describe": DESCRIBE, "label": NULL_INT, "image": IMAGE}))})),
    "dataset_transforms": _guarded(_obj({
        "cifar10": _array(_obj({"marked": BOOL, "image_describe": DESCRIBE, "label": NULL_INT})),
        "build_dataset": _obj({"length": INT, "marked": _array(BOOL),
                               "labels": _array(NULL_INT)})})),
    "loader_cases": _guarded(_array(_guarded(_array(INTS)))),
    "loader_real": _guarded(_when(
        {"type": "object", "required": ["images"]},
        _obj({"batch": DESCRIBE, "dataset_length": INT, "loader_length": INT, "images": DESCRIBE,
              "labels": DESCRIBE, "label_values": {"type": ["array", "null"], "items": NUM}}),
        _obj({"batch": DESCRIBE}))),    # the first batch was not a pair: nothing else measured
    "train": _guarded(_obj({"weight": TENSOR, "bias": TENSOR, "backbone_changed": STRS})),
    "test": _guarded(_array(_obj({"batch_size": INT, "describe": DESCRIBE, "value": NULL_NUM,
                                  "changed": STRS}))),
    "model": _obj({"value": _when(
        _is_module("build"),
        _obj({"build": _obj({"value": _obj({"is_module": BOOL, "fingerprint": FINGERPRINT})}),
              "outputs": _guarded(_array(_obj({"n": INT, "output": DESCRIBE}))),
              "gradients": _guarded(_obj(values={"enum": ["none", "nonfinite", "zero", "nonzero"]}))}),
        # FinetuneNet() raised or made no Module: nothing else measured
        _obj({"build": _guarded(_obj({"is_module": BOOL, "describe": DESCRIBE}))}))}),
    "optimizer": _obj({"value": _obj({name: _guarded(_obj({
        "describe": DESCRIBE, "is_optimizer": BOOL, "given": INT,
        "groups": _array(_obj({"lr": NULL_NUM, "params": INTS}))})) for name in C.OPTIMIZER_CHECK_LR})}),
})

RUN = _guarded(_obj({"type": STR, "is_module": BOOL}))
RUN_MODEL = _when(
    _is_module("run"),
    _obj({"seconds": NUM, "run": RUN, "fingerprint": FINGERPRINT,
          "buffers": _obj(values={"type": "tensor", "floating": True}),
          "preprocess": {"oneOf": [_obj({"fallback": STR}), _obj({"submission": {"const": True}})]},
          "evaluation": _guarded(_obj({"logits": TENSOR, "flip_logits": TENSOR}))}),
    _obj({"seconds": NUM, "run": RUN}))   # run_model() raised or returned no Module

IMPORT = _obj({"seconds": NUM, "names": _obj(values=STR), "signatures": _obj(values=STR),
               "bases": _obj(values=STRS)})

TAMPERING = "Does submitted.py change torch, numpy or Python's builtins? It must not."

SCHEMAS = {IMPORT_PROBE: IMPORT, FUNCTIONS_PROBE: FUNCTIONS, RUN_MODEL_PROBE: RUN_MODEL}

_TYPES = jsonschema.Draft202012Validator.TYPE_CHECKER.redefine_many({
    "tensor": lambda _, x: isinstance(x, torch.Tensor),
    "array": lambda _, x: isinstance(x, (list, tuple)),
    "ints": lambda _, x: isinstance(x, (list, tuple)) and all(type(v) is int for v in x),
})


def _floating(validator, wanted, instance, schema):
    if wanted and isinstance(instance, torch.Tensor) and not instance.is_floating_point():
        yield jsonschema.ValidationError(f"a {instance.dtype} tensor, not a floating-point one")


_Validator = jsonschema.validators.extend(jsonschema.Draft202012Validator, {"floating": _floating},
                                          type_checker=_TYPES)
_VALIDATORS = {name: _Validator(schema) for name, schema in SCHEMAS.items()}


def problem(probe, data):
    """None when `data` fits the schema of `probe`'s answer; else where and how it does not."""
    error = jsonschema.exceptions.best_match(_VALIDATORS[probe].iter_errors(data))
    if error is None:
        return None
    where = "answer" + "".join(f"[{p!r}]" for p in error.absolute_path)
    return f"{where}: {error.message[:300]}"
