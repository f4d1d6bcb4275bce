"""qtn: quantum-tensor hybrid fine-tuning of language models (MPO + circuit tensor networks in JAX).

Subpackages (each may import only those listed before it):
``qtn.tn`` (pure tensor-network math), ``qtn.contract`` (cotengra planning + JAX execution),
``qtn.nn`` (Flax NNX layers), ``qtn.models``, ``qtn.hf``, ``qtn.adapters``, ``qtn.train``,
``qtn.data``, ``qtn.experiment`` (run config + ``run_training``: training meets data), and the
command-line / workflow glue ``qtn.sweep``, ``qtn.commands``, ``qtn.cli``
(``tests/test_layering.py`` checks this order).
"""

__version__ = "0.1.0"
