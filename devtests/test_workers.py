"""grader/workers.py and grader/processes.py: the grading workers' process handling. Each worker
is charged only its own leftovers, nothing outlives a stopped worker or a killed driver, probes
share the cores out, and leftover processes are found, killed and reaped."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil

import mpconfig as C
from grader import processes as P
from grader import workers as W


def test_leftover_processes_finds_a_double_forked_daemon():
    """As the subreaper, validate sees (and kills) a daemon that init would otherwise adopt."""
    script = textwrap.dedent("""
        import os, sys, time, psutil
        sys.path.insert(0, %r)
        from grader import processes as P, workers as W
        assert W.set_subreaper()
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(60)
            os._exit(0)
        time.sleep(0.5)
        found = P.leftover_processes(psutil.Process(), wait_s=0.5)
        print(len(found), len(P.leftover_processes(psutil.Process(), wait_s=0.1)))
    """ % str(C.ROOT))
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["1", "0"], out.stderr


def test_a_process_an_excluded_worker_starts_meanwhile_is_not_blamed(monkeypatch):
    """validate sweeps after one entry while the other worker starts its next probe: a probe
    started while the sweep reads the process tree belongs to that worker, not to the entry.
    The sweep's root is a process of its own, so that nothing else of pytest's is swept."""
    worker = textwrap.dedent("""
        import signal, subprocess, time
        signal.signal(signal.SIGUSR1, lambda *_: subprocess.Popen(["sleep", "60"]))
        print("ready", flush=True)
        time.sleep(60)""")
    root = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import subprocess, sys, time
        print(subprocess.Popen([sys.executable, "-c", sys.argv[1]]).pid, flush=True)
        time.sleep(60)"""), worker], stdout=subprocess.PIPE, text=True)
    worker_pid = int(root.stdout.readline())
    assert root.stdout.readline() == "ready\n"
    real = P.descendants

    def read_while_the_worker_starts_a_probe(proc=None):
        os.kill(worker_pid, signal.SIGUSR1)
        while not psutil.Process(worker_pid).children():
            time.sleep(0.01)
        return real(proc)
    monkeypatch.setattr(P, "descendants", read_while_the_worker_starts_a_probe)
    try:
        assert P.leftover_processes(psutil.Process(root.pid), exclude=(worker_pid,), wait_s=0) == []
    finally:
        monkeypatch.undo()
        P.kill_tree(root.pid)
        root.kill()
        root.wait()


FAKE_WORKER = textwrap.dedent("""
    import os, subprocess, sys, time
    sys.path.insert(0, %r)
    from grader import processes as P, workers as W
    assert W.split_reaper()
    if sys.argv[1] == "leak" and os.fork() == 0:     # a double-forked daemon
        os.setsid()
        if os.fork() == 0:
            time.sleep(60)
        os._exit(0)
    probe = subprocess.Popen(["sleep", "60"], start_new_session=True)   # like a sandbox probe
    print(os.getpid(), probe.pid, flush=True)
    sys.stdin.read()
""" % str(C.ROOT))


def _fake_worker(mode):
    """A process split like the grading workers; returns (Worker, the probe-like child's pid)."""
    w = W.Worker(None, None)
    w.proc = subprocess.Popen([sys.executable, "-c", FAKE_WORKER, mode], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, start_new_session=True)
    w.grading_pid, probe = map(int, w.proc.stdout.readline().split())
    return w, probe


def _gone(pid, wait_s=3.0):
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def test_each_worker_is_charged_only_its_own_orphans_and_stop_leaves_nothing():
    """Two fake workers: the daemon one grade orphans lands under its own worker's reaper, so
    another worker's sweep (several --jobs) does not take the blame; stop() also kills what
    runs in a session of its own under the worker."""
    workers = []
    try:
        (clean, _), (leak, probe) = [_fake_worker(m) for m in ("clean", "leak")]
        workers = [clean, leak]
        time.sleep(0.5)  # the daemon's parent has exited: it is an orphan now
        assert clean.orphans() == []
        assert len(leak.orphans()) == 1
        assert leak.orphans() == []
        assert psutil.Process(leak.grading_pid).is_running()  # the grading half is spared
        leak.stop()
        assert _gone(probe), "Worker.stop() left the probe-like process running"
    finally:
        for w in workers:
            w.stop()


def test_parallel_probes_share_the_cores_out(monkeypatch):
    monkeypatch.setattr(C, "PROBE_THREADS", 2)
    monkeypatch.setattr(W.os, "cpu_count", lambda: 2)
    assert [W.probe_threads(j) for j in (1, 2, 3)] == [2, 1, 1]
    monkeypatch.setattr(W.os, "cpu_count", lambda: 8)
    assert [W.probe_threads(j) for j in (1, 4, 8)] == [2, 2, 1]   # never above production's
    monkeypatch.setattr(W.os, "cpu_count", lambda: None)
    assert W.probe_threads(2) == 1


def test_a_worker_dies_with_whoever_started_it():
    """validate killed outright (no finally): its workers and their probes must not run on."""
    starter = textwrap.dedent("""
        import subprocess, sys
        w = subprocess.Popen([sys.executable, "-c", sys.argv[1], "clean"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, start_new_session=True)
        print(w.pid, w.stdout.readline().strip(), flush=True)
    """)
    out = subprocess.run([sys.executable, "-c", starter, FAKE_WORKER], capture_output=True,
                         text=True, timeout=60)
    reaper, grading, probe = map(int, out.stdout.split())
    assert all(_gone(pid) for pid in (reaper, grading, probe)), out.stderr


def test_kill_started_after_kills_and_reaps_what_a_grade_left_behind():
    start = time.time()
    proc = subprocess.Popen(["sleep", "120"], start_new_session=True)
    killed = P.kill_started_after(start - 1)
    assert proc.pid in [p.pid for p in killed]
    assert not psutil.pid_exists(proc.pid), "killed and reaped (no zombie left either)"


def test_exit_description_names_the_signal_or_the_code():
    assert P.exit_description(-9) == "killed by SIGKILL"
    assert P.exit_description(3) == "exit code 3"
    assert P.exit_description(-99) == "killed by signal 99"
    assert P.signal_name(15) == "SIGTERM"


def test_no_module_rewrites_mpconfig_at_run_time():
    """Limits and thread counts are passed to where they are used (arguments, a worker's
    environment): an assignment to an mpconfig attribute would change them for every later
    grade in the process, unseen."""
    import ast
    sources = [*C.ROOT.glob("*.py"), *(C.ROOT / "grader").rglob("*.py"), *(C.ROOT / "reference").rglob("*.py")]
    found = []
    for path in sources:
        if "catalogue" in path.parts:
            continue
        tree = ast.parse(path.read_text(), str(path))
        aliases = {a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.Import)
                   for a in n.names if a.name == "mpconfig"}
        for node in ast.walk(tree):
            targets = (node.targets if isinstance(node, ast.Assign) else
                       [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else [])
            calls = (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                     and node.func.id in ("setattr", "delattr") and node.args
                     and isinstance(node.args[0], ast.Name) and node.args[0].id in aliases)
            if calls or any(isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name)
                            and t.value.id in aliases for t in targets):
                found.append(f"{path.relative_to(C.ROOT)}:{node.lineno}")
    assert not found, f"mpconfig rewritten at run time at {found}"
