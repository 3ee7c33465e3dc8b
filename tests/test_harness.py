"""The grading harness: what record() saves, which calls of the reference it catches (in any
thread, under any disguise), which honest answers it must not accuse, and the verdict on results
the checks cannot use. Learner answers are compiled as a notebook cell would be."""

import importlib
import inspect
import queue
import sys
import textwrap
import threading
import types
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from slt_lessons.checks import harness, registry, runner

NORMALIZE = "posterior.normalize_log_density"
GAUSSIAN = "posterior.gaussian_log_likelihood"  # its reference lives in slt_lessons.models
MEAN = "posterior.posterior_mean"
TEMPERED = "posterior.tempered_log_posterior"
NDARRAY_MESSAGE = "returned a numpy.ndarray where a torch tensor is expected (convert it with torch.as_tensor)"


def reference(ex_id):
    return registry.get(ex_id).reference


def cell(source, name, filename="<ipython-input-1-abc>", **names):
    """The function ``name`` defined by ``source``, compiled as a notebook cell."""
    namespace = {"__name__": "__main__", **names}
    exec(compile("import math\nimport torch\n" + textwrap.dedent(source), filename, "exec"), namespace)
    return namespace[name]


def recorded(tmp_path, ex_id, fn, others=None):
    path = tmp_path / "recorded.pt"
    harness.record(ex_id, fn, str(path), others)
    return torch.load(path, weights_only=False)


def passed(data):
    return all(runner.judge(data["exercise_id"], data[suite], suite).passed for suite in registry.SUITES)


def calling(f):
    return lambda **kwargs: f(**kwargs)


def in_a_thread(f):
    def answer(**kwargs):
        out = {}
        worker = threading.Thread(target=lambda: out.update(result=f(**kwargs)))
        worker.start()
        worker.join()
        return out["result"]

    return answer


def in_a_pool(f):
    def answer(**kwargs):
        with ThreadPoolExecutor(2) as pool:
            return pool.submit(f, **kwargs).result()

    return answer


@pytest.fixture
def installed():
    before = threading.getprofile()
    harness.install()
    harness.install()  # idempotent
    yield
    threading.setprofile(before)


@pytest.fixture
def reloaded_models():
    """slt_lessons.models reloaded (new function objects, same file); restored afterwards."""
    import slt_lessons.models as models

    saved = dict(vars(models))
    yield importlib.reload(models)
    vars(models).clear()
    vars(models).update(saved)


# ----------------------------------------------------------------------------- what is saved


def test_saves_the_outcomes_of_both_suites_and_restores_the_profilers(tmp_path):
    before = sys.getprofile(), threading.getprofile()
    data = recorded(tmp_path, NORMALIZE, reference(NORMALIZE))
    assert set(data) == {"exercise_id", "missing", "not_callable", "visible", "hidden", "called_reference", "calls"}
    assert data["exercise_id"] == NORMALIZE and not data["missing"] and not data["not_callable"]
    assert all(isinstance(o, runner.Outcome) for s in registry.SUITES for o in data[s]) and passed(data)
    assert data["calls"] == []
    assert (sys.getprofile(), threading.getprofile()) == before


def test_a_missing_or_uncallable_answer_is_recorded_as_such(tmp_path):
    assert recorded(tmp_path, NORMALIZE, None)["missing"]
    data = recorded(tmp_path, NORMALIZE, 3.0)
    assert data["not_callable"] and not data["called_reference"] and data["calls"] == []


# ----------------------------------------------------------------------------- calls of the reference


@pytest.mark.parametrize("disguise", [calling, in_a_thread, in_a_pool])
def test_calling_the_reference_is_caught_in_any_thread(tmp_path, disguise):
    data = recorded(tmp_path, NORMALIZE, disguise(reference(NORMALIZE)))
    assert data["called_reference"] and passed(data)


def test_a_renamed_copy_of_the_reference_is_caught(tmp_path):
    ref = reference(NORMALIZE)
    mine = types.FunctionType(ref.__code__.replace(co_name="mine"), ref.__globals__)
    assert recorded(tmp_path, NORMALIZE, calling(mine))["called_reference"]


