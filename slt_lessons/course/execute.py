"""Running a whole notebook in a real Jupyter kernel (nbclient): how the build executes solutions."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError

DEFAULT_CELL_TIMEOUT = 900  # only for a hung cell: a busy machine may take minutes over a heavy one


@contextmanager
def environment(**values: str | None):
    """Set (or with None, unset) environment variables for the kernels started inside."""
    old = {k: os.environ.get(k) for k in values}
    try:
        for k, v in values.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def execute(nb: nbformat.NotebookNode, cwd: Path, *, fast: bool, timeout: int | None = None,
            allow_errors: bool = True, full: bool = False) -> tuple[nbformat.NotebookNode, str | None]:
    """Execute ``nb`` in a fresh ``python3`` kernel with working directory ``cwd``.

    ``full`` runs it in the course's full mode (``SLT_FULL=1``, :data:`slt_lessons.course.FULL`);
    otherwise ``SLT_FULL`` is unset, so a build never depends on the caller's environment.
    Returns the executed notebook and, if the run could not finish (dead kernel, a cell that
    outlived its timeout and could not be interrupted), a description of what went wrong.
    """
    timeout = timeout or int(os.environ.get("SLT_CELL_TIMEOUT", DEFAULT_CELL_TIMEOUT))
    client = NotebookClient(
        nb, timeout=timeout, kernel_name="python3", allow_errors=allow_errors,
        interrupt_on_timeout=True, resources={"metadata": {"path": str(cwd)}},
    )
    problem = None
    with environment(SLT_FAST="1" if fast else None, SLT_FULL="1" if full else None, NBGRADER_EXECUTION=None,
                     MPLBACKEND="module://matplotlib_inline.backend_inline"):
        try:
            client.execute()
        except DeadKernelError as exc:
            problem = f"the kernel died while running the notebook ({exc})"
        except CellTimeoutError as exc:
            problem = f"a cell ran longer than {timeout} s and could not be interrupted ({exc})"
    return nb, problem
