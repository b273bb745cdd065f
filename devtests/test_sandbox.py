"""grader/sandbox/ + grader/child.py: student code runs isolated, and nothing it does escapes.

Each case runs a real child on a tiny stand-in submission (devtests/sandbox_cases/) through
probes of devtests/sandbox_cases/probes/ (run_probe's probe_dirs). After every test an autouse
fixture checks that the probes it ran left no process, no scratch folder and no cgroup behind.
Time limits are set from the measured start-up of a child (python + torch), so the looping cases
stay honest on a slow machine: the same probe finishes when it does not loop.
"""
import os
import pwd
import re
import shutil
import tempfile
import threading
import time
from pathlib import Path

import psutil
import pytest
import torch

import mpconfig as C
from grader import sandbox
from grader.sandbox import box, leftovers, limits, machine
from grader.probes import common
from grader.sandbox import run_probe

CASES = Path(__file__).resolve().parent / "sandbox_cases"
API_OK = CASES / "api_ok"
HOSTILE = CASES / "hostile"
PROBES = CASES / "probes"
IS_ROOT = os.geteuid() == 0
root_only = pytest.mark.skipif(not IS_ROOT, reason="isolation by a separate user needs root")


def probe(submission, name, args=None, **kw):
    kw.setdefault("timeout", 900)  # generous (a starved machine): these return as soon as they are done
    return run_probe(submission, name, args, probe_dirs=[PROBES], **kw)


def call(fn, *args, **kw):
    return probe(HOSTILE, "sbx:call", {"fn": fn, "args": list(args)}, **kw)


def probe_uids():
    uids = set()
    for slot in range(C.PROBE_SLOTS):
        try:
            uids.add(pwd.getpwnam(machine.slot_user_name(slot)).pw_uid)
        except KeyError:
            pass
    return uids


def with_token(token):
    """Live processes carrying a probe's token (by token, not uid: other graders on this machine
    may be running probes as the same user right now)."""
    found = []
    for proc in psutil.process_iter(["status"]):
        if proc.pid != os.getpid() and proc.info["status"] != psutil.STATUS_ZOMBIE:
            try:
                if proc.environ().get(leftovers.TOKEN_ENV) == token:
                    found.append(proc.pid)
            except psutil.Error:
                pass
    return found


@pytest.fixture(autouse=True)
def nothing_left_behind(monkeypatch):
    """Record every probe's token/user/cgroups and box; afterwards none may remain."""
    runs, boxes = [], []
    kill, remove = leftovers.kill, box._remove

    def recording_kill(proc, token, user, cgroups):
        if proc is not None:
            runs.append((token, user, list(cgroups)))
        return kill(proc, token, user, cgroups)

    def recording_remove(box):
        boxes.append(box)
        return remove(box)

    monkeypatch.setattr(leftovers, "kill", recording_kill)
    monkeypatch.setattr(box, "_remove", recording_remove)
    yield runs
    for token, user, cgroups in runs:
        assert not with_token(token), "a probe's process survived run_probe"
        assert not [c for c in cgroups if c.exists()], "a probe's cgroup survived run_probe"
    assert not [b for b in boxes if b.exists()], "a probe's scratch folder survived run_probe"


@pytest.fixture(scope="session")
def startup():
    """Seconds of a child that only starts and answers: the yardstick for short time limits."""
    result = run_probe(API_OK, "sbx:echo", {"n": 1}, probe_dirs=[PROBES], timeout=300)
    assert result.ok, result.error + result.output
    return result.seconds


def short_limit(startup):
    return 2 * startup + 5


# --- a normal probe ---------------------------------------------------------------------------
def test_a_probe_returns_plain_data_and_files_reach_the_child():
    args = {"read": ["hidden.bin"], "nested": {"a": [1, 2.5, None, True, "s"]}}
    result = probe(API_OK, "sbx:echo", args, files={"hidden.bin": b"\x00\x01secret"})
    assert result.ok and result.error == ""
    assert result.data["args"] == args
    assert result.data["files"] == {"hidden.bin": b"\x00\x01secret"}
    assert torch.equal(result.data["tensor"], torch.arange(6).reshape(2, 3))
    assert type(result.data["state"]) is dict and not result.data["state"]["w"].requires_grad
    assert result.data["tuple"] == (1, 2.5, None)
    assert result.seconds > 0


