"""A Jupyter kernel for a learner's code: run with a time limit, output discarded, sandboxed.

The kernel starts in a private working folder (a copy of the submission's folder). With the
sandbox (:mod:`slt_lessons.course.sandbox`) it runs under bubblewrap, speaks over unix sockets
(``ipc`` transport: the sandbox has no network) and is interrupted by message; without it, it is a
plain subprocess on loopback TCP. Either way nothing it prints, on any file descriptor, reaches the
grader's own output: the kernel's stdout and stderr go to ``/dev/null``, and what its code prints
travels over the iopub channel, which :meth:`Kernel.run` drains and discards.
"""

from __future__ import annotations

import os
import queue
import subprocess
import time
from pathlib import Path

from jupyter_client.manager import KernelManager

from slt_lessons.course import sandbox as sb

DRAIN_S = 0.05       # longest the grader spends draining output between two looks at the reply
FLOOD_CHARS = 100_000  # this much output after an interrupt means the code is still printing


class _Manager(KernelManager):
    """A kernel manager whose kernel command can be wrapped (in bubblewrap) and whose connection
    file the sandbox's user can read."""

    wrap = None
    owner: int | None = None

    def format_kernel_cmd(self, extra_arguments=None):
        cmd = super().format_kernel_cmd(extra_arguments)
        return self.wrap(cmd) if self.wrap else cmd

    def write_connection_file(self, **kwargs):
        super().write_connection_file(**kwargs)
        if self.owner is not None:
            os.chown(self.connection_file, self.owner, self.owner)


class Kernel:
    """One ``python3`` kernel running in ``workdir``; ``conndir`` holds its connection file and
    sockets. ``sandbox.enabled`` chooses bubblewrap."""

    def __init__(self, workdir: Path, conndir: Path, sandbox: sb.Sandbox, startup_timeout: float = 60):
        self.uid = sb.UIDS.take() if sandbox.enabled and sb.needs_own_uid() else None
        try:
            if self.uid is not None:
                for folder in (workdir, conndir):
                    os.chown(folder, self.uid, self.uid)
            km = _Manager(kernel_name="python3")
            km.connection_file = str(conndir / "kernel.json")
            env = {k: os.environ[k] for k in sb.PASSED_ENV if k in os.environ}
            env.update(HOME=str(workdir), MPLCONFIGDIR=str(workdir / ".matplotlib"))
            if sandbox.enabled:
                km.transport, km.ip, km.owner = "ipc", str(conndir / "k"), self.uid
                km.wrap = lambda cmd: sb.wrap(cmd, sandbox=sandbox, workdir=workdir, conndir=conndir, uid=self.uid)
                km.kernel_spec.interrupt_mode = "message"  # SIGINT to bwrap would kill the kernel inside
            km.start_kernel(cwd=str(workdir), env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
            self.km, self.kc = km, km.client()
            self.kc.start_channels()
            self.kc.wait_for_ready(timeout=startup_timeout)
        except BaseException:
            self.stop()
            raise

    def run(self, code: str, timeout: float) -> tuple[str, str]:
        """Run ``code``. Returns ``(status, message)``; status is ``ok``, ``error`` (it raised; the
        kernel is fine), ``timeout`` (interrupted after ``timeout`` s; the kernel is fine), or
        ``dead`` / ``stuck`` (the kernel must be replaced)."""
        # stop_on_error=False: an error must not make the kernel abort the requests that follow
        msg_id = self.kc.execute(code, store_history=False, allow_stdin=False, stop_on_error=False)
        deadline = time.monotonic() + timeout
        interrupted, printed_since = False, 0
        while True:
            printed = self._drain_iopub()
            printed_since += printed if interrupted else 0
            try:
                reply = self.kc.get_shell_msg(timeout=0.2)
            except queue.Empty:
                reply = None
            if reply is not None and reply["parent_header"].get("msg_id") == msg_id:
                content = reply["content"]
                if interrupted:
                    return "timeout", f"it ran longer than {timeout:g} s and was interrupted"
                if content.get("status") == "error":
                    return "error", f"{content.get('ename')}: {content.get('evalue')}"
                if content.get("status") != "ok":
                    return "stuck", f"the kernel did not run the code (status {content.get('status')})"
                return "ok", ""
            if not self.km.is_alive():
                return "dead", "the Python kernel died (e.g. exit(), os._exit, a crash, or the memory limit)"
            if time.monotonic() > deadline:
                if interrupted:
                    why = f"it ran longer than {timeout:g} s and did not stop when interrupted"
                    if printed_since >= FLOOD_CHARS:
                        why += ("; it was still printing output when it was stopped (a thread that keeps "
                                "printing, or a loop that catches KeyboardInterrupt, cannot be interrupted)")
                    return "stuck", why
                self.km.interrupt_kernel()
                interrupted = True
                deadline = time.monotonic() + 10

    def _drain_iopub(self) -> int:
        """Discard the kernel's output for at most DRAIN_S seconds; how many characters it printed."""
        printed, until = 0, time.monotonic() + DRAIN_S
        while time.monotonic() < until:
            try:
                msg = self.kc.get_iopub_msg(timeout=0)
            except queue.Empty:
                break
            if msg["header"]["msg_type"] == "stream":
                printed += len(msg["content"].get("text", ""))
        return printed

    def stop(self) -> None:
        """Stop the kernel and wait until every process it started is gone."""
        kc, km = getattr(self, "kc", None), getattr(self, "km", None)
        try:
            if kc is not None:
                kc.stop_channels()
            if km is not None and km.has_kernel:
                km.shutdown_kernel(now=True)
        except Exception:  # a dead kernel may already be gone
            pass
        if self.uid is not None:
            sb.wait_until_gone(self.uid)
            sb.UIDS.give(self.uid)
            self.uid = None
