"""Run student code in isolated child processes ("probes") that hand back plain data.

``run_probe(submission_dir, "module:function", args)`` copies the submission into a fresh
scratch folder, adds the canonical models.py, resnet18.pt and public data, and the child side
of the grader (child.py, its leaf atomic_write.py and grader/probes/, nothing else), then starts ``grader/child.py``
there: in its own session, as a dedicated unprivileged user when the grader is root, inside
memory and pids cgroups where cgroup v1 is writable, under hard rlimits (address space, file
size, processes), with a minimal environment and a wall-clock limit. Afterwards every process
the probe left behind is killed (process group, cgroups, the probe user's uid or, when not
root, the per-probe environment token), the answer is read with
``torch.load(weights_only=True)`` and the scratch folder is removed.

One module per job:

    machine.py    readying a machine (root): the probe users and their slots, an interpreter
                  they can reach, the grader's files closed to them
    limits.py     the probe's limits: rlimits, thread counts, memory and pids cgroups (v1)
    box.py        the scratch box: laying it out, running the child, reading its answer
    leftovers.py  killing every process a probe left behind
    verdict.py    how a probe ended, in the words a student reads

``python -m grader.sandbox prepare`` readies a machine (root only; Gradescope's setup.sh calls
it). ``python -m grader.sandbox startup`` measures a probe's start-up cost.
"""
from grader.sandbox.box import ProbeResult, run_probe, startup_seconds
from grader.sandbox.machine import prepare

__all__ = ["ProbeResult", "run_probe", "startup_seconds", "prepare"]
