"""A class taught with nbgrader's own tools, played from the README as written.

Three students on one machine (one Unix user, the README's single-user set-up) fetch lesson 1,
work on it and submit; one resubmits after the due date, under a penalising late policy. The
instructor collects, grades with ``slt-course grade``, releases feedback through nbgrader, overrides
a score in formgrader (its REST handlers, in a running Jupyter server), regrades that student and
exports. Every shell command is a block of the README's teaching section, run as it is written.
"""

from __future__ import annotations

import csv
import datetime
import html
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

pytestmark = pytest.mark.slow

A = "l1_posteriors"
README = Path(__file__).resolve().parents[1] / "README.md"
WRONG_ON_HIDDEN = (  # right on the visible cases, wrong dtype on the large hidden ones
    "def gaussian_log_likelihood(y, mean, sigma):\n"
    "    out = -0.5 * ((y - mean) / sigma) ** 2 - math.log(sigma) - 0.5 * math.log(2 * math.pi)\n"
    "    return out if y.numel() < 100 else out.double()\n")


def readme_blocks() -> dict[str, str]:
    """The README's shell blocks marked ``<!-- class: NAME -->``, by name."""
    text = README.read_text()
    return {m.group(1): m.group(2) for m in re.finditer(r"<!-- class: (\w+) -->\n```bash\n(.*?)```", text, re.S)}


class Class:
    """Runs README blocks as the instructor or a student would: in a fresh bash, after the README's
    environment block, from the repository root, with a home folder of the test's own."""

    def __init__(self, repo, home: Path):
        self.repo, self.home, self.blocks = repo, home, readme_blocks()
        self.root = home / "slt-2026"
        self.log: list[str] = []

    def run(self, block: str, student: str | None = None, script: str | None = None) -> str:
        env = {"HOME": str(self.home), "PATH": os.environ["PATH"], "LANG": "C.UTF-8",
               "SLT_DEVICE": "cpu", **({"STUDENT": student} if student else {})}
        body = script if script is not None else self.blocks[block]
        t = time.monotonic()
        res = subprocess.run(["bash", "-euo", "pipefail", "-c", self.blocks["env"] + body], cwd=self.repo.root,
                             env=env, capture_output=True, text=True, timeout=600)
        self.log.append(f"{block}{'/' + student if student else ''}: {time.monotonic() - t:.1f} s")
        assert res.returncode == 0, f"README block {block!r} failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
        return res.stdout + res.stderr

    def work(self, student: str, nb) -> None:
        nbformat.write(nb, self.home / student / A / f"{A}.ipynb")

    def csv(self) -> dict[str, dict]:
        return {r["student_id"]: r for r in csv.DictReader((self.root / "grades.csv").open())}


def _solution(repo):
    return nbformat.read(repo.solutions / A / f"{A}.ipynb", as_version=4)


def _with_answer(nb, grade_id, source):
    next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id).source = source
    return nb


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Formgrader:
    """``slt-course formgrader`` (JupyterLab with nbgrader's formgrader) on the class, spoken to through
    formgrader's REST handlers."""

    def __init__(self, cls: Class):
        self.port, self.token = _free_port(), "slt-class-test"
        env = dict(os.environ, HOME=str(cls.home), SLT_COURSE_ROOT=str(cls.root))
        cmd = [sys.executable, "-m", "slt_lessons.course.cli", "formgrader", "--no-browser", "--allow-root",
               f"--port={self.port}", f"--IdentityProvider.token={self.token}", "--ServerApp.open_browser=False"]
        self.proc = subprocess.Popen(cmd, cwd=cls.repo.root, env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 120
        while True:
            try:
                self.get("/formgrader/api/status")
                return
            except Exception:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.close()
                    raise RuntimeError("formgrader did not start")
                time.sleep(0.5)

    def _request(self, path, method="GET", body=None):
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    def get(self, path):
        return self._request(path)

    def page(self, path) -> str:
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}",
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.read().decode()

    def put(self, path, body):
        return self._request(path, "PUT", body)

    def close(self):
        import signal

        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.proc.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def taught(repo, tmp_path_factory):
    """The whole class, in order; what each step left behind."""
    cls = Class(repo, tmp_path_factory.mktemp("home"))
    seen = {}
    started = time.monotonic()
    cls.run("release")

    for student in ("alice", "bob", "carol"):
        cls.run("fetch", student)
    cls.work("alice", _solution(repo))
    cls.work("bob", _with_answer(_solution(repo), "posterior-gaussian_log_likelihood", WRONG_ON_HIDDEN))
    # carol submits the untouched notebook first
    for student in ("alice", "bob", "carol"):
        cls.run("submit", student)

    # the due date passes; the class penalises lateness; carol resubmits, now complete
    due = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    cls.run("duedate", script=re.sub(r'--duedate="[^"]*"', f'--duedate="{due}"', cls.blocks["duedate"]))
    with (cls.root / "nbgrader_config.py").open("a") as f:
        f.write('c.LateSubmissionPlugin.penalty_method = "zero"\n')
    time.sleep(1.5)
    cls.work("carol", _solution(repo))
    cls.run("submit", "carol")

    seen["grade"] = cls.run("grade")
    seen["csv_after_grade"] = cls.csv()
    for student in ("alice", "bob", "carol"):
        cls.run("feedback", student)

    fg = Formgrader(cls)
    try:
        seen["fg_before"] = fg.get(f"/formgrader/api/submissions/{A}")
        # the instructor gives bob the point of gaussian_log_likelihood by hand
        bob = next(s for s in seen["fg_before"] if s["student"] == "bob")
        nbs = fg.get(f"/formgrader/api/submitted_notebooks/{A}/{A}")
        bob_nb = next(n for n in nbs if n["student"] == "bob")
        grades = fg.get(f"/formgrader/api/grades?submission_id={bob_nb['id']}")
        seen["bob_grades"] = {g["name"].removesuffix("-test"): g["auto_score"] for g in grades}
        seen["bob_page"] = fg.page(f"/formgrader/submissions/{bob_nb['id']}/")  # the manual-grading view
        cell = next(g for g in grades if g["name"] == "posterior-gaussian_log_likelihood-test")
        seen["override"] = fg.put(f"/formgrader/api/grade/{cell['id']}", {"manual_score": 1.0})
        seen["bob_submission"] = bob

        others = {s: (cls.root / "autograded" / s / A / f"{A}.ipynb").read_bytes() for s in ("alice", "carol")}
        seen["csv_before_regrade"] = cls.csv()
        seen["regrade"] = cls.run("regrade")
        seen["csv_after_regrade"] = cls.csv()
        seen["others_untouched"] = all((cls.root / "autograded" / s / A / f"{A}.ipynb").read_bytes() == b
                                       for s, b in others.items())
        seen["fg_after"] = fg.get(f"/formgrader/api/submissions/{A}")
        seen["bob_grade_after"] = fg.get(f"/formgrader/api/grade/{cell['id']}")
    finally:
        fg.close()
    seen["seconds"] = time.monotonic() - started
    print("\n".join(cls.log) + f"\ntotal {seen['seconds']:.0f} s")
    return cls, seen