def test_import_check_reports_names_kinds_and_signatures():
    names = ["CIFAR10", "FinetuneNet", "build_dataset", "train", "answer"]
    result = run_probe(API_OK, "common:import_check", {"names": names},
                       timeout=C.PROBE_IMPORT_TIMEOUT_S * 10)
    assert result.ok, result.error
    assert result.data["names"] == {"CIFAR10": "class", "FinetuneNet": "class",
                                    "build_dataset": "function", "train": "missing", "answer": "int"}
    assert result.data["signatures"]["build_dataset"] == "(data_files, transform=None)"
    assert "torch.nn.modules.module.Module" in result.data["bases"]["FinetuneNet"]
    assert "torch.utils.data.dataset.Dataset" in result.data["bases"]["CIFAR10"]
    assert 0 <= result.data["seconds"] < result.seconds
    assert "hello from submitted" in result.output


def test_child_runs_as_the_probe_user_with_a_minimal_environment(monkeypatch, tmp_path):
    submission = tmp_path / "sub"
    submission.mkdir()
    (submission / "submitted.py").write_text("x = 1\n")
    (submission / "models.py").write_text("# the student's own copy: must not replace the canonical one\n")
    (submission / "link").symlink_to("/etc/hostname")
    (submission / "__pycache__").mkdir()
    monkeypatch.setenv("MP09_SECRET_CANARY", "do not pass me on")
    result = probe(submission, "sbx:environment")
    assert result.ok, result.error
    data = result.data
    assert "MP09_SECRET_CANARY" not in data["env"] and data["env"][leftovers.TOKEN_ENV]
    assert data["env"]["OMP_NUM_THREADS"] == str(C.PROBE_THREADS) == str(data["torch_threads"])
    assert Path(data["env"]["HOME"]).parent == Path(data["cwd"]).parent
    assert {"submitted.py", "models.py", C.CHECKPOINT.name, C.DATA_DIR.name, "grader"} <= set(data["listing"])
    assert "link" not in data["listing"] and "__pycache__" not in data["listing"]
    assert "[grader] not copied: link (not a regular file)" in result.output
    assert data["models_head"] == (C.ROOT / "models.py").read_text()[:120]
    if IS_ROOT:  # not root: the child is the files' owner (weaker isolation, warned)
        assert not data["data_writable"] and not data["checkpoint_writable"]
    expected = {"RLIMIT_AS": (C.PROBE_MEMORY_MB + C.PROBE_ADDRESS_SPACE_EXTRA_MB) << 20,
                "RLIMIT_FSIZE": C.PROBE_MAX_FILE_MB << 20, "RLIMIT_CORE": 0}
    for name, value in expected.items():
        assert data["limits"][name] == [value, value], name
    if IS_ROOT:
        assert data["limits"]["RLIMIT_NPROC"] == [C.PROBE_MAX_PROCS] * 2
        uid = data["ids"][0]
        assert uid in probe_uids() and len(set(data["ids"][:3])) == 1
        assert data["groups"] == []


def test_threads_come_from_the_argument_else_the_workers_environment(monkeypatch):
    """A grading worker that shares the cores passes its thread count in the environment (it
    never rewrites mpconfig); an explicit argument wins."""
    monkeypatch.setenv(C.PROBE_THREADS_ENV, "1")
    data = probe(API_OK, "sbx:environment").data
    assert (data["env"]["OMP_NUM_THREADS"], data["torch_threads"]) == ("1", 1)
    data = probe(API_OK, "sbx:environment", threads=3).data
    assert (data["env"]["MKL_NUM_THREADS"], data["torch_threads"]) == ("3", 3)
    monkeypatch.setenv(C.PROBE_THREADS_ENV, "two")
    with pytest.raises(ValueError, match="MP09_PROBE_THREADS='two'"):
        probe(API_OK, "sbx:environment")


# --- student errors, in plain words -------------------------------------------------------------
def test_student_traceback_keeps_their_frames_only():
    result = call("divide", 1, 0)
    assert not result.ok and result.data == {}
    assert 'File "submitted.py"' in result.error and "in _helper" in result.error
    assert result.error.rstrip().endswith("ZeroDivisionError: division by zero")
    assert "child.py" not in result.error and "probes" not in result.error
    assert "/tmp/" not in result.error
    assert len(result.error.splitlines()) <= C.PROBE_TRACEBACK_LINES


