"""How a probe ended, in the words a student reads (time-out, memory, signal, refused answer...)."""
import signal

import mpconfig as C
from grader.processes import signal_name

SIGNAL_HINTS = {
    signal.SIGXFSZ: f"it wrote a file larger than the {C.PROBE_MAX_FILE_MB} MB limit",
    signal.SIGSEGV: "a crash in native code",
    signal.SIGBUS: "a crash in native code",
    signal.SIGFPE: "an arithmetic fault in native code",
}
MEMORY_WORDS = ("std::bad_alloc", "Cannot allocate memory", "can't allocate memory")


def memory_message(memory_mb):
    """What a student reads when the probe hit its memory cap (the child words it the same way)."""
    return (f"ran out of memory at {memory_mb:g} MB, the limit for your code on this grading "
            "machine: look for data kept in memory that need not be (whole datasets as float "
            "tensors, lists of every batch's outputs, a growing list of losses with their graphs)")


def verdict(probe, returncode, timed_out, oom, output, payload, problem, timeout, memory_mb):
    """(ok, data, error) from how the child ended, its output and its answer (payload) or why refused."""
    if timed_out:
        return False, {}, (f"timed out after {timeout:g} s: your code took longer than the time "
                           f"limit ({timeout:g} s) in {probe}")
    if payload is not None and payload["ok"]:
        return True, payload["data"], ""
    if oom or (returncode < 0 and any(w in output for w in MEMORY_WORDS)):
        detail = payload["error"] if payload is not None else ""
        if detail.startswith("ran out of memory"):
            return False, {}, detail
        return False, {}, memory_message(memory_mb) + (f"\n{detail}" if detail else "")
    if returncode < 0:
        name = signal_name(-returncode)
        hint = SIGNAL_HINTS.get(-returncode)
        return False, {}, f"killed by signal {name}" + (f" ({hint})" if hint else "")
    if problem:
        return False, {}, f"the grader could not use what your code's process returned: {problem}"
    if payload is None:
        return False, {}, (f"exited with code {returncode} before returning (os._exit / sys.exit?): "
                           "the grader got no answer; do not call sys.exit, os._exit or quit in submitted.py")
    return False, {}, payload["error"]
