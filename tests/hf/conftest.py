"""Helpers shared by the parity tests: tiny random transformers checkpoints in tmp dirs."""

from __future__ import annotations

import os

import hf_reference
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

@pytest.fixture
def ref():
    """The reference helpers (torch_model, save_checkpoint, torch_logits, FAMILIES)."""
    return hf_reference


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    """Parity and loader tests never touch the network."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def smollm2_folder(tmp_path_factory):
    """The offline SmolLM2 default converted once per test session into a tmp cache."""
    from qtn.hf import default_model_path

    return default_model_path(tmp_path_factory.mktemp("qtn_cache"))


@pytest.fixture(scope="session")
def smollm2_torch_gguf():
    """transformers' own GGUF loader (torch): the independent reference for the SmolLM2 tests."""
    import torch
    from transformers import AutoModelForCausalLM

    from qtn.hf.assets import default_gguf_path

    torch.set_num_threads(2)
    gguf = default_gguf_path()
    model = AutoModelForCausalLM.from_pretrained(
        str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32, local_files_only=True,
        attn_implementation="eager",
    )
    return model.eval()