def test_grades_are_right_and_the_late_resubmission_carries_its_penalty(taught):
    cls, seen = taught
    rows = seen["csv_after_grade"]
    assert {s: float(r["score"]) for s, r in rows.items()} == {"alice": 15, "bob": 14, "carol": 0}
    assert float(rows["carol"]["raw_score"]) == 15 and float(rows["carol"]["late_submission_penalty"]) == 15
    assert all(float(r["late_submission_penalty"]) == 0 for s, r in rows.items() if s != "carol")
    assert all(r["timestamp"] for r in rows.values()) and rows["carol"]["duedate"]
    assert re.search(r"l1_posteriors\s+15/15\s+14/15\s+0/15L", seen["grade"])


def test_each_student_fetches_exactly_their_own_feedback_without_hidden_values(taught):
    cls, _ = taught
    pages = {s: sorted((cls.home / s / A / "feedback").glob("*/*.html")) for s in ("alice", "bob", "carol")}
    assert all(len(p) == 1 for p in pages.values()), pages
    text = {s: html.unescape(re.sub(r"<[^>]+>", "", p[0].read_text())) for s, p in pages.items()}
    assert "Score: 15.0 / 15.0" in text["alice"] and "Score: 14.0 / 15.0" in text["bob"]
    assert "out.double()" in text["bob"] and "out.double()" not in text["alice"] + text["carol"]
    bob = text["bob"]
    # the points and the verdict per case; the hidden cases by label only
    assert "autograder: 0 / 1 points" in bob and "visible checks" in bob and "4/4 cases correct" in bob
    assert "ok    a 2-D y and a 1-D mean" in bob and "WRONG float32 inputs: the result must stay float32" in bob
    assert "inputs and expected values are not shown" in bob
    assert "BEGIN HIDDEN TESTS" not in bob and 'suite="hidden"' not in bob
    report = (cls.root / "reports" / "bob" / A / "report.txt").read_text()  # the instructor's: in full
    hidden = report[report.index("posterior.gaussian_log_likelihood (hidden"):].split("\n[")[0]
    details = [l.strip() for l in hidden.splitlines() if l.startswith("          ")]
    assert details and not any(d in bob for d in details)


def test_formgrader_shows_the_exported_scores(taught):
    _, seen = taught
    for rows, subs in ((seen["csv_after_grade"], seen["fg_before"]), (seen["csv_after_regrade"], seen["fg_after"])):
        shown = {s["student"]: (s["score"], s["max_score"], s["autograded"]) for s in subs}
        assert shown == {s: (float(r["raw_score"]), float(r["max_score"]), True) for s, r in rows.items()}


def test_formgrader_shows_the_score_of_each_exercise(taught):
    cls, seen = taught
    report = json.loads((cls.root / "reports" / "bob" / A / "grades.json").read_text())
    assert seen["bob_grades"] == {e["grade_id"]: e["points"] for e in report["exercises"]}
    assert seen["bob_grades"]["posterior-gaussian_log_likelihood"] == 0 and sum(seen["bob_grades"].values()) == 14
    page = html.unescape(re.sub(r"<[^>]+>", "", seen["bob_page"]))
    assert "out.double()" in page and "WRONG float32 inputs" in page


def test_the_override_survives_the_regrade_flagged_and_the_other_rows_are_untouched(taught):
    _, seen = taught
    assert seen["override"]["manual_score"] == 1.0
    after = seen["bob_grade_after"]
    assert after["manual_score"] == 1.0 and after["auto_score"] == 0.0 and after["needs_manual_grade"] is True
    before, regraded = seen["csv_before_regrade"], seen["csv_after_regrade"]
    assert float(regraded["bob"]["score"]) == 15
    assert {s: r for s, r in regraded.items() if s != "bob"} == {s: r for s, r in before.items() if s != "bob"}
    assert seen["others_untouched"]
    assert "graded bob/l1_posteriors" in seen["regrade"]
    assert "graded alice" not in seen["regrade"]
