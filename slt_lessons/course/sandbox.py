"""The sandbox a learner's code runs in while it is graded or self-checked.

Each submission's kernel runs under bubblewrap (``bwrap``, Debian's ``bubblewrap``) with

- a **read-only view** of only what a kernel needs: the system directories, the Python installation,
  the virtual environment and the ``slt_lessons`` package. Nothing else of the machine is there:
  no other submissions, no gradebook, no ``grades.csv`` or feedback, no course source with its
  hidden tests, no home directory;
- one **writable folder**, a private copy of the submission's own folder, which is the working
  directory, ``$HOME`` and ``$TMPDIR`` (plus a small ``/tmp``); the grader reads the recorded
  results and talks to the kernel through unix sockets in a second folder (Jupyter's ``ipc``
  transport, since there is **no network**: not even loopback);
- its own **PID namespace**: every process the learner starts (``setsid`` and daemons included)
  dies with the kernel;
- **limits** on address space (memory) and on processes (``RLIMIT_AS``, ``RLIMIT_NPROC``), set by
  :func:`confine` inside the sandbox, just before the kernel starts. ``RLIMIT_NPROC`` is not
  enforced for root, so when the grader runs as root the kernel runs as an unprivileged user id
  of its own (:data:`SANDBOX_UIDS`);
- **interrupts by message** (the kernel's control channel), since a SIGINT sent to ``bwrap``
  would kill the kernel inside.

"Available" means a probe kernel command ran inside such a sandbox (:func:`probe`): container
runtimes and distributions may forbid the namespaces bubblewrap needs even where it is installed.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import sysconfig
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

GiB = 1024**3

# the unprivileged user ids kernels run as when the grader is root: one per concurrent kernel, so
# that one submission's processes never count against another's limit
SANDBOX_UIDS = range(61000, 61064)

# what the kernel inherits from the grader's environment; everything else (SLT_COURSE_ROOT,
# SLT_DB_URL, credentials) is left out
PASSED_ENV = ("PATH", "LANG", "LC_ALL", "SLT_DEVICE", "SLT_FAST", "NBGRADER_EXECUTION", "OMP_NUM_THREADS",
               "MKL_NUM_THREADS", "PYTHONHASHSEED", "JUPYTER_PREFER_ENV_PATH")


@dataclass(frozen=True)
class Sandbox:
    """How a learner's kernel is confined. ``enabled=False`` runs it as a plain subprocess (still
    from a private copy of its folder, with the class's environment variables left out)."""

    enabled: bool = True
    memory_bytes: int = 4 * GiB   # address space of each process the learner's code runs in
    processes: int = 256          # processes and threads, all together (torch's thread pool counts)


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create its namespaces here; the message says how to fix it."""


# ----------------------------------------------------------------------------- inside the sandbox


def confine(memory_bytes: int, processes: int, uid: int | None) -> None:
    """Set the limits (and, when started as root, drop to ``uid``) in the current process.

    Runs inside the sandbox, after bubblewrap has built it and before the kernel starts; the limits
    are inherited by every process the kernel starts."""
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if uid is not None and os.getuid() == 0:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)  # from root to another user: every capability is dropped too


def _main(argv: list[str]) -> None:
    """``python sandbox.py MEMORY PROCESSES UID -- COMMAND...``"""
    memory, processes, uid = int(argv[0]), int(argv[1]), argv[2]
    command = argv[argv.index("--") + 1:]
    confine(memory, processes, None if uid == "-" else int(uid))
    os.execvp(command[0], command)


# ----------------------------------------------------------------------------- the grader's side


def _readable_roots() -> list[Path]:
    """What the kernel must see, read-only: the system, Python, the environment and the package."""
    import slt_lessons

    paths = [Path(p) for p in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")]
    paths += [Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix), Path(sys.base_exec_prefix)]
    paths += [Path(p) for p in {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}]
    paths.append(Path(slt_lessons.__file__).resolve().parent)
    out: list[Path] = []
    for p in paths:
        if p.exists() and not p.is_symlink() and not any(p == q or q in p.parents for q in out):
            out = [q for q in out if p not in q.parents] + [p]
    return out


class UidPool:
    """Hands out the sandbox user ids, one per running kernel, across every grading process of the
    machine: an id is taken by holding an exclusive lock on its lock file."""

    def __init__(self, uids=SANDBOX_UIDS, lockdir: Path | None = None):
        self.uids = uids
        # the ids are the machine's, so their locks live in the machine's /tmp whatever $TMPDIR says
        # (two graders with different $TMPDIR once took the same id and killed each other's kernels)
        self.lockdir = lockdir or Path("/tmp/slt-course-sandbox-uids")
        self._held: dict[int, int] = {}  # uid -> open lock file descriptor
        self._lock = threading.Lock()

    def take(self) -> int:
        import fcntl

        self.lockdir.mkdir(mode=0o700, exist_ok=True)
        with self._lock:
            for uid in self.uids:
                if uid in self._held:
                    continue
                fd = os.open(self.lockdir / str(uid), os.O_RDWR | os.O_CREAT, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    os.close(fd)
                    continue
                self._held[uid] = fd
                return uid
        raise RuntimeError(f"all {len(self.uids)} sandbox user ids are in use by running kernels")

    def give(self, uid: int) -> None:
        with self._lock:
            os.close(self._held.pop(uid))  # closing the file releases the lock


UIDS = UidPool()


def wrap(command: list[str], *, sandbox: Sandbox, workdir: Path, conndir: Path, uid: int | None) -> list[str]:
    """``command`` (a kernel's argv) as it runs in the sandbox: bubblewrap, then :func:`confine`."""
    env = {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
    env.update(HOME=str(workdir), TMPDIR=str(workdir), MPLCONFIGDIR=str(workdir / ".matplotlib"),
               IPYTHONDIR=str(workdir / ".ipython"), JUPYTER_RUNTIME_DIR=str(conndir), PYTHONNOUSERSITE="1")
    args = ["bwrap", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--new-session", "--clearenv", "--proc", "/proc", "--dev", "/dev",
            "--tmpfs", "/tmp", "--hostname", "sandbox"]
    readable, writable = _readable_roots(), [workdir, conndir]
    for link, target in _usr_merge_links():
        args += ["--symlink", target, link]
    # bubblewrap would give the folders above each mount the host's modes (/root is 0700): open them
    above = {a for p in readable + writable for a in p.parents if a != Path("/")}
    for folder in sorted(above, key=lambda a: len(a.parts)):
        args += ["--perms", "0755", "--dir", str(folder)]
    for root in readable:
        args += ["--ro-bind", str(root), str(root)]
    for folder in writable:
        args += ["--bind", str(folder), str(folder)]
    args += ["--chdir", str(workdir)]
    if uid is None:
        args += ["--cap-drop", "ALL"]
    for k, v in env.items():
        args += ["--setenv", k, v]
    # this file run as a script: it imports only the standard library, so the kernel starts as fast
    confine_cmd = [sys.executable, "-I", str(Path(__file__).resolve()), str(sandbox.memory_bytes),
                   str(sandbox.processes), "-" if uid is None else str(uid), "--"]
    return args + ["--"] + confine_cmd + command


@lru_cache(maxsize=None)
def _usr_merge_links() -> tuple[tuple[str, str], ...]:
    """On merged-/usr systems /bin, /lib ... are symlinks into /usr: recreate them as such."""
    links = []
    for p in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(p):
            links.append((p, os.readlink(p)))
    return tuple(links)


def needs_own_uid() -> bool:
    return os.getuid() == 0


def _processes_of(uid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                status = (entry / "status").read_text()
            except OSError:  # it ended meanwhile
                continue
            real_uid = next((line.split()[1] for line in status.splitlines() if line.startswith("Uid:")), None)
            if real_uid == str(uid):
                pids.append(int(entry.name))
    return pids


def wait_until_gone(uid: int, timeout: float = 10.0) -> None:
    """Wait until no process runs as the sandbox user ``uid`` (they die with their PID namespace;
    any straggler is killed)."""
    import signal
    import time

    deadline = time.monotonic() + timeout
    while (pids := _processes_of(uid)) and time.monotonic() < deadline:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.05)
    if pids:
        raise RuntimeError(f"processes {pids} of sandbox user {uid} outlived their sandbox")


@lru_cache(maxsize=None)
def probe() -> str | None:
    """None if a Python process starts in the sandbox and is confined as promised; else why not."""
    if shutil.which("bwrap") is None:
        return ("bubblewrap is not installed (Debian/Ubuntu: `apt-get install bubblewrap`; Fedora: "
                "`dnf install bubblewrap`)")
    import tempfile

    with tempfile.TemporaryDirectory(prefix="slt-probe-") as tmp:
        work, conn = Path(tmp) / "work", Path(tmp) / "conn"
        uid = UIDS.take() if needs_own_uid() else None
        for d in (work, conn):
            d.mkdir()
            if uid is not None:
                os.chown(d, uid, uid)
        code = ("import json, os, resource, socket, slt_lessons, ipykernel\n"
                "try:\n    socket.create_connection(('192.0.2.1', 9), timeout=1); net = True\n"
                "except OSError:\n    net = False\n"
                "print(json.dumps({'secret': os.path.exists(" + repr(str(Path(tmp) / "secret")) + "), 'net': net,\n"
                "    'pid': os.getpid(), 'uid': os.getuid(), 'nproc': resource.getrlimit(resource.RLIMIT_NPROC)[0]}))\n")
        (Path(tmp) / "secret").write_text("")
        cmd = wrap([sys.executable, "-c", code], sandbox=Sandbox(), workdir=work, conndir=conn, uid=uid)
        try:
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"bubblewrap could not start a process ({exc})"
        finally:
            if uid is not None:
                wait_until_gone(uid)
                UIDS.give(uid)
    if res.returncode != 0:
        detail = (res.stderr.strip().splitlines() or [f"exit status {res.returncode}"])[-1]
        return (f"bubblewrap is installed but cannot build a sandbox here ({detail}); user namespaces may be "
                "disabled (sysctl kernel.unprivileged_userns_clone=1, or AppArmor's "
                "kernel.apparmor_restrict_unprivileged_userns=0), or a container's seccomp policy forbids them")
    try:
        seen = json.loads(res.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return f"the probe sandbox printed nothing readable ({res.stdout.strip()[-200:]!r})"
    confined = (not seen["secret"] and not seen["net"] and seen["pid"] < 10 and seen["nproc"] == Sandbox().processes
                and (uid is None or seen["uid"] == uid))
    return None if confined else f"the probe sandbox was not confined as expected (it saw {seen})"


if __name__ == "__main__":
    _main(sys.argv[1:])
