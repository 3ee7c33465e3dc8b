"""Broken and tampered submissions through the real grading engine (real kernels, real gradebook).

Lesson 1 gets the full matrix; every lesson gets the reference, the untouched version and a wrong
answer. Each exercise is graded on its own, so one broken answer costs only its own points.
"""

import csv
import os
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


def _insert(nb, before_grade_id, source):
    """A cell the learner added, just above the cell ``before_grade_id``."""
    at = nb.cells.index(_cell(nb, before_grade_id))
    nb.cells.insert(at, nbformat.v4.new_code_cell(source))
    return nb


GOOD_MEAN = ("def posterior_mean(log_posterior, values, log_weights):\n"
             "    return (values * torch.exp(log_posterior + log_weights)).sum()\n")


def hostile(root):
    """Code that tries to harm the class: delete and overwrite other submissions, the gradebook,
    grades.csv, its own submission; a daemon that outlives grading; output on fd 1; 6 GB; a fork
    bomb; reading the hidden tests. It knows the class's absolute paths (the worst case)."""
    return f"""
import glob, os, subprocess
ROOT = {str(root)!r}
for path in glob.glob(ROOT + '/submitted/*/*/*.ipynb') + [ROOT + '/gradebook.db', ROOT + '/grades.csv']:
    for attempt in (os.remove, lambda p: open(p, 'w').write('{{}}')):
        try:
            attempt(path)
        except OSError:
            pass
for mine in glob.glob('*.ipynb'):
    open(mine, 'w').close()
subprocess.Popen(['setsid', 'sh', '-c', 'sleep 4; echo hacked > ' + ROOT + '/grades.csv; echo hacked > ' + ROOT + '/late.txt'])
os.system('head -c 20000000 /dev/zero')
try:
    hog = bytearray(6 * 2**30)
except MemoryError:
    pass
children = []
try:
    for _ in range(2000):
        children.append(subprocess.Popen(['sleep', '30']))
except OSError:
    pass
"""


