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


def use_this_environment() -> None:
    """Make helper programs that nbgrader runs by name (alembic, jupyter) and the ``python3``
    kernelspec come from this Python's environment, also when it is not activated."""
    import sys

    bindir = str(Path(sys.executable).parent)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != bindir:
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
    os.environ.setdefault("JUPYTER_PREFER_ENV_PATH", "1")
