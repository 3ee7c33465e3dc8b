"""The whole pipeline through real nbgrader and real Jupyter kernels.

Slow by nature (each notebook runs in a fresh kernel); the grading of every lesson runs once per
session and is shared by the assertions below.
"""

import copy
import csv
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-m", "slt_lessons.course.cli"]


def run_cli(*args, cwd=None, timeout=900):
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=timeout)


@pytest.fixture(scope="module")
def demo(repo, tmp_path_factory):
    root = tmp_path_factory.mktemp("instructor")
    res = run_cli("demo", "--root", root, cwd=repo.root)
    rows = list(csv.DictReader((root / "grades.csv").open())) if (root / "grades.csv").is_file() else []
    return res, rows


def test_demo_grades_reference_full_and_untouched_zero(demo, repo):
    res, rows = demo
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    grades = {(r["assignment"], r["student_id"]): (float(r["score"]), float(r["max_score"])) for r in rows}
    for a in repo.assignments():
        score, top = grades[(a, "reference")]
        assert top > 0 and score == top, (a, score, top)
        assert grades[(a, "untouched")][0] == 0, a
    assert "reference solutions: full marks; untouched learner versions: zero" in res.stdout


def test_self_check_of_the_untouched_lesson_reports_zero_and_fails(repo):
    res = run_cli("check", repo.exercises / "l1_posteriors" / "l1_posteriors.ipynb", cwd=repo.root)
    assert res.returncode == 1
    assert "l1_posteriors: 0 / 15 points" in res.stdout
    assert "not implemented yet" in res.stdout


def test_self_check_of_the_solution_reports_full_marks(repo):
    res = run_cli("check", repo.solutions / "l1_posteriors" / "l1_posteriors.ipynb", cwd=repo.root)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "l1_posteriors: 15 / 15 points" in res.stdout


def test_self_check_runs_the_hidden_tests(repo, tmp_path):
    """An answer that passes the visible cases but not the hidden ones loses its points."""
    nb = nbformat.read(repo.exercises / "l1_posteriors" / "l1_posteriors.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "posterior-gaussian_log_likelihood":
            # right on the small visible cases, wrong dtype on the large float32 hidden one
            cell.source = ("def gaussian_log_likelihood(y, mean, sigma):\n"
                           "    out = -0.5 * ((y - mean) / sigma) ** 2 - math.log(sigma) - 0.5 * math.log(2 * math.pi)\n"
                           "    return out if y.numel() < 100 else out.double()  # float64 for large inputs\n")
    path = tmp_path / "l1_posteriors.ipynb"
    nbformat.write(nb, path)
    res = run_cli("check", path, cwd=repo.root)
    assert res.returncode == 1
    lines = res.stdout.splitlines()
    row = next(i for i, l in enumerate(lines) if l.strip().startswith("posterior.gaussian_log_likelihood "))
    assert "0 / 1" in lines[row] and "visible 4/4" in lines[row] and "hidden" in lines[row]
    wrong = lines[row + 1].strip()
    assert wrong.startswith("WRONG ") and "float32" in wrong and "wrong dtype" in wrong  # the case's label, then why


def test_clear_errors_for_missing_and_unknown_notebooks(repo, tmp_path):
    res = run_cli("check", tmp_path / "nope.ipynb", cwd=repo.root)
    assert res.returncode == 2 and "no such notebook" in res.stderr
    other = tmp_path / "homework.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")]), other)
    res = run_cli("check", other, cwd=repo.root)
    assert res.returncode == 2 and "not a notebook of any known assignment" in res.stderr


def test_kernel_death_is_reported(repo, tmp_path):
    nb = nbformat.read(repo.solutions / "l1_posteriors" / "l1_posteriors.ipynb", as_version=4)
    idx = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == "posterior-posterior_mean")
    nb.cells[idx].source = "import os\nos._exit(1)"
    path = tmp_path / "l1_posteriors.ipynb"
    nbformat.write(nb, path)
    res = run_cli("check", path, cwd=repo.root)
    assert res.returncode == 1
    assert "kernel died" in res.stdout


