"""Broken and tampered submissions through the real grading engine (real kernels, real gradebook).

Lesson 1 gets the full matrix; every lesson gets the reference, the untouched version and a wrong
answer. Each exercise is graded on its own, so one broken answer costs only its own points.
"""

import csv
import shutil
import sys
import subprocess
from pathlib import Path

import nbformat
import pytest

from slt_lessons.course import grading
from slt_lessons.course.engine import Limits

pytestmark = pytest.mark.slow

A = "l1_posteriors"
LIMITS = Limits(exercise_s=15, submission_s=180)  # reference answers take well under 1.5 s each


def _solution(repo, a=A):
    return nbformat.read(repo.solutions / a / f"{a}.ipynb", as_version=4)


def _cell(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def _answer(nb, ex, source):
    _cell(nb, f"posterior-{ex}").source = source
    return nb


def make_class(repo):
    """student -> (notebook or None, expected score, phrase expected in the feedback)."""
    sol = lambda: _solution(repo)
    subs = {}
    subs["reference"] = (sol(), 12, "12 / 12")
    subs["untouched"] = (nbformat.read(repo.exercises / A / f"{A}.ipynb", as_version=4), 0, "not implemented yet")
    subs["wrong_hidden"] = (_answer(sol(), "gaussian_log_likelihood",
        "def gaussian_log_likelihood(y, mean, sigma):\n    y, mean = y.double(), mean.double()\n"
        "    return -0.5 * ((y - mean) / sigma) ** 2 - math.log(sigma) - 0.5 * math.log(2 * math.pi)\n"), 11, "wrong dtype")
    subs["exception"] = (_answer(sol(), "product_log_likelihood",
        "def product_log_likelihood(a, b, x, y, sigma):\n    raise ValueError('oops')\n"), 10, "raised ValueError: oops")
    subs["infinite_loop"] = (_answer(sol(), "posterior_mean", "while True:\n    pass\n"), 11, "ran longer than 15 s")
    subs["ignores_interrupt"] = (_answer(sol(), "credible_threshold",
        "import time\nwhile True:\n    try:\n        time.sleep(0.1)\n    except KeyboardInterrupt:\n        pass\n"), 10, "did not stop when interrupted")
    subs["kernel_death"] = (_answer(sol(), "normalize_log_density", "import os\nos._exit(1)\n"), 10, "kernel died")
    nb = sol()
    _cell(nb, "posterior-sample_grid-test").source = "pass  # all good"
    subs["edited_test"] = (nb, 12, "12 / 12")
    nb = sol()
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "posterior-sample_grid-test"]
    subs["deleted_test"] = (nb, 12, "12 / 12")
    nb = sol()
    for c in nb.cells:
        c.metadata.pop("nbgrader", None)
    subs["stripped_metadata"] = (nb, 12, "found by the function it defines")
    subs["patched_checker"] = (_answer(sol(), "posterior_mean",
        "import numpy.testing, slt_lessons.checks.runner as _r, slt_lessons.checks as _c\n"
        "numpy.testing.assert_allclose = lambda *a, **k: None\n"
        "_r.judge = lambda *a, **k: None\n_c.check = check = lambda *a, **k: None\n"
        "def posterior_mean(log_posterior, values, log_weights):\n    return values.mean()\n"), 11, "posterior.posterior_mean (visible checks")
    subs["calls_reference"] = (_answer(sol(), "gaussian_log_likelihood",
        "from slt_lessons.models import gaussian_log_likelihood as _ref\n"
        "def gaussian_log_likelihood(y, mean, sigma):\n    return _ref(y, mean, sigma)\n"), 11, "calls the course's reference")
    subs["wrong_type"] = (_answer(sol(), "posterior_mean",
        "def posterior_mean(log_posterior, values, log_weights):\n    return [1.0]\n"), 11, "expected a number")
    subs["wrong_shape"] = (_answer(sol(), "normalize_log_density",
        "def normalize_log_density(log_density, log_weights):\n"
        "    return (log_density - torch.logsumexp((log_density + log_weights).flatten(), 0)).flatten()\n"), 10, "wrong shape")
    # CPU-only machines have no second real device; torch's "meta" device stands in for one
    subs["wrong_device"] = (_answer(sol(), "normalize_log_density",
        "def normalize_log_density(log_density, log_weights):\n"
        "    return (log_density - torch.logsumexp((log_density + log_weights).flatten(), 0)).to('meta')\n"), 10, "wrong device")
    subs["enormous_output"] = (_answer(sol(), "posterior_mean",
        "for _ in range(200_000):\n    print('x' * 100)\n"
        "def posterior_mean(log_posterior, values, log_weights):\n"
        "    return (values * torch.exp(log_posterior + log_weights)).sum()\n"), 12, "12 / 12")
    subs["missing_notebook"] = (None, 0, "no notebook was submitted")
    subs["other_assignment"] = (nbformat.read(repo.solutions / "l2_free_energy" / "l2_free_energy.ipynb", as_version=4), 0, "looks like a notebook of l2_free_energy")
    return subs


def _submit(root, student, a, nb):
    folder = root / "submitted" / student / a
    folder.mkdir(parents=True, exist_ok=True)
    if nb is not None:
        nbformat.write(nb, folder / f"{a}.ipynb")
    return folder


