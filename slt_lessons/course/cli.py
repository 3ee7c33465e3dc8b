"""The ``slt-course`` command: build, check, grade, demo."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from slt_lessons.course.paths import CourseError, find_repo, instructor_root, use_this_environment


def _build(args) -> int:
    from slt_lessons.course.build import build

    repo = find_repo()
    problems = build(repo, check=args.check, execute=not args.no_execute, only=args.only)
    if args.check:
        if problems:
            print("generated files drift from their sources; run `slt-course build` and commit:")
            print("\n".join(f"  {p}" for p in problems))
            return 1
        print("exercises/, solutions/ and course/source are up to date")
    return 0


def _check(args) -> int:
    from slt_lessons.course.selfcheck import check_notebook, table

    try:
        repo = find_repo()
    except CourseError:  # a learner with only the notebooks: visible checks only
        repo = None
    result = check_notebook(repo, Path(args.notebook), sandbox=_sandbox(args))
    print(table(result))
    return 0 if result.score == result.max_score and result.max_score > 0 else 1


def _grade(args) -> int:
    from slt_lessons.course import grading

    repo = find_repo()
    root = instructor_root(repo, args.root)
    from slt_lessons.course.engine import Limits

    limits = Limits(exercise_s=args.exercise_timeout, submission_s=args.submission_timeout)
    grades = grading.grade(repo, root, args.assignment, students=args.student, workers=args.workers, limits=limits,
                           sandbox=_sandbox(args), log=lambda line: print(line, flush=True))
    print(grading.table(grades))
    print(f"\ngradebook updated; grades exported to {root / 'grades.csv'}; the instructor's reports (hidden "
          f"cases in full) are in {root / 'reports'}.\nFeedback for the learners: slt-course nbgrader "
          "generate_feedback <assignment> --force, then release_feedback <assignment>")
    return 0


# nbgrader's verbs that a student runs: on a machine the whole class shares as one user, each
# student needs a cache of their own, or fetch_feedback fetches everyone's feedback
STUDENT_VERBS = ("fetch_assignment", "fetch", "submit", "fetch_feedback", "list")


def _student_of(argv: list[str]) -> str | None:
    for i, arg in enumerate(argv):
        for flag in ("--student", "--CourseDirectory.student_id"):
            if arg.startswith(flag + "="):
                return arg.split("=", 1)[1]
            if arg == flag and i + 1 < len(argv):
                return argv[i + 1]
    return None


def nbgrader_command(root: Path, argv: list[str]) -> list[str]:
    """The nbgrader command line for ``slt-course nbgrader ARGV``: a student verb given
    ``--student`` (and no ``--Exchange.cache``) gets that student's own cache in the class folder."""
    argv = list(argv)
    student = _student_of(argv)
    if argv and argv[0] in STUDENT_VERBS and student and not any(a.startswith("--Exchange.cache") for a in argv):
        argv.append(f"--Exchange.cache={root / 'student-caches' / student}")
    return [sys.executable, "-m", "nbgrader", *argv]


def _class_folder(args) -> Path:
    from slt_lessons.course.paths import prepare_root

    repo = find_repo()
    return prepare_root(repo, instructor_root(repo, args.root))


def _nbgrader(args) -> int:
    """Replaced by nbgrader itself (so its exit status and signals are nbgrader's own)."""
    from slt_lessons.course.paths import nbgrader_environment

    root = _class_folder(args)
    if not args.args:
        print("usage: slt-course nbgrader [--root DIR] VERB [ARGS]  (any nbgrader command, run on the class "
              f"folder {root})", file=sys.stderr)
        return 2
    cmd = nbgrader_command(root, args.args)
    os.execve(cmd[0], cmd, nbgrader_environment(root))


def _formgrader(args) -> int:
    """Replaced by JupyterLab, serving the class folder (formgrader needs the course under its root)."""
    from slt_lessons.course.paths import nbgrader_environment

    root = _class_folder(args)
    lab = str(Path(sys.executable).parent / "jupyter-lab")
    print(f"JupyterLab on the class folder {root}: nbgrader's formgrader is in its Nbgrader menu, "
          "or at /formgrader", flush=True)
    os.chdir(root)
    os.execve(lab, [lab, f"--ServerApp.root_dir={root}", *args.args], nbgrader_environment(root))


# verbs whose arguments belong to another program: everything after them (and an optional
# leading --root DIR) is passed on untouched
PASS_ON = ("nbgrader", "formgrader")


def _pass_on(parser, argv: list[str]):
    verb, rest = argv[0], argv[1:]
    if rest[:1] in (["-h"], ["--help"]):
        parser.parse_args([verb, "--help"])
    root = None
    if rest[:1] == ["--root"] and len(rest) > 1:
        root, rest = rest[1], rest[2:]
    elif rest[:1] and rest[0].startswith("--root="):
        root, rest = rest[0].split("=", 1)[1], rest[1:]
    return argparse.Namespace(command=verb, root=root, args=rest, func=_nbgrader if verb == "nbgrader" else _formgrader)


