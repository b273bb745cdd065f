"""Readying a machine for probes (root): the probe users and their slots, an interpreter they
can reach, the grader's own files closed to them. Not root, there is nothing to prepare: probes
then run as the grader's user (weaker isolation, warned once).
"""
import contextlib
import fcntl
import logging
import os
import pwd
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import mpconfig as C
from grader.sandbox import leftovers

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProbeUser:
    name: str
    uid: int
    gid: int


def is_root():
    return os.geteuid() == 0


def slot_user_name(slot):
    return C.PROBE_USER if slot == 0 else f"{C.PROBE_USER}{slot}"


def probe_user(slot, changes=None):
    """The dedicated user of a slot, created on demand (no login, no home)."""
    name = slot_user_name(slot)
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        shell = "/usr/sbin/nologin" if os.path.exists("/usr/sbin/nologin") else "/bin/false"
        done = subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
                               "--shell", shell, "--user-group", name],
                              capture_output=True, text=True)
        try:  # a concurrent grader may have created it first: that is fine
            entry = pwd.getpwnam(name)
        except KeyError:
            raise RuntimeError(f"could not create the probe user {name!r} with useradd: "
                               f"{done.stderr.strip() or done.returncode}") from None
        if changes is not None:
            changes.append(f"created user {name} (uid {entry.pw_uid})")
    if entry.pw_uid == 0 or entry.pw_gid == 0:
        raise RuntimeError(f"probe user {name!r} has uid/gid 0: it must be a dedicated unprivileged user")
    return ProbeUser(name, entry.pw_uid, entry.pw_gid)


def _interpreter_paths():
    paths = {Path(sys.executable).resolve().parent, Path(sys.prefix), Path(sys.base_prefix),
             Path(sys.exec_prefix), Path(sys.base_exec_prefix)}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        with contextlib.suppress(KeyError):
            paths.add(Path(sysconfig.get_path(key)))
    return {p.resolve() for p in paths} | paths


def _make_reachable():
    """o+x (search, not list) on every folder above the interpreter, its prefixes and site-packages:
    e.g. pyenv under /root (mode 0700) would otherwise keep the probe user from starting python."""
    changes = []
    for path in _interpreter_paths():
        for folder in (path, *path.parents):
            st = folder.stat()
            if stat.S_ISDIR(st.st_mode) and not st.st_mode & stat.S_IXOTH:
                folder.chmod(stat.S_IMODE(st.st_mode) | stat.S_IXOTH)
                changes.append(f"made {folder} searchable by other users (o+x) so probes can run python")
    return changes


def _protect_grader_files():
    """o-rwx on every entry of the grader's folder but the interpreter's and the checkpoint (its
    inode is hard-linked into each box): probes cannot read the grader, reference or hidden data."""
    changes = []
    keep = {C.CHECKPOINT.resolve()}
    for entry in C.ROOT.iterdir():
        st = entry.lstat()
        if stat.S_ISLNK(st.st_mode) or entry.resolve() in keep or not st.st_mode & 0o007:
            continue
        if any(p.is_relative_to(entry.resolve()) for p in _interpreter_paths()):
            continue
        entry.chmod(stat.S_IMODE(st.st_mode) & ~0o007)
        changes.append(f"closed {entry} to other users (o-rwx)")
    return changes


def prepare():
    """Ready this machine for probes as root (idempotent, cheap); returns the changes made (logged)."""
    if not is_root():
        return []
    changes = []
    users = [probe_user(slot, changes) for slot in range(C.PROBE_SLOTS)]
    changes += _make_reachable()
    changes += _protect_grader_files()
    public = sorted(C.DATA_DIR.iterdir()) if C.DATA_DIR.is_dir() else []
    for path in (C.CHECKPOINT, *public):  # public, hard-linked into scratch: must stay readable
        st = path.lstat()
        if stat.S_ISREG(st.st_mode) and st.st_mode & 0o004 == 0:
            path.chmod(stat.S_IMODE(st.st_mode) | 0o004)
            changes.append(f"made public file {path} readable (o+r)")
    for change in changes:
        log.warning("sandbox prepare: %s", change)
    find_torch = "import importlib.util as u; assert u.find_spec('torch') and u.find_spec('torchvision')"
    check = subprocess.run([sys.executable, "-I", "-c", find_torch], user=users[0].uid,
                           group=users[0].gid, extra_groups=[], cwd="/", capture_output=True, text=True)
    if check.returncode:
        raise RuntimeError(f"the probe user {users[0].name} cannot run {sys.executable} and find torch: "
                           f"{check.stderr.strip()[-2000:]}")
    return changes


# --- no network for probes: a new network namespace (root only) --------------------------------
_network_wrapper = None


def network_wrapper():
    """The prefix starting a probe in a network namespace of its own (only a down loopback: it reaches
    nothing) as its user, via util-linux's unshare and setpriv (Python 3.10 has no os.unshare);
    [] where namespaces are refused (not root, Docker without CAP_SYS_ADMIN), logged once."""
    global _network_wrapper
    if _network_wrapper is None:
        tools = [shutil.which(name) for name in ("unshare", "setpriv", "true")]
        why = "not root" if not is_root() else None
        if why is None and not all(tools):
            why = "util-linux's unshare or setpriv is missing"
        if why is None:
            done = subprocess.run([tools[0], "--net", "--", tools[2]], capture_output=True, text=True)
            if done.returncode:
                why = f"unshare --net failed: {done.stderr.strip() or done.returncode}"
        if why is not None:
            log.warning("sandbox: probes keep the machine's network (%s)", why)
        _network_wrapper = [] if why else tools[:2]
    return _network_wrapper


def isolated_command(command, user):
    """`command` in a network namespace of its own as `user`, or None where namespaces are refused."""
    tools = network_wrapper() if user is not None else []
    if not tools:
        return None
    unshare, setpriv = tools
    return [unshare, "--net", "--", setpriv, f"--reuid={user.uid}", f"--regid={user.gid}",
            "--clear-groups", "--", *command]


_prepared = False


def prepare_once():
    global _prepared
    if _prepared:
        if is_root():  # again: entries added since (e.g. dist/ with the autograder zip) get closed too
            for change in _protect_grader_files():
                log.warning("sandbox prepare: %s", change)
        return
    if not is_root():
        log.warning("sandbox: the grader is not running as root, so probes run as %s without a "
                    "user of their own: student code could read the grader's files and hidden "
                    "data. Grade as root (as Gradescope does) for real isolation.",
                    pwd.getpwuid(os.getuid()).pw_name)
    else:
        prepare()
    _prepared = True


# --- slots: one probe user per concurrent probe, so killing by uid never hits a sibling ---------
@contextlib.contextmanager
def slot():
    """The probe user of a free slot (None when not root), held until the block ends."""
    if not is_root():
        yield None
        return
    locks = Path(tempfile.gettempdir()) / f"{C.PROBE_USER}-slots"
    with contextlib.suppress(FileExistsError):
        locks.mkdir(mode=0o700)
    st = locks.lstat()
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != 0 or st.st_mode & 0o077:
        raise RuntimeError(f"{locks} must be a folder private to root; remove it and grade again")
    while True:
        for number in range(C.PROBE_SLOTS):
            fd = os.open(locks / f"slot{number}", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            try:
                user = probe_user(number)
                leftovers.kill(None, None, user, [])  # of a grader that crashed mid-probe
                yield user
            finally:
                os.close(fd)
            return
        time.sleep(0.1)