def test_the_reference_of_a_reloaded_module_is_caught(tmp_path, reloaded_models):
    again = reloaded_models.gaussian_log_likelihood
    assert again is not reference(GAUSSIAN)
    assert recorded(tmp_path, GAUSSIAN, calling(again))["called_reference"]


def served_by_a_thread(f):
    """A thread started now answers the calls: (answer, stop)."""
    jobs = queue.Queue()

    def serve():
        for kwargs, reply in iter(jobs.get, None):
            reply.put(f(**kwargs))

    worker = threading.Thread(target=serve)
    worker.start()

    def answer(**kwargs):
        reply = queue.Queue()
        jobs.put((kwargs, reply))
        return reply.get()

    return answer, lambda: (jobs.put(None), worker.join())


def served_by_a_warm_pool(f):
    pool = ThreadPoolExecutor(1)
    pool.submit(int).result()  # its thread starts now
    return (lambda **kwargs: pool.submit(f, **kwargs).result()), pool.shutdown


@pytest.mark.parametrize("server", [served_by_a_thread, served_by_a_warm_pool])
def test_a_thread_started_before_the_recording_is_watched_after_install(tmp_path, installed, server):
    answer, stop = server(reference(NORMALIZE))
    try:
        data = recorded(tmp_path, NORMALIZE, answer)
    finally:
        stop()
    assert data["called_reference"] and passed(data)
    assert threading.getprofile() is harness._watch  # install() outlives the recording


# ----------------------------------------------------------------------------- honest answers


HONEST = {
    NORMALIZE: [
        """
        def normalize_log_density(log_density, log_weights):
            s = log_density + log_weights
            m = s.max()
            return log_density - (m + torch.log(torch.sum(torch.exp(s - m))))
        """,
        """
        def normalize_log_density(log_density, log_weights):
            terms = (log_density + log_weights).flatten().tolist()
            top = max(terms)
            total = 0.0
            for t in terms:
                total += math.exp(t - top)
            return log_density - (top + math.log(total))
        """,
        """
        def normalize_log_density(log_density, log_weights):
            log_z = torch.logsumexp(torch.reshape(log_density + log_weights, (-1,)), 0)
            return log_density - log_z
        """,
    ],
    GAUSSIAN: [
        """
        def gaussian_log_likelihood(y, mean, sigma):
            return -(y - mean) ** 2 / (2 * sigma ** 2) - math.log(sigma * math.sqrt(2 * math.pi))
        """,
        """
        def gaussian_log_likelihood(y, mean, sigma):
            y, mean = torch.broadcast_tensors(y, mean)
            out = torch.empty(y.shape, dtype=y.dtype, device=y.device)
            flat = out.view(-1)
            for i, (yi, mi) in enumerate(zip(y.reshape(-1).tolist(), mean.reshape(-1).tolist())):
                r = (yi - mi) / sigma
                flat[i] = -0.5 * r * r - math.log(sigma) - 0.5 * math.log(2 * math.pi)
            return out
        """,
        """
        def gaussian_log_likelihood(y, mean, sigma):
            var = sigma * sigma
            return -0.5 * (math.log(2 * math.pi * var) + (y - mean) ** 2 / var)
        """,
    ],
    MEAN: [
        """
        def posterior_mean(log_posterior, values, log_weights):
            return torch.sum(values * torch.exp(log_posterior + log_weights))
        """,
        """
        def posterior_mean(log_posterior, values, log_weights):
            total = 0.0
            for lp, v, lw in zip(log_posterior.flatten().tolist(), values.flatten().tolist(),
                                 log_weights.flatten().tolist()):
                total += v * math.exp(lp + lw)
            return torch.tensor(total, dtype=values.dtype, device=values.device)
        """,
        """
        def posterior_mean(log_posterior, values, log_weights):
            return torch.dot(values.reshape(-1), torch.exp(log_posterior + log_weights).reshape(-1))
        """,
    ],
}