def _sandbox(args):
    from slt_lessons.course.sandbox import GiB, Sandbox

    return Sandbox(enabled=not args.no_sandbox, memory_bytes=int(args.memory_limit * GiB), processes=args.process_limit)


def _sandbox_options(p, what: str) -> None:
    from slt_lessons.course.sandbox import GiB, Sandbox

    d = Sandbox()
    p.add_argument("--no-sandbox", action="store_true",
                   help=f"run {what} without the bubblewrap sandbox (no isolation from your files: only for code you trust)")
    p.add_argument("--memory-limit", type=float, default=d.memory_bytes / GiB, metavar="GiB",
                   help=f"address space of each process of a learner's kernel (default {d.memory_bytes / GiB:g} GiB)")
    p.add_argument("--process-limit", type=int, default=d.processes, metavar="N",
                   help=f"processes and threads a learner's kernel may run, all together (default {d.processes})")


def _demo(args) -> int:
    from slt_lessons.course import grading

    repo = find_repo()
    root = instructor_root(repo, args.root) if args.root else repo.root / ".instructor-demo"
    grades = grading.demo(repo, root, args.assignment)
    print()
    print(grading.table(grades))
    bad = [g for g in grades if (g.student == "reference" and g.score != g.max_score)
           or (g.student == "untouched" and g.score != 0)]
    if bad:
        print("\nUNEXPECTED: " + ", ".join(f"{g.student}/{g.assignment} = {g.score:g}/{g.max_score:g}" for g in bad))
        return 1
    print("\nreference solutions: full marks; untouched learner versions: zero")
    return 0


def _exercises(args) -> int:
    from slt_lessons.checks import registry

    for ex_id in registry.exercises():
        ex = registry.get(ex_id)
        print(f"{ex_id}\n  reference: {ex.reference.__module__}.{ex.reference.__name__}")
        if args.notes:
            print("  " + (ex.notes or "(no notes)").replace("\n", "\n  "))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="slt-course", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("build", help="regenerate course/source, exercises/ and solutions/ from course/lessons")
    p.add_argument("--check", action="store_true", help="fail if the generated files drift from their sources")
    p.add_argument("--no-execute", action="store_true", help="do not execute the solutions")
    p.add_argument("--only", nargs="+", metavar="ASSIGNMENT", help="build only these assignments")
    p.set_defaults(func=_build)

    p = sub.add_parser("check", help="grade your own notebook (hidden tests included); exit 0 only on full marks")
    p.add_argument("notebook")
    _sandbox_options(p, "your notebook")
    p.set_defaults(func=_check)

    p = sub.add_parser("grade", help="instructor: grade submitted/ (each submission in a sandbox), record in nbgrader's gradebook, write grades.csv")
    p.add_argument("--root", help="instructor course root (default $SLT_COURSE_ROOT or <repo>/.instructor)")
    p.add_argument("--assignment", nargs="+", help="grade only these assignments")
    p.add_argument("--student", nargs="+", help="grade only these students' submissions (the other rows stay as they are)")
    p.add_argument("--workers", type=int, default=1, help="submissions graded at a time (default 1)")
    p.add_argument("--exercise-timeout", type=float, default=120.0, help="seconds per learner cell, and per exercise's recording (default 120)")
    p.add_argument("--submission-timeout", type=float, default=900.0, help="hard bound per submission (default 900)")
    _sandbox_options(p, "the submissions")
    p.set_defaults(func=_grade)

    root_help = "class folder (default $SLT_COURSE_ROOT or <repo>/.instructor)"
    p = sub.add_parser("nbgrader", help="run any nbgrader command on the class folder, from any folder, "
                       "with this environment (e.g. slt-course nbgrader release_assignment l1_posteriors)")
    p.add_argument("--root", help=root_help)
    p.add_argument("args", nargs=argparse.REMAINDER, help="the nbgrader verb and its arguments")
    p.set_defaults(func=_nbgrader)

    p = sub.add_parser("formgrader", help="JupyterLab on the class folder, with nbgrader's formgrader "
                       "(other arguments go to jupyter lab, e.g. --no-browser)")
    p.add_argument("--root", help=root_help)
    p.add_argument("args", nargs=argparse.REMAINDER)
    p.set_defaults(func=_formgrader)

    p = sub.add_parser("demo", help="grade the reference and the untouched version of every assignment")
    p.add_argument("--root", help="course root to use (default <repo>/.instructor-demo, wiped first)")
    p.add_argument("--assignment", nargs="+", help="only these assignments")
    p.set_defaults(func=_demo)

    p = sub.add_parser("exercises", help="list the registered exercises (with --notes: tolerances and false-failure rates)")
    p.add_argument("--notes", action="store_true")
    p.set_defaults(func=_exercises)

    argv = sys.argv[1:] if argv is None else list(argv)
    args = _pass_on(parser, argv) if argv[:1] and argv[0] in PASS_ON else parser.parse_args(argv)
    use_this_environment()
    try:
        return args.func(args)
    except CourseError as exc:
        print(f"slt-course: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
