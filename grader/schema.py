"""The building blocks of the probes' answer schemas, and the check against them.

A probe's answer is built inside the child, next to student code that can patch torch, numpy or
builtins, so the parent checks it against its probe's schema before a judge reads it: one that does
not fit fails that probe's tests as the submission's doing; a judge crashing on one that fits is a
grader bug. JSON Schema (jsonschema) plus the types "tensor" and "ints" (a list of ints, checked at
once), the keyword "floating" (a floating-point tensor), and arrays that may be tuples (torch.load).
"""
import jsonschema
import torch


def obj(required=None, optional=None, values=None):
    """A dict of exactly these keys (required ones present), or of any str keys whose values fit `values`."""
    if values is not None:
        return {"type": "object", "additionalProperties": values}
    props = dict(required or {}, **(optional or {}))
    return {"type": "object", "properties": props, "required": sorted(required or {}),
            "additionalProperties": False}


def array(items):
    return {"type": "array", "items": items}


def when(condition, then, otherwise):
    """`then` if the answer meets `condition`, else `otherwise`: errors from the branch it claims to be."""
    return {"if": condition, "then": then, "else": otherwise}


STR = {"type": "string"}
INT = {"type": "integer"}
NUM = {"type": "number"}
BOOL = {"type": "boolean"}
TENSOR = {"type": "tensor"}
NULL_INT = {"type": ["integer", "null"]}
NULL_NUM = {"type": ["number", "null"]}
STRS = array(STR)
INTS = {"type": "ints"}    # a list of ints, checked in one go: answers hold thousands
# grader.probes.common.describe: type, and shape/dtype of array-likes.
DESCRIBE = obj({"type": STR}, {"shape": INTS, "dtype": STR, "finite": BOOL})
# grader.probes.fixtures.fingerprint.
FINGERPRINT = array(obj({"name": STR, "kind": {"enum": ["param", "buffer"]}, "shape": INTS,
                         "dtype": STR, "digest": STR, "requires_grad": BOOL}))
IMAGE = {"type": ["tensor", "null"]}   # not oneOf: its failing branch would repr the tensor


def guarded(value):
    """What grader.probes.common.guard returns: the student-facing error, or the value."""
    return when({"type": "object", "required": ["error"]}, obj({"error": STR}), obj({"value": value}))


def is_module(key):
    """The condition: answer[key] is a guarded value whose is_module is True."""
    return {"type": "object", "required": [key], "properties": {key: {
        "type": "object", "required": ["value"], "properties": {"value": {
            "type": "object", "required": ["is_module"], "properties": {"is_module": {"const": True}}}}}}}


_TYPES = jsonschema.Draft202012Validator.TYPE_CHECKER.redefine_many({
    "tensor": lambda _, x: isinstance(x, torch.Tensor),
    "array": lambda _, x: isinstance(x, (list, tuple)),
    "ints": lambda _, x: isinstance(x, (list, tuple)) and all(type(v) is int for v in x),
})


def _floating(validator, wanted, instance, schema):
    if wanted and isinstance(instance, torch.Tensor) and not instance.is_floating_point():
        yield jsonschema.ValidationError(f"a {instance.dtype} tensor, not a floating-point one")


Validator = jsonschema.validators.extend(jsonschema.Draft202012Validator, {"floating": _floating},
                                         type_checker=_TYPES)


def problem(validator, data):
    """None when `data` fits the validator's schema; else where and how it does not."""
    error = jsonschema.exceptions.best_match(validator.iter_errors(data))
    if error is None:
        return None
    where = "answer" + "".join(f"[{p!r}]" for p in error.absolute_path)
    return f"{where}: {error.message[:300]}"
