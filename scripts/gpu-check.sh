#!/usr/bin/env bash
# The GPU checks, in one script, for a CUDA machine with its own Python and torch and no network
# (e.g. the lent H100: Python 3.12, torch 2.11). Nothing is installed from an index: the package is
# pure Python and runs from the checkout; wheels for what the machine lacks (pytest, jupyter,
# nbclient, nbgrader and their needs, for Python 3.12) can be carried in .whl/.
# Without CUDA it says so and exits 0 (the gpu tests skip cleanly).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --target /tmp/slt-site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/slt-site
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
"$PY" - <<'PY'
import sys, torch
print("python", sys.version.split()[0], "| torch", torch.__version__, "| cuda", torch.cuda.is_available(),
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
PY
status=0
echo "== pytest -m gpu"
SLT_DEVICE=cuda "$PY" -m pytest -q -m gpu -p no:cacheprovider tests/test_gpu.py tests/test_free_energy.py tests/test_volume.py || status=1
echo "== LLC benchmark on CUDA (the fixed terms of benchmarks/README.md), 512 chains"
if "$PY" -c "import sys, torch; sys.exit(not torch.cuda.is_available())" 2>/dev/null; then
    "$PY" benchmarks/bench_llc.py --device cuda --chains 512 --no-devinterp --vmap || status=1
else
    echo "skipped: no CUDA"
fi
if "$PY" -c "import nbclient, nbgrader" 2>/dev/null; then
    echo "== solutions graded on CUDA"
    "$PY" -m ipykernel install --sys-prefix --name python3 >/dev/null 2>&1 || true
    for nb in solutions/*/*.ipynb; do
        SLT_DEVICE=cuda "$PY" -m slt_lessons.course.cli check "$nb" | head -1 || status=1
    done
    echo "== lesson 6 in the course's full mode (SLT_FULL=1: larger n, more chains, longer training)"
    if "$PY" -c "import sys, torch; sys.exit(not torch.cuda.is_available())" 2>/dev/null; then
        SLT_DEVICE=cuda "$PY" scripts/run_full.py l6_phase_transitions || status=1
    else
        echo "skipped: no CUDA (on a CPU: python scripts/run_full.py l6_phase_transitions, several minutes)"
    fi
else
    echo "== notebooks skipped: nbclient/nbgrader not installed here (carry them in .whl/)"
fi
exit $status
