"""nbgrader configuration of slt-course.

The committed course holds only the source notebooks (course/source). Everything an instructor
creates — the sqlite gradebook, release/, submitted/, autograded/, feedback/, the exchange and
grades.csv — lives in the class folder: $SLT_COURSE_ROOT, default <repository>/.instructor
(git-ignored). Every path is absolute, so nbgrader finds the same class from any working directory.
slt-course gives the class folder its own nbgrader_config.py, which loads this file and then the
class's own settings (late-submission penalty, a shared exchange). Set $SLT_DB_URL to use another
database (e.g. postgresql://user@host/gradebook).
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

# One machine: the exchange is a folder of the class (JupyterHub: set a shared one in the class's
# nbgrader_config.py). Exports go to the class folder, never into the repository: the same
# grades.csv that `slt-course grade` writes, with the same rows (every student of the gradebook
# for every assignment, 0 where nothing was submitted).
c.Exchange.root = str(root / "exchange")
# On one machine every submission belongs to the one user running the class, so collect's check
# that a submission's owner is the student it names would warn on each; set it back to True in the
# class's nbgrader_config.py when the students are Unix users of their own (JupyterHub).
c.ExchangeCollect.check_owner = False
c.ExportPlugin.to = str(root / "grades.csv")

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