def test_self_check_of_a_renamed_notebook_with_stripped_metadata(repo, tmp_path):
    nb = nbformat.read(repo.solutions / "l1_posteriors" / "l1_posteriors.ipynb", as_version=4)
    for cell in nb.cells:
        cell.metadata.pop("nbgrader", None)
    path = tmp_path / "my work.ipynb"
    nbformat.write(nb, path)
    res = run_cli("check", path, cwd=repo.root)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "l1_posteriors: 15 / 15 points" in res.stdout and "metadata is missing" in res.stdout


def test_self_check_without_the_course_source_uses_the_visible_checks(repo, tmp_path):
    """A learner who has only the learner notebooks (no course/, so no hidden tests)."""
    import shutil

    from slt_lessons.course.selfcheck import check_notebook, table

    shutil.copy(repo.exercises / "l1_posteriors" / "l1_posteriors.ipynb", tmp_path / "l1_posteriors.ipynb")
    nb = nbformat.read(tmp_path / "l1_posteriors.ipynb", as_version=4)
    sol = nbformat.read(repo.solutions / "l1_posteriors" / "l1_posteriors.ipynb", as_version=4)
    answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in sol.cells if c.metadata.get("nbgrader", {}).get("solution")}
    for c in nb.cells:
        gid = c.metadata.get("nbgrader", {}).get("grade_id")
        if gid in answers and gid != "posterior-sample_grid":
            c.source = answers[gid]
    nbformat.write(nb, tmp_path / "l1_posteriors.ipynb")
    result = check_notebook(None, tmp_path / "l1_posteriors.ipynb")
    assert (result.score, result.max_score) == (13, 15)
    assert "visible checks only" in table(result)
    assert all("hidden checks" not in e.feedback for e in result.exercises)


def test_self_check_of_a_notebook_in_the_temporary_folder_does_not_copy_itself(repo, tmp_path):
    """A learner's notebook in /tmp: the kernel's copy of its folder lives inside that folder, and
    must not copy itself (it once did, recursively, until the disk was full); hidden folders such as
    a .venv beside the notebook stay behind."""
    import os
    import shutil

    shutil.copy(repo.solutions / "l4_sgld" / "l4_sgld.ipynb", tmp_path / "l4_sgld.ipynb")
    (tmp_path / "data.txt").write_text("beside the notebook\n")
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "big.bin").write_bytes(b"0" * 1024)
    res = subprocess.run([*CLI, "check", tmp_path / "l4_sgld.ipynb"], capture_output=True, text=True,
                         cwd=repo.root, timeout=900, env={**os.environ, "TMPDIR": str(tmp_path)})
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert "l4_sgld: 12 / 12 points" in res.stdout
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("slt-grade-")]  # the copy is gone


def test_the_kernels_copy_of_a_folder_keeps_files_and_leaves_out_hidden_folders_and_itself(tmp_path):
    from slt_lessons.course import engine

    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "x.csv").write_text("1,2\n")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("ref\n")
    dest = tmp_path / "grading" / "work"
    dest.parent.mkdir()
    engine._private_copy(tmp_path, dest)
    copied = sorted(str(p.relative_to(dest)) for p in dest.rglob("*"))
    assert copied == ["sub", "sub/x.csv"]


def test_sandbox_ids_are_locked_machine_wide_whatever_tmpdir_says(tmp_path, monkeypatch):
    """Graders with different $TMPDIR must not hand out the same sandbox user id (one's clean-up
    would kill the other's kernel)."""
    import tempfile

    from slt_lessons.course.sandbox import UidPool

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)
    assert tempfile.gettempdir() == str(tmp_path)
    assert UidPool().lockdir == UidPool(lockdir=None).lockdir == Path("/tmp/slt-course-sandbox-uids")