def make_class(repo, root=None):
    """student -> (notebook or None, expected score, phrase expected in the feedback).

    ``root`` is the class's folder, which the hostile submission aims at."""
    sol = lambda: _solution(repo)
    subs = {}
    subs["reference"] = (sol(), 15, "15 / 15")
    subs["untouched"] = (nbformat.read(repo.exercises / A / f"{A}.ipynb", as_version=4), 0, "not implemented yet")
    subs["wrong_hidden"] = (_answer(sol(), "gaussian_log_likelihood",
        "def gaussian_log_likelihood(y, mean, sigma):\n    y, mean = y.double(), mean.double()\n"
        "    return -0.5 * ((y - mean) / sigma) ** 2 - math.log(sigma) - 0.5 * math.log(2 * math.pi)\n"), 14, "wrong dtype")
    subs["exception"] = (_answer(sol(), "product_log_likelihood",
        "def product_log_likelihood(a, b, x, y, sigma):\n    raise ValueError('oops')\n"), 13, "raised ValueError: oops")
    subs["infinite_loop"] = (_answer(sol(), "posterior_mean", "while True:\n    pass\n"), 14, "ran longer than 15 s")
    subs["ignores_interrupt"] = (_answer(sol(), "credible_threshold",
        "import time\nwhile True:\n    try:\n        time.sleep(0.1)\n    except KeyboardInterrupt:\n        pass\n"), 13, "did not stop when interrupted")
    subs["kernel_death"] = (_answer(sol(), "normalize_log_density", "import os\nos._exit(1)\n"), 13, "kernel died")
    nb = sol()
    _cell(nb, "posterior-sample_grid-test").source = "pass  # all good"
    subs["edited_test"] = (nb, 15, "15 / 15")
    nb = sol()
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "posterior-sample_grid-test"]
    subs["deleted_test"] = (nb, 15, "15 / 15")
    nb = sol()
    for c in nb.cells:
        c.metadata.pop("nbgrader", None)
    subs["stripped_metadata"] = (nb, 15, "found by the function it defines")
    subs["patched_checker"] = (_answer(sol(), "posterior_mean",
        "import numpy.testing, slt_lessons.checks.runner as _r, slt_lessons.checks as _c\n"
        "numpy.testing.assert_allclose = lambda *a, **k: None\n"
        "_r.judge = lambda *a, **k: None\n_c.check = check = lambda *a, **k: None\n"
        "def posterior_mean(log_posterior, values, log_weights):\n    return values.mean()\n"), 14, "posterior.posterior_mean (visible checks")
    subs["calls_reference"] = (_answer(sol(), "gaussian_log_likelihood",
        "from slt_lessons.models import gaussian_log_likelihood as _ref\n"
        "def gaussian_log_likelihood(y, mean, sigma):\n    return _ref(y, mean, sigma)\n"), 14, "calls the course's reference")
    subs["wrong_type"] = (_answer(sol(), "posterior_mean",
        "def posterior_mean(log_posterior, values, log_weights):\n    return [1.0]\n"), 14, "expected a 0-d tensor")
    subs["wrong_shape"] = (_answer(sol(), "normalize_log_density",
        "def normalize_log_density(log_density, log_weights):\n"
        "    return (log_density - torch.logsumexp((log_density + log_weights).flatten(), 0)).flatten()\n"), 13, "wrong shape")
    # CPU-only machines have no second real device; torch's "meta" device stands in for one
    subs["wrong_device"] = (_answer(sol(), "normalize_log_density",
        "def normalize_log_density(log_density, log_weights):\n"
        "    return (log_density - torch.logsumexp((log_density + log_weights).flatten(), 0)).to('meta')\n"), 13, "wrong device")
    subs["enormous_output"] = (_answer(sol(), "posterior_mean",
        "for _ in range(200_000):\n    print('x' * 100)\n"
        "def posterior_mean(log_posterior, values, log_weights):\n"
        "    return (values * torch.exp(log_posterior + log_weights)).sum()\n"), 15, "15 / 15")
    subs["missing_notebook"] = (None, 0, "no notebook was submitted")
    # the learner's notebook runs as they wrote it: helpers, imports in their own cells, corrections
    subs["helper_cell"] = (_answer(_insert(sol(), "posterior-posterior_mean", "def weighted_sum(v, lp, lw):\n    return (v * torch.exp(lp + lw)).sum()\n"),
        "posterior_mean", "def posterior_mean(log_posterior, values, log_weights):\n    return weighted_sum(values, log_posterior, log_weights)\n"), 15, "15 / 15")
    subs["import_cell"] = (_answer(_insert(sol(), "posterior-normalize_log_density", "from torch import logsumexp as lse\nfrom math import log\n"),
        "normalize_log_density", "def normalize_log_density(log_density, log_weights):\n"
        "    return log_density - lse((log_density + log_weights).flatten(), dim=0)\n"), 15, "15 / 15")
    subs["later_correction"] = (_insert(_answer(sol(), "posterior_mean", "def posterior_mean(log_posterior, values, log_weights):\n    return values.mean()\n"),
        "posterior-posterior_mean-test", GOOD_MEAN), 15, "15 / 15")
    subs["exit_in_extra_cell"] = (_insert(sol(), "posterior-normalize_log_density-test", "print('done')\nexit()\n"), 13,
        "was skipped: the Python kernel died")
    subs["depends_on_broken"] = (_answer(_answer(sol(), "gaussian_log_likelihood",
        "def gaussian_log_likelihood(y, mean, sigma):\n    return -0.5 * ((y - mean) / sigma) ** 2\n"), "product_log_likelihood",
        "def product_log_likelihood(a, b, x, y, sigma):\n"
        "    return gaussian_log_likelihood(y, (a * b)[..., None] * x, sigma).sum(-1)\n"), 12, "which did not pass its checks")
    # calls to the reference, however they are reached
    subs["reference_reloaded"] = (_answer(sol(), "gaussian_log_likelihood",
        "import importlib, slt_lessons.models as _m\n_m = importlib.reload(_m)\n"
        "def gaussian_log_likelihood(y, mean, sigma):\n    return _m.gaussian_log_likelihood(y, mean, sigma)\n"), 14, "calls the course's reference")
    subs["reference_code_copy"] = (_answer(sol(), "gaussian_log_likelihood",
        "import types, slt_lessons.models as _m\n"
        "gaussian_log_likelihood = types.FunctionType(_m.gaussian_log_likelihood.__code__.replace(), _m.__dict__)\n"), 14, "calls the course's reference")
    subs["reference_in_thread"] = (_answer(sol(), "gaussian_log_likelihood",
        "from concurrent.futures import ThreadPoolExecutor\nfrom slt_lessons import models as _m\n"
        "def gaussian_log_likelihood(y, mean, sigma):\n"
        "    with ThreadPoolExecutor(1) as pool:\n        return pool.submit(_m.gaussian_log_likelihood, y, mean, sigma).result()\n"), 14,
        "calls the course's reference")
    # messages a learner can act on
    subs["numpy_result"] = (_answer(sol(), "normalize_log_density", "def normalize_log_density(log_density, log_weights):\n"
        "    return (log_density - torch.logsumexp((log_density + log_weights).flatten(), 0)).numpy()\n"), 13, "numpy.ndarray")
    subs["thread_floods_output"] = (_answer(sol(), "credible_threshold",
        "import threading, time\ndef _flood():\n    while True:\n        print('x' * 1000)\n"
        "threading.Thread(target=_flood, daemon=True).start()\nwhile True:\n    try:\n        time.sleep(0.1)\n"
        "    except KeyboardInterrupt:\n        pass\n"), 13, "still printing output")
    # the sandbox: a submission can touch nothing but itself
    if root is not None:
        subs["hostile"] = (_insert(sol(), "posterior-gaussian_log_likelihood-test", hostile(root)), 15, "15 / 15")
    subs["reads_hidden_tests"] = (_answer(sol(), "posterior_mean", f"import os\n"
        f"if os.path.exists({str(repo.source_notebook(A))!r}) or os.path.exists({str(repo.solutions)!r}):\n"
        f"    {GOOD_MEAN.replace(chr(10), chr(10) + '    ')}"), 14, "no answer")
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
    subs = make_class(repo, root)
    before = {}
    for student, (nb, _, _) in subs.items():
        folder = _submit(root, student, A, nb)
        before[student] = {p.name: p.read_bytes() for p in folder.iterdir()}
    grades = grading.grade(repo, root, [A], workers=2, limits=LIMITS, log=lambda s: None)
    return root, subs, {g.student: g for g in grades}, before


