"""slt_lessons: the reference library of the slt-course.

One module per topic; every exercise of the course is a function here.

- :mod:`slt_lessons.device`      device choice (``SLT_DEVICE``) and seeding
- :mod:`slt_lessons.models`      likelihoods of regular and singular models
- :mod:`slt_lessons.posterior`   tempered posteriors on 1-D and 2-D grids
- :mod:`slt_lessons.free_energy` free energy by quadrature, Laplace, BIC, WBIC; fits of λ and m
- :mod:`slt_lessons.degenerate`  K(w) of singular models, data, Fisher information and its rank
- :mod:`slt_lessons.theory`      exact learning coefficients (normal crossing, RRR, deep linear)
- :mod:`slt_lessons.volume`      Monte Carlo volume-scaling estimates of λ
- :mod:`slt_lessons.sgld`        batched SGLD over many chains; :mod:`slt_lessons.mala` MALA
- :mod:`slt_lessons.llc`         the local learning coefficient estimator
- :mod:`slt_lessons.checkpoints` the LLC at many checkpoints, batched
- :mod:`slt_lessons.phases`      Bayesian phase transitions: critical n, basin masses (lesson 6, in progress)
- :mod:`slt_lessons.tms`         the toy model of superposition: exact loss, k-gons, Hessian ranks (lesson 6, in progress)
- :mod:`slt_lessons.diagnostics` ESS, R-hat, SGLD acceptance; :mod:`slt_lessons.calibration` sweeps
- :mod:`slt_lessons.checks`      the registry that judges a learner's functions
- :mod:`slt_lessons.course`      build, self-check and grading of the course notebooks
"""

from slt_lessons.device import get_device, seed_everything

__version__ = "0.1.0"
__all__ = ["get_device", "seed_everything", "__version__"]