@pytest.fixture(scope="module")
def graded(repo, tmp_path_factory):
    root = tmp_path_factory.mktemp("matrix")
    subs = make_class(repo)
    before = {}
    for student, (nb, _, _) in subs.items():
        folder = _submit(root, student, A, nb)
        before[student] = {p.name: p.read_bytes() for p in folder.iterdir()}
    grades = grading.grade(repo, root, [A], workers=2, limits=LIMITS, log=lambda s: None)
    return root, subs, {g.student: g for g in grades}, before


CASES = ["reference", "untouched", "wrong_hidden", "exception", "infinite_loop", "ignores_interrupt",
         "kernel_death", "edited_test", "deleted_test", "stripped_metadata", "patched_checker",
         "calls_reference", "wrong_type", "wrong_shape", "wrong_device", "enormous_output", "missing_notebook", "other_assignment"]


@pytest.mark.parametrize("student", CASES)
def test_each_bad_submission_gets_a_fair_grade_and_message(graded, student):
    root, subs, grades, before = graded
    _, expected, phrase = subs[student]
    assert grades[student].score == expected
    feedback = (root / "feedback" / student / A / "feedback.txt").read_text()
    assert phrase in feedback
    assert "BEGIN HIDDEN TESTS" not in feedback and 'suite="hidden"' not in feedback


def test_submissions_are_kept_untouched(graded):
    root, subs, _, before = graded
    for student in subs:
        folder = root / "submitted" / student / A
        assert {p.name: p.read_bytes() for p in folder.iterdir()} == before[student]


def test_grades_are_in_nbgrader_gradebook_and_csv(graded):
    from nbgrader.api import Gradebook

    root, subs, _, _ = graded
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        assert gb.find_submission(A, "kernel_death").score == 10
        assert gb.find_submission(A, "reference").needs_manual_grade is False
    rows = {r["student"]: float(r["score"]) for r in csv.DictReader((root / "grades.csv").open())}
    assert rows == {s: float(subs[s][1]) for s in subs}


@pytest.fixture(scope="module")
def small_class(repo, tmp_path_factory):
    subs = make_class(repo)
    picked = ["reference", "untouched", "wrong_hidden", "exception", "kernel_death", "stripped_metadata"]
    csvs = []
    for workers in (1, 1, 2):
        root = tmp_path_factory.mktemp(f"class{workers}")
        for s in picked:
            _submit(root, s, A, subs[s][0])
        grading.grade(repo, root, [A], workers=workers, limits=LIMITS, log=lambda s: None)
        csvs.append((root / "grades.csv").read_text())
    return csvs


def test_grading_twice_gives_identical_csvs(small_class):
    assert small_class[0] == small_class[1]


def test_parallel_grading_equals_serial_grading(small_class):
    assert small_class[0] == small_class[2]


@pytest.mark.parametrize("a", ["l1_posteriors", "l2_free_energy", "l3_learning_coefficient", "l4_sgld", "l5_llc"])
def test_every_lesson_grades_reference_untouched_and_a_wrong_answer(repo, tmp_path, a):
    if not (repo.solutions / a / f"{a}.ipynb").is_file():
        pytest.fail(f"{a} is not built")
    sol = _solution(repo, a)
    wrong = _solution(repo, a)
    first = next(c for c in wrong.cells if c.metadata.get("nbgrader", {}).get("solution"))
    name = first.source.split("def ", 1)[1].split("(", 1)[0]
    first.source = f"def {name}(*args, **kwargs):\n    return None\n"
    _submit(tmp_path, "reference", a, sol)
    _submit(tmp_path, "untouched", a, nbformat.read(repo.exercises / a / f"{a}.ipynb", as_version=4))
    _submit(tmp_path, "wrong", a, wrong)
    grades = {g.student: g for g in grading.grade(repo, tmp_path, [a], workers=2, log=lambda s: None)}
    top = grades["reference"].max_score
    first_points = float(next(c for c in sol.cells if c.metadata.get("nbgrader", {}).get("grade_id") == first.metadata["nbgrader"]["grade_id"] + "-test").metadata["nbgrader"]["points"])
    assert grades["reference"].score == top > 0
    # the default per-answer timeout is at least 10x the slowest reference answer (with 2 workers)
    import json
    timings = json.loads((tmp_path / "feedback" / "reference" / a / "grades.json").read_text())["exercises"]
    slowest = max(e["seconds"] for e in timings)
    assert 10 * slowest <= Limits().exercise_s, (a, slowest)
    assert grades["untouched"].score == 0
    assert grades["wrong"].score == top - first_points


def test_grade_cli_reports_and_writes_csv(repo, tmp_path):
    _submit(tmp_path, "alice", A, _solution(repo))
    res = subprocess.run([sys.executable, "-m", "slt_lessons.course.cli", "grade", "--root", str(tmp_path), "--workers", "2"],
                         capture_output=True, text=True, cwd=repo.root, timeout=600)
    assert res.returncode == 0, res.stderr
    assert "12/12" in res.stdout and (tmp_path / "grades.csv").is_file()
