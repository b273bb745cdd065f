"""Child side of tests 1-6: call the submission's functions on the grader's inputs, return facts.

One probe for all the cheap checks (each child costs seconds of start-up). Each part's PARTS in
grader/probes/<part>.py map answer keys to part(args, limit) functions that guard themselves, so a
function that raises or hangs costs only its own tests. Nothing is judged here.
"""
import importlib
import os


def probe(args):
    """args: part_timeout (s), and parts: {module: {answer key: args}}, in the order to run them."""
    limit = args["part_timeout"]
    home = os.getcwd()    # each part starts here, whatever directory a previous one left
    # Every part's module is imported before the first part imports the submission.
    modules = {name: importlib.import_module(f"grader.probes.{name}") for name in args["parts"]}
    out = {}
    for name, parts in args["parts"].items():
        for key, part_args in parts.items():
            os.chdir(home)
            out[key] = modules[name].PARTS[key](part_args, limit)
    os.chdir(home)
    return out
