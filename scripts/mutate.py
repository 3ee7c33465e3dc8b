"""Mutation test of the exercise checks: how many small mistakes in each reference do they catch?

For every registered exercise this takes the reference function's source, makes *mutants* of
its body (one small change each, the kind of mistake a learner makes), and judges each mutant
with :func:`slt_lessons.checks.runner.passes` on the visible and the hidden suite. A mutant is
KILLED when it fails a suite, raises, or times out, and SURVIVES when it passes both. The raw
kill rate is caught/total; an equivalent mutant (one that computes the same thing) counts as a
survivor, so every survivor needs a person to classify it.

Operators (each site of each operator is one mutant, id ``<exercise id>:<operator>:<site>``):

- ``sign``: a unary minus removed, ``+`` ↔ ``-``, or the returned value (each entry of a tuple) negated;
- ``swap``: ``*`` ↔ ``/``, ``//`` → ``/``, ``@`` → ``*``, ``==`` ↔ ``!=``, ``<`` ↔ ``>``, ``<=`` ↔ ``>=``,
  ``and`` ↔ ``or``, ``not`` removed;
- ``const``: a number changed (int ``c`` → ``c+1``, ``c-1``; float ``c`` → ``c+1``, ``0``, ``2c``);
  an exponent of ``**`` is a constant like any other;
- ``drop``: a term dropped (``a+b``, ``a-b``, ``a*b``, ``a/b`` keep one side; ``/`` keeps the
  numerator), a keyword argument of a call dropped (``generator=``, ``dim=``, ...), or a statement
  other than ``return`` in a block of several replaced by ``pass`` (an input validation, a step of a loop);
- ``reduce``: ``sum`` ↔ ``mean``, ``max`` ↔ ``min``, ``amax`` ↔ ``amin``, ``logsumexp`` → ``amax``
  (method or function: ``.sum(`` and ``torch.sum(``; built-in ``max``/``min`` too);
- ``boundary``: ``<`` ↔ ``<=``, ``>`` ↔ ``>=``;
- ``scale``: ``return expr`` → ``return _scale(expr)``, the result times 1.02 (floating tensors,
  floats, Fractions, and those entries of a tuple). Skipped when the reference's result on the first
  visible case has nothing to scale (an integer result), since that mutant is equivalent by construction.

Sites inside a ``raise`` statement or an f-string (error messages) are not mutated. Mutants that
do not compile, or whose source equals the reference's or an earlier mutant's, are skipped.

Run (from the repository root)::

    .venv/bin/python scripts/mutate.py                              # all exercises
    .venv/bin/python scripts/mutate.py --topic sgld --jobs 2        # one topic (the id prefix)
    .venv/bin/python scripts/mutate.py --exercise free_energy.bic --list   # show mutants only
    .venv/bin/python scripts/mutate.py --report scripts/mutation-report.md

Each mutant runs in a forked child (``--timeout`` seconds, default 60) with one torch thread.
"""

from __future__ import annotations

import argparse
import ast
import copy
import difflib
import inspect
import multiprocessing as mp
import sys
import textwrap
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from slt_lessons.checks import registry, runner  # noqa: E402

SCALE = 1.02
SWAP = {ast.Mult: ast.Div, ast.Div: ast.Mult, ast.FloorDiv: ast.Div, ast.MatMult: ast.Mult,
        ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Lt: ast.Gt, ast.Gt: ast.Lt, ast.LtE: ast.GtE,
        ast.GtE: ast.LtE, ast.And: ast.Or, ast.Or: ast.And}
BOUNDARY = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt}
REDUCE = {"sum": "mean", "mean": "sum", "max": "min", "min": "max", "amax": "amin", "amin": "amax",
          "logsumexp": "amax"}


