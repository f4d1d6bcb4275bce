"""qtn.adapters: method registry, injection by target-module patterns, merge, save/load, export.

>>> # inject(model, "lora", ["q_proj", "v_proj"], r=8, alpha=16, rank_pattern={"v_proj": 4})
"""

from qtn.adapters.inject import adapter_layers, inject, inject_spec, linear_paths, merge
from qtn.adapters.io import load_adapter, read_adapter_config, save_adapter
from qtn.adapters.params import ParamRow, ParamTable, param_table
from qtn.adapters.peft import export_peft
from qtn.adapters.registry import METHODS, AdapterMethod, get_method
from qtn.adapters.spec import AdapterSpec

__all__ = [
    "METHODS",
    "AdapterMethod",
    "AdapterSpec",
    "ParamRow",
    "ParamTable",
    "adapter_layers",
    "export_peft",
    "get_method",
    "inject",
    "inject_spec",
    "linear_paths",
    "load_adapter",
    "merge",
    "param_table",
    "read_adapter_config",
    "save_adapter",
]
