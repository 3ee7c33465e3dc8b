"""Where the course lives: the repository's course/, exercises/, solutions/, and the instructor root."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

class CourseError(Exception):
    """A problem the user can fix (missing notebook, unknown assignment): printed without a traceback."""


@dataclass(frozen=True)
class Repo:
    root: Path

    @property
    def course(self) -> Path:
        return self.root / "course"

    @property
    def lessons(self) -> Path:
        return self.course / "lessons"

    @property
    def source(self) -> Path:
        return self.course / "source"

    @property
    def exercises(self) -> Path:
        return self.root / "exercises"

    @property
    def solutions(self) -> Path:
        return self.root / "solutions"

    def assignments(self) -> list[str]:
        """Assignment names, from the lesson files, in order."""
        return sorted(p.stem for p in self.lessons.glob("*.py"))

    def source_notebook(self, assignment: str) -> Path:
        return self.source / assignment / f"{assignment}.ipynb"


def find_repo(start: Path | None = None) -> Repo:
    """The course repository: ``$SLT_COURSE_REPO``, else the nearest parent of the working directory
    holding ``course/nbgrader_config.py``, else the checkout this package was installed from."""
    env = os.environ.get("SLT_COURSE_REPO")
    candidates = [Path(env)] if env else []
    here = (start or Path.cwd()).resolve()
    candidates += [here, *here.parents, Path(__file__).resolve().parents[2]]
    for c in candidates:
        if (c / "course" / "nbgrader_config.py").is_file():
            return Repo(c.resolve())
    raise CourseError(
        "cannot find the course repository (a folder with course/nbgrader_config.py): run from inside the "
        "slt-course checkout or set SLT_COURSE_REPO"
    )


def instructor_root(repo: Repo, override: str | os.PathLike | None = None) -> Path:
    """The instructor's course root (gradebook, submitted/, autograded/, feedback/), outside the
    committed files: ``--root``, else ``$SLT_COURSE_ROOT``, else ``<repo>/.instructor``."""
    root = override or os.environ.get("SLT_COURSE_ROOT") or (repo.root / ".instructor")
    return Path(root).expanduser().resolve()


CLASS_CONFIG = """\
\"\"\"nbgrader settings of this class, written by slt-course.

nbgrader reads this file when it runs from this folder, and `slt-course nbgrader ...` and
`slt-course formgrader` always read it. The course's settings come from the repository; what you
set below them overrides them. Do not move this folder without running `slt-course nbgrader` once
from its new place (it rewrites the two paths below only while they are still slt-course's).
\"\"\"
import os

c = get_config()  # noqa: F821 (provided by traitlets)
os.environ["SLT_COURSE_ROOT"] = {root!r}  # this class: the course settings derive their paths from it
load_subconfig({course_config!r})  # noqa: F821

# Your class's settings, for example:
# c.LateSubmissionPlugin.penalty_method = "zero"   # a late submission scores 0 (nbgrader's default: "none")
# c.Exchange.root = "/srv/nbgrader/exchange"       # JupyterHub: a shared exchange (default: exchange/ in this folder)
# c.ExchangeCollect.check_owner = True          # JupyterHub: each student is a Unix user of their own
"""


def prepare_root(repo: Repo, root: Path) -> Path:
    """Make ``root`` a class folder nbgrader can use from any working directory: create it, give it
    its ``nbgrader_config.py`` (loading the course's settings; the instructor's own lines below
    them are kept), and repair a gradebook left without its alembic version (an nbgrader run
    without ``alembic`` on PATH creates one, which ``nbgrader db upgrade`` cannot repair)."""
    use_this_environment()  # nbgrader creates a gradebook by running `alembic`
    root.mkdir(parents=True, exist_ok=True)
    config = root / "nbgrader_config.py"
    fresh = CLASS_CONFIG.format(root=str(root), course_config=str(repo.course / "nbgrader_config.py"))
    if not config.is_file():
        config.write_text(fresh)
    else:  # keep the instructor's lines; update only the two paths of slt-course's own lines
        ours = fresh.partition("# Your class's settings")[0]
        head, sep, tail = config.read_text().partition("# Your class's settings")
        if sep and "load_subconfig(" in head and head != ours:
            config.write_text(ours + sep + tail)
    _stamp_gradebook(root / "gradebook.db")
    return root


def _stamp_gradebook(db: Path) -> None:
    import sqlite3

    if not db.is_file():
        return
    with sqlite3.connect(db) as con:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if tables and "alembic_version" not in tables:
            from nbgrader.api import get_alembic_version  # runs `alembic`: prepare_root put it on PATH

            con.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
            con.execute("INSERT INTO alembic_version (version_num) VALUES (?)", (get_alembic_version(),))


def nbgrader_environment(root: Path) -> dict[str, str]:
    """The environment in which nbgrader, run from any folder, works on the class at ``root``:
    its ``nbgrader_config.py`` first on Jupyter's config path, this environment's programs first on PATH."""
    use_this_environment()
    env = dict(os.environ, SLT_COURSE_ROOT=str(root))
    env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(filter(None, [str(root), os.environ.get("JUPYTER_CONFIG_PATH")]))
    env.pop("SLT_FAST", None)
    return env


def use_this_environment() -> None:
    """Make helper programs that nbgrader runs by name (alembic, jupyter) and the ``python3``
    kernelspec come from this Python's environment, also when it is not activated."""
    import sys

    bindir = str(Path(sys.executable).parent)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != bindir:
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
    os.environ.setdefault("JUPYTER_PREFER_ENV_PATH", "1")
