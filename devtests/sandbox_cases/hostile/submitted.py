"""A hostile stand-in submission for devtests/test_sandbox.py: one function per misbehaviour.

What it does at import time is chosen by the file import_mode.txt, which the tests write into
the scratch folder with run_probe(files=...). No torch import: these cases need none.
"""
import os
import signal
import sys
import time
from pathlib import Path

_mode = Path("import_mode.txt").read_text().strip() if Path("import_mode.txt").exists() else ""
if _mode == "loop":
    while True:
        pass
elif _mode == "exit":
    os._exit(0)
elif _mode == "raise":
    raise ValueError("broken at import")


def divide(a, b):
    return _helper(a, b)


def _helper(a, b):
    return a / b


def loop_forever():
    while True:
        pass


def hog_memory():
    """Touches every page (bytearray zero-fills), as real data would."""
    hoard = []
    while True:
        hoard.append(bytearray(32 << 20))


def hog_address_space(gigabytes):
    """One huge untouched allocation: refused at once under an address-space limit."""
    import torch
    return torch.empty(gigabytes << 30, dtype=torch.uint8).numel()


def fork_bomb():
    while True:
        try:
            os.fork()
        except OSError:
            time.sleep(0.01)


def print_lots(megabytes):
    line = "x" * 1023 + "\n"
    for _ in range(megabytes * 1024):
        sys.stdout.write(line)
    return megabytes


def exit_now(code):
    os._exit(code)


def call_sys_exit(code):
    sys.exit(code)


def interrupt():
    raise KeyboardInterrupt


def kill_parent():
    os.kill(os.getppid(), signal.SIGKILL)
    time.sleep(5)
    return "parent killed"


def daemon():
    """Double fork + setsid + an empty environment: escapes the process group and the token."""
    read, write = os.pipe()
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.write(write, str(os.getpid()).encode())
            os.execve("/bin/sleep", ["sleep", "600"], {})
        os._exit(0)
    os.close(write)
    pid = int(os.read(read, 32))
    os.wait()
    return pid


def read_files(paths):
    found = {}
    for path in paths:
        try:
            with open(path, "rb") as f:
                found[path] = f"read {len(f.read(64))} bytes"
        except OSError as exc:
            found[path] = type(exc).__name__
    return found


def write_files(paths):
    done = {}
    for path in paths:
        try:
            with open(path, "w") as f:
                f.write('{"score": 100}')
            done[path] = "written"
        except OSError as exc:
            done[path] = type(exc).__name__
    return done


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def forge_result(marker, torch_format):
    """Replace the grader's answer file with one that runs a command when unpickled, then leave.
    torch_format: a real torch.save zip (data.pkl inside), else a bare pickle."""
    import json
    import pickle
    control = json.loads(Path(sys.argv[1]).read_text())
    forged = {"ok": True, "data": {"x": _Payload(marker)}}
    if torch_format:
        import torch
        torch.save(forged, control["result_path"])
    else:
        with open(control["result_path"], "wb") as f:
            pickle.dump(forged, f)
    os._exit(0)


def not_plain():
    return _Payload("/nonexistent")


def connect(port):
    """Try to reach a TCP listener of the grader's machine; say what happened."""
    import socket
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            return "connected"
    except OSError as exc:
        return f"refused: {exc}"