def test_guard_keeps_the_other_parts_of_a_probe():
    result = probe(HOSTILE, "sbx:guarded", {"fn": "call_sys_exit", "args": [3]})
    assert result.ok, result.error
    assert "SystemExit: 3" in result.data["first"]["error"]
    assert result.data["second"] == {"value": "still here"}


def test_guard_and_traceback_tail_in_process():
    def broken():
        raise RuntimeError("boom")
    out = common.guard(broken)
    assert set(out) == {"error"} and out["error"].endswith("RuntimeError: boom")
    assert "in broken" in out["error"] and "common.py" not in out["error"]
    assert common.guard(lambda x: x * 2, 21) == {"value": 42}


def test_an_import_error_is_reported():
    result = probe(HOSTILE, "common:import_check", files={"import_mode.txt": b"raise"})
    assert not result.ok and "ValueError: broken at import" in result.error


def test_sys_exit_inside_a_call():
    result = call("call_sys_exit", 0)
    assert not result.ok
    assert "sys.exit(0)" in result.error and "SystemExit" in result.error


def test_keyboard_interrupt_inside_a_call():
    result = call("interrupt")
    assert not result.ok and "KeyboardInterrupt" in result.error


def test_os_exit_at_import():
    result = probe(HOSTILE, "common:import_check", files={"import_mode.txt": b"exit"})
    assert not result.ok
    assert result.error.startswith("exited with code 0 before returning (os._exit / sys.exit?)")


def test_os_exit_with_a_code_inside_a_call():
    result = call("exit_now", 7)
    assert not result.ok and result.error.startswith("exited with code 7 before returning")


def test_non_plain_data_is_refused_in_the_child():
    result = probe(HOSTILE, "sbx:not_plain")
    assert not result.ok and "not plain data" in result.error and "_Payload" in result.error


@pytest.mark.parametrize("torch_format", [True, False])
def test_a_forged_malicious_answer_file_is_never_unpickled(tmp_path, torch_format):
    marker = tmp_path / "pwned"  # root-only folder: only the parent could create it
    result = call("forge_result", str(marker), torch_format)
    assert not result.ok and "refused its answer file" in result.error
    assert not marker.exists()


# --- limits -----------------------------------------------------------------------------------
def test_infinite_loop_at_import_times_out(startup):
    limit = short_limit(startup)
    began = time.monotonic()
    result = probe(HOSTILE, "common:import_check", files={"import_mode.txt": b"loop"}, timeout=limit)
    assert not result.ok
    assert result.error.startswith(f"timed out after {limit:g} s")
    assert time.monotonic() - began < limit + 30


@pytest.mark.slow
def test_unbounded_memory_gets_a_clean_message():
    result = call("hog_memory", memory_mb=512)
    assert not result.ok and result.error.startswith("ran out of memory at 512 MB"), result.error


def test_address_space_limit_without_cgroups(monkeypatch, tmp_path):
    monkeypatch.setattr(limits, "CGROUP_ROOT", tmp_path)  # no controllers there: rlimits only
    gigabytes = (C.PROBE_MEMORY_MB + C.PROBE_ADDRESS_SPACE_EXTRA_MB) // 1024 + 2  # < this machine's RAM
    result = call("hog_address_space", gigabytes)
    assert not result.ok
    assert result.error.startswith(f"ran out of memory at {C.PROBE_MEMORY_MB} MB"), result.error


