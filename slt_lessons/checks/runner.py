"""Running a check: call the learner's function on each case, then judge the outputs.

The two halves are separate on purpose. :func:`collect` runs the learner's code and records
what it returned (or raised); :func:`judge` needs only those records, the seeded cases and
the reference, so it can run in another process than the learner's code.
"""

from __future__ import annotations

import copy
import numbers
import traceback
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Callable

import numpy as np
import torch

from slt_lessons.checks import registry
from slt_lessons.device import get_device

__all__ = ["check", "passes", "collect", "judge", "yours", "CheckResult", "CheckFailed", "Outcome", "Unsupported"]


class CheckFailed(AssertionError):
    """Raised by :func:`check` when an implementation is wrong; the message is the verdict."""


@dataclass
class Outcome:
    """What a function did on one case: its output, or the error it raised."""

    label: str
    output: Any = None
    error: str | None = None
    raised: tuple[str, ...] = ()  # the names of the raised exception's classes (it and its bases)


@dataclass(frozen=True)
class Unsupported:
    """Recorded in place of a result the checks cannot use (a numpy array, a dict, an object of
    the learner's own class): it names the type, and loads without the learner's classes."""

    type_name: str
    module: str

    @classmethod
    def of(cls, value: Any) -> "Unsupported":
        kind = np.ndarray if isinstance(value, np.ndarray) else type(value)
        return cls(kind.__qualname__, kind.__module__)

    def __str__(self) -> str:
        if (self.module, self.type_name) == ("numpy", "ndarray"):
            return "a numpy.ndarray where a torch tensor is expected (convert it with torch.as_tensor)"
        name = self.type_name if self.module == "builtins" else f"{self.module}.{self.type_name}"
        return f"an object of type {name}, which the check cannot use"


@dataclass
class CaseVerdict:
    label: str
    message: str | None  # None: correct


@dataclass
class CheckResult:
    exercise_id: str
    suite: str
    device: str
    verdicts: list[CaseVerdict] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.verdicts) and all(v.message is None for v in self.verdicts)

    @property
    def n_passed(self) -> int:
        return sum(v.message is None for v in self.verdicts)

    def __str__(self) -> str:
        head = (
            f"{self.exercise_id} ({self.suite} checks, on {self.device}): "
            f"{self.n_passed}/{len(self.verdicts)} cases correct"
        )
        lines = [("PASSED " if self.passed else "FAILED ") + head]
        for v in self.verdicts:
            mark = "  ok   " if v.message is None else "  WRONG"
            lines.append(f"{mark} {v.label}")
            if v.message:
                lines.extend("          " + line for line in v.message.splitlines())
        return "\n".join(lines)

    def without_details(self) -> str:
        """The report with each case's verdict and label only: what a learner may see of the hidden
        suite (its expected values would give the cases away to next year's class)."""
        lines = str(self).splitlines()[:1]
        lines += [("  ok    " if v.message is None else "  WRONG ") + v.label for v in self.verdicts]
        if not self.passed:
            lines.append("          (the hidden cases' inputs and expected values are not shown)")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<CheckResult {self.exercise_id} ({self.suite}): {self.n_passed}/{len(self.verdicts)} cases correct>"

    def _ipython_display_(self) -> None:
        """Nothing: :func:`check` has printed the report, and a notebook shows it once."""


