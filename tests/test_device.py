import numpy as np
import pytest
import torch

from slt_lessons.device import default_dtype, generator, get_device, seed_everything


def test_env_var_overrides_device(monkeypatch):
    monkeypatch.setenv("SLT_DEVICE", "cpu")
    assert get_device() == torch.device("cpu")
    monkeypatch.setenv("SLT_DEVICE", "meta")
    assert get_device() == torch.device("meta")


def test_explicit_device_wins(monkeypatch):
    monkeypatch.setenv("SLT_DEVICE", "meta")
    assert get_device("cpu") == torch.device("cpu")


def test_without_override_picks_an_available_device(monkeypatch):
    monkeypatch.delenv("SLT_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else ("mps" if torch.backends.mps.is_available() else "cpu")
    assert get_device().type == expected


def test_default_dtype_is_float64_on_cpu():
    assert default_dtype("cpu") == torch.float64


def test_seed_everything_reproduces_all_generators():
    seed_everything(7)
    a = (torch.rand(3), np.random.rand(3))
    seed_everything(7)
    b = (torch.rand(3), np.random.rand(3))
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_generator_is_independent_of_global_state():
    g1 = generator(5, "cpu")
    torch.rand(10)
    g2 = generator(5, "cpu")
    assert torch.equal(torch.rand(4, generator=g1), torch.rand(4, generator=g2))


@pytest.mark.parametrize("bad", [-1, 1.5, "3"])
def test_seed_must_be_a_non_negative_int(bad):
    with pytest.raises(ValueError, match="seed"):
        seed_everything(bad)
