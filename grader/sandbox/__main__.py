"""python -m grader.sandbox prepare | startup: ready this machine (root), or time a probe's start."""
import argparse
import logging
import sys

import mpconfig as C
from grader.sandbox.box import startup_seconds
from grader.sandbox.machine import is_root, prepare


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m grader.sandbox",
                                     description="Ready this machine for probes, or time a probe's start-up.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("prepare", help="(root) create the probe users, make python reachable for them, "
                                   "close the grader's folder to them")
    startup = sub.add_parser("startup", help="median start-up seconds of a probe")
    startup.add_argument("--submission", default=str(C.REFERENCE_SOLUTION.parent))
    startup.add_argument("--repeats", type=int, default=3)
    opts = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if opts.command == "prepare":
        if not is_root():
            print("not root: nothing to prepare (probes run as this user, with weaker isolation)")
            return 0
        changes = prepare()
        print(f"sandbox ready: {C.PROBE_SLOTS} probe users, {len(changes)} change(s) made")
        return 0
    print(f"probe start-up (python + torch + import submitted), median of {opts.repeats}: "
          f"{startup_seconds(opts.submission, opts.repeats):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
