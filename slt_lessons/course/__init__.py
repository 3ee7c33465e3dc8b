"""The course machinery: building lesson notebooks, self-checking, grading with nbgrader.

``FAST`` is true while a notebook is being graded (nbgrader sets ``NBGRADER_EXECUTION``;
``slt-course check`` sets ``SLT_FAST``): lessons shrink their heavy demonstrations then.

``FULL`` is the course-wide *full mode*, for a GPU or a long run: with ``SLT_FULL=1`` in the
environment (and not while grading), lessons that support it use larger ``n``, more chains and
longer training in their demonstrations (lesson 6 does; ``scripts/gpu-check.sh`` executes it so).
The default, neither fast nor full, is what a learner runs on a laptop CPU.
"""

import os

FAST: bool = bool(os.environ.get("NBGRADER_EXECUTION") or os.environ.get("SLT_FAST"))
FULL: bool = bool(os.environ.get("SLT_FULL")) and not FAST

__all__ = ["FAST", "FULL"]
