"""The course machinery: building lesson notebooks, self-checking, grading with nbgrader.

``FAST`` is true while a notebook is being graded (nbgrader sets ``NBGRADER_EXECUTION``;
``slt-course check`` sets ``SLT_FAST``): lessons shrink their heavy demonstrations then.
"""

import os

FAST: bool = bool(os.environ.get("NBGRADER_EXECUTION") or os.environ.get("SLT_FAST"))

__all__ = ["FAST"]
