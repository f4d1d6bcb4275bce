"""qtn.train: optax optimizers partitioned by parameter kind, jitted steps, evaluation,
checkpoint/resume, metrics log, and the run entry point.

>>> # results = run_training("experiments/demo/config.yaml", overrides=("train.steps=50",))
"""

from qtn.train.config import (
    ConfigError,
    EvalConfig,
    ModelConfig,
    RunConfig,
    TrainConfig,
    load_config,
)
from qtn.train.loop import NonFiniteLossError
from qtn.train.metrics import results_table
from qtn.train.run import evaluate_run, run_training

__all__ = [
    "ConfigError",
    "EvalConfig",
    "ModelConfig",
    "NonFiniteLossError",
    "RunConfig",
    "TrainConfig",
    "evaluate_run",
    "load_config",
    "results_table",
    "run_training",
]