def _scale(value):
    """The result scaled by 1.02: floating tensors, floats and Fractions, elementwise in tuples."""
    if isinstance(value, (tuple, list)):
        return type(value)(_scale(v) for v in value)
    if isinstance(value, torch.Tensor) and (value.is_floating_point() or value.is_complex()):
        return value * SCALE
    if isinstance(value, float):
        return value * SCALE
    if isinstance(value, Fraction):
        return value * Fraction(51, 50)
    return value


@dataclass
class Mutant:
    id: str
    exercise: str
    operator: str
    before: str  # the reference's source line(s) that changed
    after: str
    tree: ast.Module


# ----------------------------------------------------------------------------- generating mutants


def _sites(node: ast.AST, in_return: bool, droppable: bool):
    """(operator, transform) pairs for one node; a transform maps a copy of the node to its replacement."""
    def set_op(op_type, j=0):
        def t(n):
            if isinstance(n, ast.Compare):
                n.ops[j] = op_type()
            else:
                n.op = op_type()
            return n
        return t

    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        yield "sign", lambda n: n.operand
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        yield "swap", lambda n: n.operand
    if isinstance(node, ast.BinOp):
        kind = type(node.op)
        if kind in (ast.Add, ast.Sub):
            yield "sign", set_op(ast.Sub if kind is ast.Add else ast.Add)
        if kind in SWAP:
            yield "swap", set_op(SWAP[kind])
        if kind in (ast.Add, ast.Sub, ast.Mult, ast.Div):
            yield "drop", lambda n: n.left
            if kind is not ast.Div:
                yield "drop", lambda n: n.right
    if isinstance(node, ast.BoolOp):
        yield "swap", set_op(SWAP[type(node.op)])
    for j, cmp in enumerate(node.ops if isinstance(node, ast.Compare) else []):
        if type(cmp) in SWAP:
            yield "swap", set_op(SWAP[type(cmp)], j)
        if type(cmp) in BOUNDARY:
            yield "boundary", set_op(BOUNDARY[type(cmp)], j)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        c = node.value
        for new in ((c + 1, c - 1) if isinstance(c, int) else (c + 1.0, 0.0, 2 * c)):
            yield "const", lambda n, new=new: ast.Constant(new)
    if isinstance(node, ast.Call):
        for i in range(len(node.keywords)):
            if node.keywords[i].arg is not None:
                yield "drop", lambda n, i=i: (n.keywords.pop(i), n)[1]
        f = node.func
        name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None
        if name in REDUCE and not (isinstance(f, ast.Name) and name in ("sum", "mean")):
            def t(n):
                if isinstance(n.func, ast.Attribute):
                    n.func.attr = REDUCE[name]
                else:
                    n.func.id = REDUCE[name]
                return n
            yield "reduce", t
    if droppable and not isinstance(node, ast.Return):
        yield "drop", lambda n: ast.Pass()
    if isinstance(node, ast.Return) and node.value is not None:
        def neg(e):
            if isinstance(e, ast.Tuple):
                return ast.Tuple([neg(x) for x in e.elts], ast.Load())
            return ast.UnaryOp(ast.USub(), e)
        yield "sign", lambda n: ast.Return(neg(n.value))
        if in_return:
            yield "scale", lambda n: ast.Return(ast.Call(ast.Name("_scale", ast.Load()), [n.value], []))


def _walk(fn: ast.FunctionDef):
    """(node, expressions mutable, statement droppable) for the body's nodes, in a fixed order.

    Expressions inside raise statements and f-strings (error messages) are not mutable; a
    statement is droppable when its block holds other statements too."""
    body = fn.body[1:] if ast.get_docstring(fn) is not None else fn.body
    out = []

    def visit(node, expr_ok, droppable):
        if isinstance(node, (ast.stmt, ast.expr)):
            out.append((node, expr_ok, droppable))
        inner = expr_ok and not isinstance(node, (ast.Raise, ast.JoinedStr))
        for _, value in ast.iter_fields(node):  # keyword arguments and comprehensions too
            for child in value if isinstance(value, list) else [value]:
                if isinstance(child, ast.AST):
                    visit(child, inner, isinstance(child, ast.stmt) and len(value) > 1)

    for stmt in body:
        visit(stmt, True, len(body) > 1)
    return out


