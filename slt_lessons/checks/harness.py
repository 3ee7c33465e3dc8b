"""Recording a learner's outputs for grading, inside the process that runs their code.

The grader (:mod:`slt_lessons.course.engine`) runs the set-up cells, then :func:`install`, then the
learner's cells, then :func:`record` for each exercise, which calls the learner's function on every case of both suites
and saves what it returned or raised. The verdict is computed later, in the grader's own process,
from these records alone: nothing the notebook redefines (``check``, ``assert_allclose``, the
registry) can change it.

While the learner's function runs, a profiler in every thread watches for calls to the exercise's
own reference function, and to the learner's functions for other exercises (``others``).

Recognising the reference. A call is the reference's when its code object *is* the reference's, or
has the same fingerprint: bytecode, constants (nested code objects fingerprinted in turn; a
docstring is a constant), names used and file name, but not the function's name or first line.
That catches an alias, a renamed copy (``types.FunctionType(ref.__code__.replace(...), ...)``) and
the function of a reloaded module. Only code compiled from the reference's own library file can
match: an honest learner may well write a one-line reference word for word, and code compiled
from a notebook cell (``<ipython-input-...>``, ``/tmp/ipykernel_.../...py``) is never flagged,
whatever its bytecode. A false accusation is worse than a missed one.

Threads. :func:`install` makes every thread started afterwards carry the (cheap, idle) watcher, so
threads a cell starts before the recording are watched; during :func:`record` the current thread
and threads it starts are watched, and on Python >= 3.12 every existing thread too. On older
Pythons a thread started before :func:`install` is not watched.
"""

from __future__ import annotations

import os
import sys
import threading
from contextlib import contextmanager
from types import CodeType
from typing import Any, Callable, Iterator, Mapping

import torch

import slt_lessons
from slt_lessons.checks import registry
from slt_lessons.checks.runner import collect

__all__ = ["install", "record"]

_collect = collect  # bound at import, before any learner code runs
_LIBRARY = os.path.realpath(os.path.dirname(slt_lessons.__file__)) + os.sep
_ALL_THREADS = hasattr(threading, "setprofile_all_threads")  # Python >= 3.12


def install() -> None:
    """Give every thread started from now on the watcher (idempotent).

    Called by the grader once, after the lesson's set-up cells and before any learner code. The
    watcher returns at once unless :func:`record` is calling the learner's function.
    """
    threading.setprofile(_watch)


def record(exercise_id: str, fn: Any, path: str, others: Mapping[str, Any] | None = None) -> None:
    """Call ``fn`` on every case of both suites of ``exercise_id`` and ``torch.save`` a dict to ``path``.

    Keys: ``exercise_id``; ``missing`` (``fn`` is None) and ``not_callable``; ``visible`` and
    ``hidden`` (lists of :class:`~slt_lessons.checks.runner.Outcome`, only when ``fn`` is
    callable); ``called_reference``, whether the exercise's reference ran during a call of ``fn``;
    ``calls``, the sorted ids of the exercises among ``others`` (exercise id -> the learner's
    function for it; values that are not functions, and ``exercise_id`` itself, are ignored)
    whose function ran then.
    """
    reference = registry.get(exercise_id).reference
    data: dict[str, Any] = {
        "exercise_id": exercise_id,
        "missing": fn is None,
        "not_callable": fn is not None and not callable(fn),
        "called_reference": False,
        "calls": [],
    }
    if fn is not None and callable(fn):
        watcher = _Recording(reference, _codes(others or {}, exclude=exercise_id))
        with _watching_every_thread():
            for suite in registry.SUITES:
                data[suite] = _collect(exercise_id, watcher.wrap(fn), suite)
        data["called_reference"] = watcher.called_reference
        data["calls"] = sorted(watcher.calls)
    torch.save(data, path)


def _codes(functions: Mapping[str, Any], exclude: str) -> dict[int, tuple[CodeType, str]]:
    """id(code) -> (code, exercise id) for the learner's functions; holding the code keeps its id unique."""
    codes = {}
    for ex_id, f in functions.items():
        code = getattr(f, "__code__", None) if callable(f) else None
        if ex_id != exclude and isinstance(code, CodeType):
            codes[id(code)] = (code, ex_id)
    return codes


# ----------------------------------------------------------------------------- recognising code


_FINGERPRINTS: dict[int, tuple[CodeType, tuple]] = {}  # id(code) -> (code, fingerprint)


def _fingerprint(code: CodeType) -> tuple:
    """What ``code`` does and where it comes from, not what it is called (cached per code object)."""
    hit = _FINGERPRINTS.get(id(code))
    if hit is None:
        hit = _FINGERPRINTS[id(code)] = (code, _compute_fingerprint(code))
    return hit[1]


def _compute_fingerprint(code: CodeType) -> tuple:
    consts = tuple(_compute_fingerprint(c) if isinstance(c, CodeType) else repr(c) for c in code.co_consts)
    return code.co_code, consts, code.co_names, code.co_filename


def _in_library(filename: str) -> bool:
    return os.path.realpath(filename).startswith(_LIBRARY)


class _Recording:
    """What the watcher saw during the learner's calls: the reference, and which ``others`` ran."""

    def __init__(self, reference: Callable, others: dict[int, tuple[CodeType, str]]):
        self.ref_code = getattr(reference, "__code__", None)
        self.ref_file = getattr(self.ref_code, "co_filename", None)
        library = self.ref_file is not None and _in_library(self.ref_file)
        self.ref_fingerprint = _fingerprint(self.ref_code) if library else None
        self.others = others
        self.called_reference = False
        self.calls: set[str] = set()

    def wrap(self, fn: Callable) -> Callable:
        """``fn``, watched while it runs."""

        def learner(**kwargs):
            global _recording
            _recording = self
            try:
                return fn(**kwargs)
            finally:
                _recording = None

        return learner

    def see(self, code: CodeType) -> None:
        if code.co_filename == self.ref_file and self._is_reference(code):
            self.called_reference = True  # only ever set: threads see codes concurrently
        other = self.others.get(id(code))
        if other is not None:
            self.calls.add(other[1])

    def _is_reference(self, code: CodeType) -> bool:
        """Called only for code from the reference's file."""
        if code is self.ref_code:
            return True
        return self.ref_fingerprint is not None and _fingerprint(code) == self.ref_fingerprint


# ----------------------------------------------------------------------------- watching threads


_recording: _Recording | None = None  # set only while the learner's function runs


def _watch(frame, event, arg):
    """The profile function of every watched thread: returns at once unless recording."""
    recording = _recording
    if recording is None or event != "call":
        return
    try:
        recording.see(frame.f_code)
    except Exception:  # a profiler that raises is switched off, and the error lands in the learner's code
        pass


@contextmanager
def _watching_every_thread() -> Iterator[None]:
    """Watch this thread, threads started meanwhile and (Python >= 3.12) all others; then restore."""
    here, started = sys.getprofile(), threading.getprofile()
    sys.setprofile(_watch)
    threading.setprofile(_watch)
    if _ALL_THREADS:
        threading.setprofile_all_threads(_watch)
    try:
        yield
    finally:
        if _ALL_THREADS:
            threading.setprofile_all_threads(started)
        threading.setprofile(started)
        sys.setprofile(here)
