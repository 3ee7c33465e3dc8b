"""slt_lessons: the reference library of the slt-course.

One module per topic; every exercise of the course is a function here.

- :mod:`slt_lessons.device`      device choice (``SLT_DEVICE``) and seeding
- :mod:`slt_lessons.models`      likelihoods of regular and singular models
- :mod:`slt_lessons.posterior`   tempered posteriors on 1-D and 2-D grids
- :mod:`slt_lessons.checks`      the registry that judges a learner's functions
"""

from slt_lessons.device import get_device, seed_everything

__version__ = "0.1.0"
__all__ = ["get_device", "seed_everything", "__version__"]