def _replace(root: ast.AST, old: ast.AST, new: ast.AST) -> None:
    for parent in ast.walk(root):
        for field, value in ast.iter_fields(parent):
            if value is old:
                setattr(parent, field, new)
                return
            if isinstance(value, list) and any(v is old for v in value):
                value[[i for i, v in enumerate(value) if v is old][0]] = new
                return
    raise AssertionError("node not found")


def _function_tree(fn) -> ast.FunctionDef:
    """``fn``'s definition, found by name in its module's file (robust to the file being edited)."""
    module = ast.parse(Path(inspect.getsourcefile(fn)).read_text())
    found = [n for n in module.body if isinstance(n, ast.FunctionDef) and n.name == fn.__name__]
    (fdef,) = found or ast.parse(textwrap.dedent(inspect.getsource(fn))).body
    fdef.decorator_list = []
    return fdef


def _scalable(exercise_id: str) -> bool:
    """Whether the reference's result on the first visible case has an entry that _scale changes."""
    ex = registry.get(exercise_id)
    case = ex.cases("visible", torch.device("cpu"))[0]
    out = ex.reference(**runner._fresh(case.kwargs))
    flat = lambda v: [x for e in v for x in flat(e)] if isinstance(v, (tuple, list)) else [v]  # noqa: E731
    return any(a is not b for a, b in zip(flat(out), flat(_scale(out))))


def mutants(exercise_id: str) -> list[Mutant]:
    """The mutants of one exercise's reference, deduplicated by source text."""
    return generate(registry.get(exercise_id).reference, exercise_id, _scalable(exercise_id))


def generate(fn, exercise_id: str, can_scale: bool = True) -> list[Mutant]:
    """The mutants of function ``fn``'s body, ids prefixed by ``exercise_id``, deduplicated by source."""
    original = _function_tree(fn)
    ref_src = ast.unparse(original)
    seen, result, counts = {ref_src}, [], {}
    for index, (node, expr_ok, droppable) in enumerate(_walk(original)):
        if not expr_ok and not isinstance(node, ast.stmt):
            continue
        in_return = can_scale and isinstance(node, ast.Return)
        for k, (op, _) in enumerate(list(_sites(node, in_return, droppable))):
            if not expr_ok and op != "drop":
                continue
            tree = copy.deepcopy(original)
            target = _walk(tree)[index][0]
            transform = list(_sites(target, in_return, droppable))[k][1]
            new = transform(target)
            if new is not target:
                _replace(tree, target, new)
            module = ast.fix_missing_locations(ast.Module([tree], []))
            try:
                src = ast.unparse(module)
                compile(module, "<mutant>", "exec")
            except (SyntaxError, ValueError, TypeError):
                continue
            if src in seen:
                continue
            seen.add(src)
            site = counts.get(op, 0)
            counts[op] = site + 1
            diff = list(difflib.ndiff(ref_src.splitlines(), src.splitlines()))
            before = " / ".join(d[2:].strip() for d in diff if d.startswith("- "))
            after = " / ".join(d[2:].strip() for d in diff if d.startswith("+ "))
            result.append(Mutant(f"{exercise_id}:{op}:{site}", exercise_id, op, before, after, module))
    return result


def compile_mutant(m: Mutant):
    """The mutant as a function, in a copy of the reference module's globals (the library is unchanged)."""
    ref = registry.get(m.exercise).reference
    env = dict(sys.modules[ref.__module__].__dict__)
    env["_scale"] = _scale
    exec(compile(m.tree, f"<mutant {m.id}>", "exec"), env)
    fn = env[ref.__name__]
    fn.__module__ = ref.__module__
    return fn


# ----------------------------------------------------------------------------- judging mutants


