"""Run student code in isolated child processes ("probes") that hand back plain data.

``run_probe(submission_dir, "module:function", args)`` runs ``grader/child.py`` in a fresh scratch
copy of the submission (with the canonical files and the child side of the grader) under the
isolation docs/grading.md describes, kills whatever the probe left behind, reads its
answer with ``torch.load(weights_only=True)`` and removes the scratch folder.

    machine.py    readying a machine (root): probe users and slots, a reachable interpreter,
                  the grader's files closed to them
    limits.py     rlimits, thread counts, memory and pids cgroups (v1)
    box.py        the scratch box: laying it out, running the child, reading its answer
    leftovers.py  killing every process a probe left behind
    verdict.py    how a probe ended, in the words a student reads

``python -m grader.sandbox prepare`` readies a machine (root; Gradescope's setup.sh calls it);
``python -m grader.sandbox startup`` measures a probe's start-up cost.
"""
from grader.sandbox.box import ProbeResult, run_probe, startup_seconds
from grader.sandbox.machine import prepare

__all__ = ["ProbeResult", "run_probe", "startup_seconds", "prepare"]