@pytest.mark.parametrize(
    "ex_id, source", [(e, s) for e, sources in HONEST.items() for s in sources],
    ids=[f"{e}-{i}" for e, sources in HONEST.items() for i in range(len(sources))],
)
def test_honest_answers_pass_and_are_not_accused(tmp_path, ex_id, source):
    mine = cell(source, reference(ex_id).__name__)
    data = recorded(tmp_path, ex_id, mine)
    assert passed(data) and not data["called_reference"]


@pytest.mark.parametrize("ex_id", list(HONEST))
def test_an_answer_written_exactly_as_the_reference_is_not_accused(tmp_path, ex_id):
    ref = reference(ex_id)
    mine = cell(inspect.getsource(ref), ref.__name__, filename="/tmp/ipykernel_123/456.py")
    # the same bytecode, constants and names: only the file tells them apart
    assert harness._compute_fingerprint(mine.__code__)[:3] == harness._compute_fingerprint(ref.__code__)[:3]
    data = recorded(tmp_path, ex_id, mine)
    assert passed(data) and not data["called_reference"]


# ----------------------------------------------------------------------------- calls of other exercises


@pytest.mark.parametrize("disguise", [calling, in_a_pool])
def test_calls_of_the_learners_other_functions_are_listed(tmp_path, disguise):
    normalize = cell(HONEST[NORMALIZE][0], "normalize_log_density")
    mean = cell(HONEST[MEAN][0], "posterior_mean")
    tempered = cell(
        """
        def tempered_log_posterior(log_likelihood, log_prior, beta, log_weights):
            return normalize(log_density=log_prior + beta * log_likelihood, log_weights=log_weights)
        """,
        "tempered_log_posterior", normalize=disguise(normalize),
    )
    others = {NORMALIZE: normalize, MEAN: mean, "posterior.sample_grid": None, "posterior.credible_threshold": 3,
              TEMPERED: tempered}
    data = recorded(tmp_path, TEMPERED, tempered, others)
    assert data["calls"] == [NORMALIZE] and not data["called_reference"] and passed(data)


# ----------------------------------------------------------------------------- results the checks cannot use


def as_numpy(ex_id):
    ref = reference(ex_id)
    return lambda **kwargs: ref(**kwargs).numpy()


def test_a_numpy_array_is_saved_as_a_marker_and_judged_with_a_hint(tmp_path):
    data = recorded(tmp_path, NORMALIZE, as_numpy(NORMALIZE))
    assert data["visible"][0].output == runner.Unsupported("ndarray", "numpy")
    result = runner.judge(NORMALIZE, data["hidden"], "hidden")
    assert [v.message for v in result.verdicts] == [NDARRAY_MESSAGE] * len(result.verdicts)


def test_check_in_the_notebook_gives_the_same_hint():
    result = runner.check(NORMALIZE, as_numpy(NORMALIZE), raise_on_fail=False)
    assert not result.passed and all(v.message == NDARRAY_MESSAGE for v in result.verdicts)
    outcomes = runner.collect(NORMALIZE, reference(NORMALIZE))
    outcomes[0] = runner.Outcome(outcomes[0].label, np.zeros(11))  # a raw array, as another collector might record
    assert runner.judge(NORMALIZE, outcomes).verdicts[0].message == NDARRAY_MESSAGE


def test_an_object_of_the_learners_class_is_named(tmp_path):
    box = cell("class Box:\n    pass\n", "Box")
    ref = reference(NORMALIZE)
    data = recorded(tmp_path, NORMALIZE, lambda **kwargs: (ref(**kwargs), box()))
    message = runner.judge(NORMALIZE, data["visible"]).verdicts[0].message
    assert message == "returned a tuple holding an object of type __main__.Box, which the check cannot use"


def test_numpy_scalars_count_as_numbers():
    ref = reference("llc.default_nbeta")  # an exercise whose text asks for a Python float
    assert runner.passes("llc.default_nbeta", lambda **kwargs: np.float64(ref(**kwargs)))
