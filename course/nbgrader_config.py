"""nbgrader configuration of slt-course.

The committed course holds only the source notebooks (course/source). Everything an instructor
creates — the sqlite gradebook, submitted/, autograded/, feedback/, release/ — lives in the
instructor root: $SLT_COURSE_ROOT, default <repository>/.instructor (git-ignored). The database
path is absolute, so nbgrader finds the same gradebook from any working directory. Set
$SLT_DB_URL to use another database (e.g. postgresql://user@host/gradebook).
"""

import os
from pathlib import Path

c = get_config()  # noqa: F821 (provided by traitlets when nbgrader loads this file)

here = Path(__file__).resolve().parent
root = Path(os.environ.get("SLT_COURSE_ROOT") or here.parent / ".instructor").expanduser().resolve()

c.CourseDirectory.course_id = "slt-course"
c.CourseDirectory.root = str(root)
c.CourseDirectory.source_directory = str(here / "source")
c.CourseDirectory.db_url = os.environ.get("SLT_DB_URL") or f"sqlite:///{root / 'gradebook.db'}"

# Per-cell timeout: graded notebooks run in fast mode, where the slowest reference cell takes a few
# seconds; 120 s is more than 10x that on a 2-core machine with two graders running.
c.Execute.timeout = int(os.environ.get("SLT_CELL_TIMEOUT", "120"))
c.Execute.interrupt_on_timeout = True

# A deleted test cell is restored from the source instead of silently scoring 0.
c.OverwriteCells.add_missing_cells = True

# Feedback must not show the hidden tests' source.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
    "nbgrader.preprocessors.ClearHiddenTests",
]
