"""A time limit on one call inside the child, so a hanging part costs only its own tests.

SIGALRM interrupts Python code; a call stuck in one long C operation meets the child's wall clock.
"""
import signal


class PartTimeout(Exception):
    """The call ran past its limit."""


def time_limited(seconds, fn, *args):
    """fn(*args), interrupted by PartTimeout after `seconds` of wall time."""
    def on_alarm(signum, frame):
        raise PartTimeout(f"stopped after {seconds:g} s: an endless loop, or far too slow?")
    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return fn(*args)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