def _child(m: Mutant, conn) -> None:
    torch.set_num_threads(1)
    try:
        verdict = "survived" if runner.passes(m.exercise, compile_mutant(m)) else "killed"
    except Exception as exc:  # the check itself crashed on the mutant: it did not pass
        verdict = f"killed (raised {type(exc).__name__})"
    conn.send(verdict)
    conn.close()


def judge_all(items: list[Mutant], jobs: int = 2, timeout: float = 60.0) -> dict[str, str]:
    """Verdicts ("killed", "survived", "killed (timeout)", ...) by mutant id, `jobs` children at a time."""
    ctx = mp.get_context("fork")
    pending, running, verdicts = list(items), {}, {}
    while pending or running:
        while pending and len(running) < jobs:
            m = pending.pop(0)
            recv, send = ctx.Pipe(duplex=False)
            p = ctx.Process(target=_child, args=(m, send), daemon=True)
            p.start()
            send.close()
            running[m.id] = (p, recv, time.monotonic())
        for mid, (p, recv, start) in list(running.items()):
            if recv.poll():
                try:
                    verdicts[mid] = recv.recv()
                except EOFError:
                    verdicts[mid] = "killed (child died)"
            elif not p.is_alive():
                verdicts[mid] = f"killed (child exited {p.exitcode})"
            elif time.monotonic() - start > timeout:
                p.kill()
                verdicts[mid] = "killed (timeout)"
            else:
                continue
            p.join()
            recv.close()
            del running[mid]
        time.sleep(0.005)
    return verdicts


# ----------------------------------------------------------------------------- reporting


def report(ids: list[str], by_ex: dict[str, list[Mutant]], verdicts: dict[str, str], wall: float) -> str:
    total = sum(len(by_ex[e]) for e in ids)
    caught = sum(not verdicts[m.id].startswith("survived") for e in ids for m in by_ex[e])
    lines = ["# Mutation test of the exercise references", "",
             f"`scripts/mutate.py`: {len(ids)} exercises, {total} mutants, wall time {wall:.0f} s.", "",
             f"**Raw kill rate: {caught}/{total} = {100 * caught / max(total, 1):.1f}%** "
             "(equivalent mutants count as survivors).", "",
             "| exercise | caught/total | survivors |", "|---|---|---|"]
    for e in ids:
        k = sum(not verdicts[m.id].startswith("survived") for m in by_ex[e])
        lines.append(f"| {e} | {k}/{len(by_ex[e])} | {len(by_ex[e]) - k} |")
    lines += ["", "## Survivors", ""]
    for e in ids:
        surv = [m for m in by_ex[e] if verdicts[m.id] == "survived"]
        if surv:
            lines.append(f"### {e}")
            lines += [f"- `{m.id}` ({m.operator}): `{m.before}` → `{m.after}`" for m in surv]
            lines.append("")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--exercise", action="append", default=[], help="exercise id (repeatable)")
    p.add_argument("--topic", action="append", default=[], help="id prefix, e.g. posterior (repeatable)")
    p.add_argument("--list", action="store_true", help="print the mutants without running them")
    p.add_argument("--report", type=Path, help="write a markdown report here")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per mutant")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    ids = [i for i in registry.exercises()
           if (not args.exercise and not args.topic) or i in args.exercise or i.split(".")[0] in args.topic]
    if not ids:
        p.error("no exercise matches")
    by_ex = {e: mutants(e) for e in ids}
    if args.list:
        for e in ids:
            for m in by_ex[e]:
                print(f"{m.id}: {m.before}  →  {m.after}")
        print(f"{sum(map(len, by_ex.values()))} mutants")
        return 0
    start = time.monotonic()
    verdicts = judge_all([m for e in ids for m in by_ex[e]], args.jobs, args.timeout)
    text = report(ids, by_ex, verdicts, time.monotonic() - start)
    print(text)
    if args.report:
        args.report.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
