"""qtn.experiment: one complete run from a YAML config, where training meets data: the run
config (:class:`RunConfig`), ``run_training`` (load, inject, train, evaluate, save),
``evaluate_run`` (``qtn eval``) and the task metric of a run.

Sits above qtn.train and qtn.data (it imports both) and below the CLI (qtn.cli, qtn.commands,
qtn.sweep).

>>> # results = run_training("experiments/demo/config.yaml", overrides=("train.steps=50",))
"""

from qtn.experiment.config import (
    ConfigError,
    EvalConfig,
    ModelConfig,
    RunConfig,
    load_config,
)
from qtn.experiment.run import evaluate_run, run_training

__all__ = [
    "ConfigError",
    "EvalConfig",
    "ModelConfig",
    "RunConfig",
    "evaluate_run",
    "load_config",
    "run_training",
]
