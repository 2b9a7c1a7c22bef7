"""Every experiment ganjax runs, in one place: importing this module registers the tasks that
modules above the runner implement (ganjax/training/runner.py dispatches on `config.task`).

Entry points and tools call `tasks.train_and_evaluate`; the runner itself imports none of these
modules, since they run their stages through it.
"""

from ganjax.latent import synthetic_pipeline  # noqa: F401 (registers config.task values)
from ganjax.training import runner  # noqa: F401 (registers config.task values)

train_and_evaluate = runner.train_and_evaluate
