"""Child-side code: the functions that run inside a probe's child process (see grader/sandbox.py).

Copied into each child's scratch folder as the package ``grader.probes``; a module here may import
only the standard library, torch/torchvision/numpy, the canonical ``models`` and
``grader.probes.common`` (there is no mpconfig in the child: the parent passes values as args).
"""
