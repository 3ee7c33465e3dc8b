"""Checks that judge a learner's implementation of an exercise.

>>> from slt_lessons.checks import check, exercises
>>> check("posterior.log_likelihood", my_log_likelihood)   # raises CheckFailed if wrong

See :mod:`slt_lessons.checks.registry` for how an exercise is defined.
"""

from slt_lessons.checks.registry import exercises
from slt_lessons.checks.runner import CheckFailed, CheckResult, check, yours

__all__ = ["check", "yours", "exercises", "CheckResult", "CheckFailed"]
