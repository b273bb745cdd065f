"""Child-side code: the functions that run inside a probe's child process (see grader/sandbox.py).

Copied into each child's scratch folder as the package ``grader.probes``; a module here may import
only the standard library, torch/torchvision/numpy, the canonical ``models`` and the other modules
of this package (there is no mpconfig in the child: the parent passes values as args). A check's
child side, grader/probes/<part>.py, sits beside its parent side, grader/suites/<part>.py.
"""
