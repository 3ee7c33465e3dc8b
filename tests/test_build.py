"""The build: lesson files -> nbgrader source -> learner and instructor versions, and drift."""

import inspect
import textwrap
import shutil

import nbformat
import pytest

from slt_lessons.checks.registry import get
from slt_lessons.course.build import build
from slt_lessons.course.lessonfile import exercise_ids, parse, graded_cell_source, to_notebook
from slt_lessons.course.paths import CourseError, Repo


def test_committed_files_do_not_drift(repo):
    assert build(repo, check=True) == []


def _copy_repo(repo, tmp_path):
    for name in ("course", "exercises", "solutions"):
        shutil.copytree(repo.root / name, tmp_path / name)
    return Repo(tmp_path)


def test_drift_is_detected(repo, tmp_path):
    copy = _copy_repo(repo, tmp_path)
    lesson = copy.lessons / "l1_posteriors.py"
    lesson.write_text(lesson.read_text().replace("# ## 1. Likelihood, prior, posterior", "# ## 1. Likelihoods"))
    problems = build(copy, check=True, only=["l1_posteriors"])
    assert any("course/source/l1_posteriors" in p for p in problems)
    assert any("exercises/l1_posteriors" in p for p in problems)
    assert any("solutions/l1_posteriors" in p for p in problems)


def test_an_edited_learner_version_is_drift(repo, tmp_path):
    copy = _copy_repo(repo, tmp_path)
    nb_path = copy.exercises / "l1_posteriors" / "l1_posteriors.ipynb"
    nb = nbformat.read(nb_path, as_version=4)
    nb.cells[0].source += "\nextra"
    nbformat.write(nb, nb_path)
    assert build(copy, check=True, only=["l1_posteriors"]) == ["exercises/l1_posteriors/l1_posteriors.ipynb differs from what the build makes from course/lessons/l1_posteriors.py"]


def _lessons(repo):
    return [a for a in repo.assignments()]


def test_every_answer_cell_is_the_library_source(repo):
    for a in _lessons(repo):
        nb = nbformat.read(repo.source_notebook(a), as_version=4)
        answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in nb.cells
                   if c.metadata.get("nbgrader", {}).get("solution")}
        for ex_id in exercise_ids(repo.lessons / f"{a}.py"):
            shown = "\n".join(l for l in answers[ex_id.replace(".", "-")].splitlines() if "### " not in l)
            library = textwrap.dedent(inspect.getsource(get(ex_id).reference))
            assert shown.strip() == library.strip(), ex_id


def test_learner_versions_hide_solutions_and_hidden_tests(repo):
    for a in _lessons(repo):
        text = (repo.exercises / a / f"{a}.ipynb").read_text()
        assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text and 'suite=\\"hidden\\"' not in text
        nb = nbformat.read(repo.exercises / a / f"{a}.ipynb", as_version=4)
        answers = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")]
        assert answers and all("raise NotImplementedError()" in c.source for c in answers)


def test_each_lesson_has_at_least_five_graded_exercises_with_hidden_tests(repo):
    for a in _lessons(repo):
        nb = nbformat.read(repo.source_notebook(a), as_version=4)
        tests = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
        assert len(tests) >= 5, a
        assert all("### BEGIN HIDDEN TESTS" in c.source for c in tests)


def test_test_cells_depend_only_on_their_own_answer(repo):
    """A test cell names only the check and its own exercise's function."""
    for a in _lessons(repo):
        nb = nbformat.read(repo.source_notebook(a), as_version=4)
        for c in nb.cells:
            meta = c.metadata.get("nbgrader", {})
            if meta.get("grade"):
                ex_id = meta["grade_id"].removesuffix("-test").replace("-", ".", 1)
                name = get(ex_id).function_name
                assert c.source == graded_cell_source(ex_id, name)


def test_the_last_cell_of_each_lesson_names_a_check_command_that_works_as_written(repo):
    """The README's set-up puts the learner's copy in my-work/; from there the command runs unactivated."""
    for a in repo.assignments():
        last = nbformat.read(repo.solutions / a / f"{a}.ipynb", as_version=4).cells[-1]
        assert last.cell_type == "markdown", a
        assert last.source == (
            "Check your whole notebook, hidden tests included, from the repository root: "
            f"`.venv/bin/slt-course check my-work/{a}/{a}.ipynb`\n(that is where the README's set-up puts your copy; "
            f"with the environment activated, `slt-course check {a}.ipynb` in this folder works too)."
        ), a


def test_lesson_file_errors_name_the_line(tmp_path):
    bad = tmp_path / "x.py"
    bad.write_text("# %% [markdown]\n# hi\n\n# %% [exercize] a.b\n")
    with pytest.raises(CourseError, match=r"x.py:4: unknown cell kind"):
        parse(bad.read_text(), str(bad))
    bad.write_text("# %% [exercise] posterior.nonexistent points=1\n")
    with pytest.raises(CourseError, match=r"x.py:1: unknown exercise id"):
        to_notebook(bad)
    bad.write_text("# %% [markdown]\nnot a comment\n")
    with pytest.raises(CourseError, match=r"x.py:2: a markdown line"):
        to_notebook(bad)


def test_answers_never_call_another_exercise_by_bare_name(repo):
    """An answer that used another exercise's function by bare name would run the learner's
    version of it, so one broken exercise could sink another (call it through its module)."""
    import ast

    for a in _lessons(repo):
        ids = exercise_ids(repo.lessons / f"{a}.py")
        names = {get(i).function_name for i in ids}
        for i in ids:
            tree = ast.parse(textwrap.dedent(inspect.getsource(get(i).reference)))
            used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
            assert not (used & (names - {get(i).function_name})), (i, used & names)
