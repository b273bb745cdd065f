"""Child-side code: the functions that run inside a probe's child process (see grader/sandbox.py).

Copied into each child's scratch folder as ``grader.probes``; a module here may import only the
standard library, torch/torchvision/numpy, the canonical ``models`` and this package (no mpconfig:
the parent passes values as args). grader/probes/<part>.py is the child side of grader/suites/<part>.py.
"""