CASES = ["reference", "untouched", "wrong_hidden", "exception", "infinite_loop", "ignores_interrupt",
         "kernel_death", "edited_test", "deleted_test", "stripped_metadata", "patched_checker",
         "calls_reference", "wrong_type", "wrong_shape", "wrong_device", "enormous_output", "missing_notebook",
         "other_assignment", "helper_cell", "import_cell", "later_correction", "exit_in_extra_cell",
         "depends_on_broken", "reference_reloaded", "reference_code_copy", "reference_in_thread", "numpy_result",
         "thread_floods_output", "hostile", "reads_hidden_tests"]


@pytest.mark.parametrize("student", CASES)
def test_each_bad_submission_gets_a_fair_grade_and_message(graded, student):
    root, subs, grades, before = graded
    _, expected, phrase = subs[student]
    assert grades[student].score == expected
    feedback = (root / "reports" / student / A / "report.txt").read_text()
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
        assert gb.find_submission(A, "kernel_death").score == 13
        assert gb.find_submission(A, "reference").needs_manual_grade is False
    rows = {r["student_id"]: float(r["score"]) for r in csv.DictReader((root / "grades.csv").open())}
    assert rows == {s: float(subs[s][1]) for s in subs}


def _orphaned_sandbox_uids() -> list[int]:
    """Sandbox user ids that no running kernel holds but that still have processes. An id in use
    (its lock held: a kernel of a test running meanwhile on the other pytest worker) is skipped;
    the others are locked while they are looked at, so no kernel can take them meanwhile."""
    import fcntl

    from slt_lessons.course import sandbox

    pool = sandbox.UIDS
    pool.lockdir.mkdir(mode=0o700, exist_ok=True)
    orphaned = []
    for uid in sandbox.SANDBOX_UIDS:
        fd = os.open(pool.lockdir / str(uid), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue
        else:
            if sandbox._processes_of(uid):
                orphaned.append(uid)
        finally:
            os.close(fd)
    return orphaned


def test_hostile_code_touched_nothing_outside_its_sandbox(graded):
    import time

    from slt_lessons.course import sandbox

    root, subs, grades, _ = graded
    time.sleep(5)  # the daemon it started would have written by now
    assert not (root / "late.txt").exists()
    assert "hacked" not in (root / "grades.csv").read_text()
    assert not _orphaned_sandbox_uids()
    assert grades["reference"].score == 15  # its notebook was neither deleted nor overwritten


@pytest.fixture(scope="module")
def small_class(repo, tmp_path_factory):
    subs = make_class(repo)
    picked = ["reference", "untouched", "wrong_hidden", "exception", "kernel_death", "stripped_metadata",
              "exit_in_extra_cell", "later_correction"]
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


@pytest.mark.parametrize("a", ["l1_posteriors", "l2_free_energy", "l3_learning_coefficient", "l4_sgld", "l5_llc",
                                                                                    "l6_phase_transitions", "l7_generalisation"])
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
    timings = json.loads((tmp_path / "reports" / "reference" / a / "grades.json").read_text())["exercises"]
    slowest = max(e["seconds"] for e in timings)
    assert 10 * slowest <= Limits().exercise_s, (a, slowest)
    assert grades["untouched"].score == 0
    assert grades["wrong"].score == top - first_points


def test_grade_cli_reports_and_writes_csv(repo, tmp_path):
    _submit(tmp_path, "alice", A, _solution(repo))
    res = subprocess.run([sys.executable, "-m", "slt_lessons.course.cli", "grade", "--root", str(tmp_path), "--workers", "2"],
                         capture_output=True, text=True, cwd=repo.root, timeout=600)
    assert res.returncode == 0, res.stderr
    assert "15/15" in res.stdout and (tmp_path / "grades.csv").is_file()


def test_one_bad_submission_never_stops_the_class(repo, tmp_path):
    """A cell with no "source" key, a near-miss folder name, a folder of no assignment and a folder
    with two notebooks: each gets its own verdict and message; everyone else is graded."""
    import json

    sol = _solution(repo)
    _submit(tmp_path, "reference", A, sol)
    raw = json.loads(nbformat.writes(sol))
    raw["cells"].insert(1, {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None})
    folder = _submit(tmp_path, "no_source_key", A, None)
    (folder / f"{A}.ipynb").write_text(json.dumps(raw))
    _submit(tmp_path, "capitalised", "L1_posteriors", None)
    nbformat.write(sol, tmp_path / "submitted" / "capitalised" / "L1_posteriors" / f"{A}.ipynb")
    nbformat.write(sol, _submit(tmp_path, "lost", "homework", None) / "homework.ipynb")
    two = _submit(tmp_path, "two_notebooks", A, None)
    nbformat.write(sol, two / f"{A} (1).ipynb")
    nbformat.write(nbformat.v4.new_notebook(), two / "Untitled.ipynb")
    log = []
    grades = {g.student: g for g in grading.grade(repo, tmp_path, workers=2, limits=LIMITS, log=log.append)}
    assert {s: g.score for s, g in grades.items()} == {"reference": 15, "no_source_key": 15, "capitalised": 15,
                                                      "two_notebooks": 15}
    feedback = lambda s: (tmp_path / "reports" / s / A / "report.txt").read_text()
    assert "graded as l1_posteriors" in feedback("capitalised")
    assert "holds 2 notebooks" in feedback("two_notebooks") and f"{A} (1).ipynb was graded" in feedback("two_notebooks")
    assert any("NOT GRADED" in line and "homework" in line for line in log)


def test_grader_output_carries_nothing_the_learner_printed(repo, tmp_path):
    """20 MB written to file descriptor 1 by the learner's code never reaches the instructor."""
    nb = _insert(_solution(repo), "posterior-posterior_mean-test", "import os\nos.system('head -c 20000000 /dev/zero')\n"
                 "os.write(1, b'LEAKED' * 1000); os.write(2, b'LEAKED' * 1000)\n")
    _submit(tmp_path, "noisy", A, nb)
    res = subprocess.run([sys.executable, "-m", "slt_lessons.course.cli", "grade", "--root", str(tmp_path)],
                         capture_output=True, text=True, cwd=repo.root, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "15/15" in res.stdout
    assert "LEAKED" not in res.stdout + res.stderr and len(res.stdout) + len(res.stderr) < 10_000


def _without_bubblewrap(home):
    """An environment whose PATH holds only this Python's bin folder: no /usr/bin, so no bwrap."""
    return {"PATH": str(Path(sys.executable).parent), "HOME": str(home), "SLT_DEVICE": "cpu",
            "JUPYTER_PREFER_ENV_PATH": "1"}


def test_grading_refuses_without_a_working_sandbox_unless_told(repo, tmp_path):
    """Where bubblewrap is missing, grading says why and how to fix it; --no-sandbox grades anyway, loudly."""
    _submit(tmp_path, "alice", A, _solution(repo))
    env = _without_bubblewrap(tmp_path)
    cmd = [sys.executable, "-m", "slt_lessons.course.cli", "grade", "--root", str(tmp_path)]
    refused = subprocess.run(cmd, capture_output=True, text=True, cwd=repo.root, env=env, timeout=600)
    assert refused.returncode == 2
    assert "bubblewrap is not installed" in refused.stderr and "--no-sandbox" in refused.stderr
    assert not (tmp_path / "grades.csv").exists()
    graded = subprocess.run(cmd + ["--no-sandbox"], capture_output=True, text=True, cwd=repo.root, env=env, timeout=600)
    assert graded.returncode == 0, graded.stderr[-2000:]
    assert "WARNING: --no-sandbox" in graded.stdout and "15/15" in graded.stdout


def test_self_check_runs_without_the_sandbox_where_it_is_unavailable(repo, tmp_path):
    """A learner whose machine has no bubblewrap (macOS) can still self-check, told so in one line."""
    shutil.copy(repo.solutions / A / f"{A}.ipynb", tmp_path / f"{A}.ipynb")
    env = _without_bubblewrap(tmp_path)
    res = subprocess.run([sys.executable, "-m", "slt_lessons.course.cli", "check", str(tmp_path / f"{A}.ipynb")],
                         capture_output=True, text=True, cwd=repo.root, env=env, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "15 / 15" in res.stdout
    assert [l for l in res.stdout.splitlines() if "run without the sandbox: bubblewrap is not installed" in l]
