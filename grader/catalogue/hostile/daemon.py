"""leaves a double-forked daemon that ignores SIGTERM, otherwise correct"""
from grader.catalogue.shared import TOTAL, at_import

EXPECTED = {"max_points": TOTAL, "min_points": TOTAL}
EDITS = [
    ("import pickle\n", "import os\nimport pickle\nimport signal\nimport time\n"),
    at_import('''
def _daemon():
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            signal.signal(signal.SIGHUP, signal.SIG_IGN)
            os.closerange(0, 1024)
            while True:
                time.sleep(1)
        os._exit(0)
    os.wait()


_daemon()
'''),
]
