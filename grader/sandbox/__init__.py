"""Run student code in isolated child processes ("probes") that hand back plain data.

``run_probe(submission_dir, "module:function", args)`` copies the submission into a fresh scratch
folder with the canonical models.py, resnet18.pt, public data and the child side of the grader
(child.py, atomic_write.py, grader/probes/), then starts ``grader/child.py`` there: in its own
session, as an unprivileged probe user when the grader is root, in memory and pids cgroups where
cgroup v1 is writable, under rlimits, with a minimal environment and a wall-clock limit. Then
every process it left behind is killed, the answer is read with ``torch.load(weights_only=True)``
and the scratch folder removed.

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
