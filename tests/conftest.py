import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]

# Tests run on the CPU unless a test asks for CUDA itself; the checks follow SLT_DEVICE.
os.environ.setdefault("SLT_DEVICE", "cpu")
os.environ.setdefault("JUPYTER_PREFER_ENV_PATH", "1")


@pytest.fixture(scope="session")
def repo():
    from slt_lessons.course.paths import Repo

    return Repo(REPO)


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(1234)

# pytest-xdist runs two workers on two cores: one torch thread each avoids oversubscription,
# which slows small tensor work by up to 10x.
torch.set_num_threads(1)