@pytest.mark.slow
def test_fork_bomb_is_bounded_and_cleaned_up(startup):
    counts, done = [0], threading.Event()
    uids = probe_uids()

    def watch():  # the most processes any one probe user had at once
        while not done.is_set():
            per_uid = {}
            for p in psutil.process_iter(["uids"]):
                if p.info["uids"] and p.info["uids"].real in uids:
                    per_uid[p.info["uids"].real] = per_uid.get(p.info["uids"].real, 0) + 1
            counts[0] = max([counts[0], *per_uid.values()])
            time.sleep(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        result = call("fork_bomb", timeout=short_limit(startup))
    finally:
        done.set()
        watcher.join()
    assert not result.ok and result.error.startswith("timed out")
    if IS_ROOT:
        assert counts[0] <= C.PROBE_MAX_PROCS


@pytest.mark.slow
def test_printing_100_mb_is_truncated_and_marked():
    result = call("print_lots", 100)
    assert result.ok and result.data == {"value": 100}
    keep = C.PROBE_OUTPUT_KEEP_BYTES
    cut = re.search(r"\[\.\.\. (\d+) bytes cut \.\.\.\]", result.output)
    assert cut and int(cut.group(1)) == 100 * (1 << 20) - 2 * keep
    assert result.output.startswith("x" * 100) and result.output.endswith("x\n")
    assert len(result.output) < 2 * keep + 100


# --- escapes ----------------------------------------------------------------------------------
@root_only
def test_killing_the_parent_fails():
    result = call("kill_parent")
    assert not result.ok and "PermissionError" in result.error
    assert psutil.Process(os.getpid()).is_running()


@root_only  # not root: a daemon that drops its environment escapes the token (warned)
def test_a_setsid_double_forked_daemon_is_killed():
    result = call("daemon")
    assert result.ok, result.error
    pid = result.data["value"]
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


@root_only
def test_child_cannot_read_hidden_data_or_grader_files():
    secret = [C.HIDDEN_DIR / C.HIDDEN_FILE, Path(sandbox.__file__), C.ROOT / "mpconfig.py",
              C.REFERENCE_SOLUTION, C.ROOT / "reference" / "build_data.py"]
    public = [f"{C.DATA_DIR.name}/{C.TEST_FILE}", C.CHECKPOINT.name]
    result = call("read_files", [str(p) for p in secret] + public)
    assert result.ok, result.error
    found = result.data["value"]
    assert all(found[str(p)] == "PermissionError" for p in secret), found
    assert all(found[p] == "read 64 bytes" for p in public), found  # not vacuous: reading works


@pytest.fixture
def results_dir():
    """A folder like Gradescope's /autograder/results: root's, open to everyone for reading."""
    folder = Path(tempfile.mkdtemp(prefix="sbx-results-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


@root_only
def test_child_cannot_write_outside_its_scratch(results_dir):
    results = results_dir
    outside = [HOSTILE / "planted.py", C.ROOT / "results.json", results / "results.json",
               Path(sandbox.__file__).with_name("planted.py")]
    result = call("write_files", [str(p) for p in outside] + ["inside.txt"])
    assert result.ok, result.error
    done = result.data["value"]
    assert done["inside.txt"] == "written"
    assert all(done[str(p)] == "PermissionError" for p in outside), done
    assert not any(p.exists() for p in outside)


# --- the caller's mistakes --------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, error", [
    ({"probe": "nope"}, ValueError),
    ({"probe": "common:"}, ValueError),
    ({"probe": "no_such_module:f"}, ValueError),
    ({"submission_dir": "/nonexistent/submission"}, FileNotFoundError),
    ({"args": {"x": object()}}, TypeError),
    ({"files": {"../escape": b""}}, ValueError),
    ({"files": {"models.py": b""}}, ValueError),
    ({"files": {"a": "not bytes"}}, TypeError),
    ({"timeout": 0}, ValueError),
    ({"threads": 0}, ValueError),
])
def test_bad_arguments_raise_clear_errors_before_any_child(kwargs, error, monkeypatch):
    monkeypatch.setattr(box.subprocess, "Popen", None)  # no child may start
    call_args = {"submission_dir": API_OK, "probe": "common:import_check", **kwargs}
    with pytest.raises(error, match="run_probe"):
        run_probe(**call_args)


@root_only
def test_a_probe_cannot_reach_a_listener_of_the_grader():
    """Probes run in a network namespace of their own: a TCP listener on the grader's 127.0.0.1
    (which answers the grader itself) is out of a probe's reach."""
    import socket
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass                                  # reachable from the grader's namespace
        assert machine.network_wrapper(), "this machine (root) should allow network namespaces"
        result = call("connect", port)
    assert result.ok, result.error
    assert result.data["value"].startswith("refused"), result.data["value"]


def test_refused_namespaces_are_logged_and_probes_still_run(monkeypatch, caplog):
    monkeypatch.setattr(machine, "_network_wrapper", None)
    monkeypatch.setattr(machine.shutil, "which", lambda name: None)
    with caplog.at_level("WARNING"):
        assert machine.network_wrapper() == []
    assert "probes keep the machine's network" in caplog.text
    result = call("divide", 6, 3)
    assert result.ok and result.data["value"] == 2, result.error
