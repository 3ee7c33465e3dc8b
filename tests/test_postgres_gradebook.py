"""A larger course can keep nbgrader's gradebook in PostgreSQL (SLT_DB_URL): grade a small class
against a real PostgreSQL server started for this test, and get the sqlite grades exactly.

The server is Debian's PostgreSQL (initdb/pg_ctl on PATH), run as the ``postgres`` user on a
private socket directory. Skipped, with the reason, where either is missing.
"""

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import nbformat
import pytest

from slt_lessons.course import grading
from slt_lessons.course.engine import Limits

pytestmark = pytest.mark.slow
A = "l1_posteriors"


def _as_postgres(*cmd, **kw):
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    return subprocess.run(prefix + list(cmd), capture_output=True, text=True, timeout=120, **kw)


@pytest.fixture(scope="module")
def postgres_url(tmp_path_factory):
    if not (shutil.which("initdb") and shutil.which("pg_ctl")):
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to run the server as")
    pytest.importorskip("psycopg2")
    # pytest's own temporary folders are private to this user; the server runs as 'postgres'
    base = Path(tempfile.mkdtemp(prefix="slt-pg-"))
    os.chmod(base, 0o777)
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    os.chmod(sock, 0o777)
    res = _as_postgres("initdb", "-D", str(data), "-U", "postgres", "--auth=trust")
    assert res.returncode == 0, res.stderr
    port = str(55432 + os.getpid() % 1000)
    res = _as_postgres("pg_ctl", "-D", str(data), "-w", "-l", str(base / "log"),
                       "-o", f"-k {sock} -p {port} -c listen_addresses=''", "start")
    assert res.returncode == 0, res.stderr + (base / "log").read_text() if (base / "log").exists() else res.stderr
    try:
        res = _as_postgres("createdb", "-h", str(sock), "-p", port, "-U", "postgres", "gradebook")
        assert res.returncode == 0, res.stderr
        yield f"postgresql+psycopg2://postgres@/gradebook?host={sock}&port={port}"
    finally:
        _as_postgres("pg_ctl", "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(base, ignore_errors=True)


def _class(repo, root):
    sol = nbformat.read(repo.solutions / A / f"{A}.ipynb", as_version=4)
    for student, nb in [("reference", sol), ("untouched", nbformat.read(repo.exercises / A / f"{A}.ipynb", as_version=4))]:
        folder = root / "submitted" / student / A
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{A}.ipynb")


def test_grades_in_postgres_equal_grades_in_sqlite(repo, tmp_path, postgres_url, monkeypatch):
    limits = Limits(exercise_s=30, submission_s=300)
    _class(repo, tmp_path / "sqlite")
    sqlite = grading.grade(repo, tmp_path / "sqlite", [A], workers=2, limits=limits, log=lambda s: None)
    monkeypatch.setenv("SLT_DB_URL", postgres_url)
    _class(repo, tmp_path / "pg")
    pg = grading.grade(repo, tmp_path / "pg", [A], workers=2, limits=limits, log=lambda s: None)
    assert not (tmp_path / "pg" / "gradebook.db").exists()  # nothing went to sqlite
    assert [(g.student, g.score, g.max_score) for g in pg] == [(g.student, g.score, g.max_score) for g in sqlite]
    assert {g.student: g.score for g in pg} == {"reference": 15.0, "untouched": 0.0}
