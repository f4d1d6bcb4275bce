"""qtn.train: optax optimizers partitioned by parameter kind, jitted steps, the training loop,
evaluation, checkpoint/resume and the metrics log; and what scale needs: the fused chunked
cross-entropy (:mod:`.cross_entropy`), the memory plan (:mod:`.memory`), joining several
processes (:mod:`.distributed`) and stopping cleanly on SIGTERM (:mod:`.preemption`).

The run entry point that also loads data (``run_training`` / ``evaluate_run`` / ``RunConfig``)
is :mod:`qtn.experiment`, one layer up (qtn.train does not import qtn.data).
"""

from qtn.train.config import ConfigError, TrainConfig
from qtn.train.loop import NonFiniteLossError
from qtn.train.metrics import results_table

__all__ = [
    "ConfigError",
    "NonFiniteLossError",
    "TrainConfig",
    "results_table",
]
