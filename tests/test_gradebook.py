"""What ``slt-course grade`` keeps in nbgrader's gradebook and grades.csv across regrades, and the
class folder that lets nbgrader's own commands work on it."""

from __future__ import annotations

import csv
import sqlite3
import sys

import nbformat
import pytest

from slt_lessons.course import grading
from slt_lessons.course.cli import nbgrader_command
from slt_lessons.course.engine import Limits
from slt_lessons.course.paths import prepare_root

LIMITS = Limits(exercise_s=30, submission_s=300)


def _submit(root, student, a, nb_path):
    folder = root / "submitted" / student / a
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nbformat.read(nb_path, as_version=4), folder / f"{a}.ipynb")
    (folder / "timestamp.txt").write_text("2026-11-30 12:00:00.000000 UTC\n")


def _rows(root):
    return {(r["assignment"], r["student_id"]): r for r in csv.DictReader((root / "grades.csv").open())}


@pytest.mark.slow
def test_a_partial_regrade_changes_only_its_own_rows_and_nonsubmissions_count_zero(repo, tmp_path):
    l1, l2 = "l1_posteriors", "l2_free_energy"
    _submit(tmp_path, "alice", l1, repo.solutions / l1 / f"{l1}.ipynb")
    _submit(tmp_path, "alice", l2, repo.exercises / l2 / f"{l2}.ipynb")
    _submit(tmp_path, "bob", l1, repo.exercises / l1 / f"{l1}.ipynb")
    grading.grade(repo, tmp_path, workers=2, limits=LIMITS, log=lambda s: None)
    first = _rows(tmp_path)
    # bob submitted no lesson 2: 0 in the export, as in nbgrader's own, with no submission time
    assert first[l2, "bob"]["score"] == "0.0" and first[l2, "bob"]["timestamp"] == ""
    assert first[l1, "alice"]["timestamp"] == "2026-11-30 12:00:00"

    _submit(tmp_path, "bob", l1, repo.solutions / l1 / f"{l1}.ipynb")  # bob's corrected notebook
    grades = grading.grade(repo, tmp_path, [l1], students=["bob"], limits=LIMITS, log=lambda s: None)
    second = _rows(tmp_path)
    assert float(second[l1, "bob"]["score"]) == 15 and float(first[l1, "bob"]["score"]) == 0
    assert {k: v for k, v in second.items() if k != (l1, "bob")} == {k: v for k, v in first.items() if k != (l1, "bob")}
    assert {(g.assignment, g.student) for g in grades} == {(l1, "alice"), (l1, "bob"), (l2, "alice")}

    with pytest.raises(grading.CourseError, match="no submissions of l2_free_energy by bob"):
        grading.grade(repo, tmp_path, [l2], students=["bob"], limits=LIMITS, log=lambda s: None)


def test_a_gradebook_left_without_its_alembic_version_is_repaired(repo, tmp_path):
    """nbgrader run without ``alembic`` on PATH leaves such a gradebook; ``nbgrader db upgrade``
    cannot repair it, and every later nbgrader command fails on it."""
    from nbgrader.api import Gradebook, get_alembic_version

    from slt_lessons.course.paths import use_this_environment

    use_this_environment()
    with Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}"):
        pass
    with sqlite3.connect(tmp_path / "gradebook.db") as con:
        con.execute("DROP TABLE alembic_version")
    prepare_root(repo, tmp_path)
    with sqlite3.connect(tmp_path / "gradebook.db") as con:
        assert con.execute("SELECT version_num FROM alembic_version").fetchall() == [(get_alembic_version(),)]


def test_the_class_folder_gets_a_config_that_loads_the_course_and_keeps_the_class_settings(repo, tmp_path):
    root = prepare_root(repo, tmp_path / "class")
    config = root / "nbgrader_config.py"
    with config.open("a") as f:
        f.write('c.LateSubmissionPlugin.penalty_method = "zero"\n')
    prepare_root(repo, root)  # again: the instructor's line stays
    loaded = grading.class_config(root)
    assert loaded.CourseDirectory.root == str(root)
    assert loaded.Exchange.root == str(root / "exchange") and loaded.ExportPlugin.to == str(root / "grades.csv")
    assert grading.late_penalty_rule(root).penalty_method == "zero"


def test_student_commands_get_a_cache_of_their_own_and_instructor_commands_do_not(tmp_path):
    cmd = nbgrader_command(tmp_path, ["fetch_feedback", "l1_posteriors", "--student=alice"])
    assert cmd[:3] == [sys.executable, "-m", "nbgrader"]
    assert cmd[-1] == f"--Exchange.cache={tmp_path / 'student-caches' / 'alice'}"
    assert nbgrader_command(tmp_path, ["submit", "l1_posteriors", "--student", "bob"])[-1].endswith("student-caches/bob")
    assert "--Exchange.cache" not in " ".join(nbgrader_command(tmp_path, ["collect", "l1_posteriors", "--student=bob"]))
    mine = ["submit", "l1_posteriors", "--student=bob", "--Exchange.cache=/x"]
    assert nbgrader_command(tmp_path, mine)[3:] == mine