def _fresh(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Deep copies, so a function that modifies its inputs cannot affect another call."""
    return {k: (v.clone() if isinstance(v, torch.Tensor) else copy.deepcopy(v)) for k, v in kwargs.items()}


def _short_traceback(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    learner = [f for f in frames if "slt_lessons" not in f.filename]  # none: the call itself failed
    where = f" (line {learner[-1].lineno}: {learner[-1].line})" if learner and learner[-1].line else ""
    return f"raised {type(exc).__name__}: {exc}{where}"


def collect(exercise_id: str, fn: Callable, suite: str = "visible", device=None) -> list[Outcome]:
    """Call ``fn`` on every case of ``suite`` and record its outputs (made portable: tensors
    detached, unusable values replaced by an :class:`Unsupported` marker) or errors."""
    ex = registry.get(exercise_id)
    if suite not in registry.SUITES:
        raise ValueError(f"suite must be one of {registry.SUITES}, got {suite!r}")
    if not callable(fn):
        raise ValueError(f"the function to check must be callable, got {registry.describe(fn)}")
    outcomes = []
    for case in ex.cases(suite, get_device(device)):
        kwargs = _fresh(case.kwargs)
        generators = {k: v.get_state() for k, v in kwargs.items() if isinstance(v, torch.Generator)}
        global_rng = _global_rng_state() if generators else None
        try:
            out = fn(**kwargs)
        except NotImplementedError:
            outcomes.append(Outcome(case.label, error="not implemented yet (raised NotImplementedError)"))
            continue
        except Exception as exc:  # the learner's bug is the verdict, not a crash of the check
            kinds = tuple(c.__name__ for c in type(exc).__mro__)
            outcomes.append(Outcome(case.label, error=_short_traceback(exc), raised=kinds))
            continue
        if global_rng is not None and not _same_rng_state(global_rng, _global_rng_state()):
            outcomes.append(Outcome(case.label, error=(
                "used (or reseeded) torch's global random state; take all randomness from the `generator` "
                "argument, e.g. torch.randn(..., generator=generator)")))
            continue
        unused = [f"`{k}`" for k, state in generators.items() if torch.equal(state, kwargs[k].get_state())]
        if unused:
            outcomes.append(Outcome(case.label, error=(
                f"did not draw from {', '.join(unused)} (its state is unchanged after the call): take the "
                "randomness from the generator you are given, not from a copy of it or a new one with its seed")))
            continue
        changed = _changed_inputs(case.kwargs, kwargs)
        if changed:
            outcomes.append(Outcome(case.label, error=(
                f"changed its input {', '.join(changed)} in place; return a new tensor and leave the "
                "inputs as they were (the caller, e.g. a demonstration, still uses them)")))
            continue
        outcomes.append(Outcome(case.label, output=_portable(out)))
    return outcomes


def _global_rng_state() -> list[torch.Tensor]:
    """torch's global random states: the CPU generator's, and each CUDA device's where CUDA is up."""
    states = [torch.random.get_rng_state()]
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states += torch.cuda.get_rng_state_all()
    return states


def _same_rng_state(before: list[torch.Tensor], after: list[torch.Tensor]) -> bool:
    return len(before) == len(after) and all(torch.equal(a, b) for a, b in zip(before, after))


def _changed_inputs(original: dict[str, Any], passed: dict[str, Any]) -> list[str]:
    """The names of the tensor arguments whose values differ from the case's after the call."""
    changed = []
    for name, before in original.items():
        after = passed[name]
        if isinstance(before, torch.Tensor) and isinstance(after, torch.Tensor):
            same = before.shape == after.shape and bool(
                ((before == after) | (torch.isnan(before) & torch.isnan(after))).all()
                if before.is_floating_point() or before.is_complex() else (before == after).all()
            )
            if not same:
                changed.append(f"`{name}`")
    return changed


_PLAIN = (bool, int, float, complex, str, Fraction, Unsupported)
# numpy's scalars (and subclasses of int or float) are registered with these ABCs
_NUMBERS = ((numbers.Integral, int), (numbers.Rational, Fraction), (numbers.Real, float), (numbers.Complex, complex))


def _portable(value: Any) -> Any:
    """A result as it is judged, and saved when grading: tensors detached, tuples and lists of
    portable values, plain Python numbers (a numpy scalar becomes one), strings and ``None``;
    anything else becomes an :class:`Unsupported` marker. Loads without the learner's classes."""
    if isinstance(value, torch.Tensor):
        return value.detach()
    if isinstance(value, tuple):
        return tuple(_portable(v) for v in value)
    if isinstance(value, list):
        return [_portable(v) for v in value]
    if value is None or type(value) in _PLAIN:
        return value
    for kind, plain in _NUMBERS:
        if isinstance(value, kind):
            return plain(value)
    return Unsupported.of(value)


def _unsupported(got: Any) -> str | None:
    """The verdict on a result that is, or holds, an :class:`Unsupported` marker; else None."""
    marker = _marker(got)
    if marker is None:
        return None
    holder = "" if marker is got else f"a {type(got).__name__} holding "
    return f"returned {holder}{marker}"


def _marker(value: Any) -> Unsupported | None:
    if isinstance(value, Unsupported):
        return value
    if isinstance(value, (tuple, list)):
        return next(filter(None, map(_marker, value)), None)
    return None


def judge(exercise_id: str, outcomes: list[Outcome], suite: str = "visible", device=None) -> CheckResult:
    """Judge recorded outcomes against the reference on the same seeded cases."""
    ex = registry.get(exercise_id)
    dev = get_device(device)
    cases = list(ex.cases(suite, dev))
    result = CheckResult(exercise_id, suite, dev.type)
    if len(outcomes) != len(cases):
        result.verdicts.append(CaseVerdict("all cases", f"expected {len(cases)} results, got {len(outcomes)}"))
        return result
    for case, outcome in zip(cases, outcomes):
        result.verdicts.append(CaseVerdict(case.label, _case_verdict(ex, case, outcome)))
    return result


def _case_verdict(ex: registry.Exercise, case: registry.Case, outcome: Outcome) -> str | None:
    if case.raises is not None:
        want = case.raises.__name__
        if want in outcome.raised:
            return None
        did = outcome.error if outcome.error is not None else f"returned {registry.describe(_portable(outcome.output))}"
        return f"this input must raise {want} (the text asks for it); got instead: {did}"
    if outcome.error is not None:
        return outcome.error
    got = _portable(outcome.output)
    message = _unsupported(got)
    if message is not None:
        return message
    expected = _portable(ex.reference(**_fresh(case.kwargs)))
    try:
        return ex.judge(case, expected, got)
    except Exception as exc:  # a malformed output must give a verdict, not crash the judge
        return f"could not compare the result ({type(exc).__name__}: {exc}); got {registry.describe(got)}"


def check(exercise_id: str, fn: Callable, suite: str = "visible", *, device=None, raise_on_fail: bool = True) -> CheckResult:
    """Check ``fn`` against the reference of ``exercise_id`` on the cases of ``suite``.

    Prints the verdict, once. Raises :class:`CheckFailed` (an ``AssertionError``) when any case
    is wrong, unless ``raise_on_fail=False``; its message only counts the wrong cases, so the
    notebook shows the report a single time. Returns the :class:`CheckResult`.
    """
    __tracebackhide__ = True  # IPython: the learner's cell, not this frame, is where to look
    result = judge(exercise_id, collect(exercise_id, fn, suite, device), suite, device)
    print(result)
    if not result.passed and raise_on_fail:
        wrong = len(result.verdicts) - result.n_passed
        raise CheckFailed(
            f"{exercise_id}: {wrong} of {len(result.verdicts)} {suite} cases wrong (the report is printed above)"
        )
    return result


def passes(exercise_id: str, fn: Callable, suites=registry.SUITES, *, device=None) -> bool:
    """Whether ``fn`` is right on every case of ``suites`` (both by default), without printing."""
    return all(judge(exercise_id, collect(exercise_id, fn, s, device), s, device).passed for s in suites)


def yours(fn: Callable) -> Callable:
    """The learner's exercise function for a demonstration, or the reference while it is unwritten.

    ``fn`` is the function of an exercise's answer cell (looked up in the registry by its name).
    The returned function calls ``fn``; the first time ``fn`` raises ``NotImplementedError`` it
    prints one line saying so and from then on calls the course's reference instead. Any other
    error is the learner's to see, so it propagates.

    >>> K = yours(reduced_rank_K)      # in a lesson's demonstration cell
    """
    if not callable(fn):
        raise ValueError(f"yours() takes an exercise function, got {registry.describe(fn)}")
    name = getattr(fn, "__name__", "")
    matches = [registry.get(i) for i in registry.exercises() if i.rsplit(".", 1)[-1] == name]
    if len(matches) != 1:
        raise ValueError(f"yours() takes an exercise function; no single exercise has a function named {name!r}")
    ex = matches[0]
    state = {"fn": fn}

    def demo_fn(*args, **kwargs):
        if state["fn"] is fn:
            try:
                return fn(*args, **kwargs)
            except NotImplementedError:
                state["fn"] = ex.reference
                print(f"(`{name}` is not written yet: this demonstration uses the course's reference "
                      f"`{ex.reference.__module__}.{name}`)")
        return state["fn"](*args, **kwargs)

    demo_fn.__name__ = name
    demo_fn.__doc__ = fn.__doc__
    return demo_fn
