"""Runs whose circuits go to an external SDK: a job failure stops the run with the job id and
keeps the last checkpoint; the resumed run resubmits no stored circuit and ends with an
uninterrupted run's metrics (pyqpanda3 CPUQVM, seeded shots); qiskit-aer trains, evaluates
from the run's cache and exports its circuits; a cloud run without a key fails before loading."""

import json
import sqlite3
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

from qtn.experiment.run import evaluate_run, run_training
from qtn.quantum import JobError, exact_probabilities
from qtn.quantum.jobs import CACHE_FILE, circuit_keys
from qtn.train.checkpoint import list_checkpoints
from qtn.train.metrics import read_metrics

ADAPTER = {"method": "circuit_mpo", "target_modules": ["q_proj"], "bond": 2, "depth": 1,
           "readout": "probs", "alpha": 1.0}
TRAIN = {"steps": 4, "checkpoint_every": 2}
EVAL = {"split": "val", "metric": False}
VOLATILE = {"tokens_per_s", "step_time_s", "compiled", "quantum_cache_hits",
            "quantum_jobs_submitted"}


def _config(run_config, out, quantum):
    cfg = run_config(out, adapter=ADAPTER, train=TRAIN, eval=EVAL, quantum=quantum)
    cfg["adapter"].pop("r", None)
    return cfg


def _stored_keys(out_dir) -> set[str]:
    with sqlite3.connect(Path(out_dir) / CACHE_FILE) as conn:
        return {row[0] for row in conn.execute("SELECT circuit FROM results")}


def _rows(out_dir):
    return [{k: v for k, v in r.items() if k not in VOLATILE}
            for r in read_metrics(Path(out_dir) / "metrics.jsonl")]


def test_pyqpanda3_job_failure_then_resume_matches_uninterrupted(run_config, monkeypatch):
    pytest.importorskip("pyqpanda3.core")
    from qtn.quantum.pyqpanda_executor import CPUQVMBackend

    quantum = {"executor": "pyqpanda3", "shots": 500, "max_attempts": 2,
               "retry_backoff_s": 0.0}
    full = run_training(_config(run_config, "full", quantum))
    per_step = [r["quantum_jobs_submitted"] for r in read_metrics(
        Path(run_config("full")["out_dir"]) / "metrics.jsonl") if "loss" in r]
    assert full["quantum"]["backend"].startswith("pyqpanda3/cpuqvm/ideal/noiseless/seeded")
    assert full["quantum"]["train_totals"]["quantum_jobs_submitted"] == sum(per_step) > 0

    original = CPUQVMBackend.run_job
    submitted: list[str] = []
    fail_after = {"jobs": per_step[0] + per_step[1] + 1}  # one job of step 3 gets stored

    def flaky(self, circuit, angles, seeds, timeout_s=None):
        if fail_after["jobs"] <= 0:
            raise ConnectionError("QPU link lost")
        fail_after["jobs"] -= 1
        submitted.extend(circuit_keys(circuit, angles))
        return original(self, circuit, angles, seeds, timeout_s)

    cfg = _config(run_config, "resumed", quantum)
    monkeypatch.setattr(CPUQVMBackend, "run_job", flaky)
    with pytest.raises(JobError, match=r"quantum job pyqpanda3-cpuqvm-[0-9a-f]{12} failed "
                       r"after 2 attempt\(s\): ConnectionError: QPU link lost"):
        run_training(cfg)
    assert [p.name for p in list_checkpoints(Path(cfg["out_dir"]) / "checkpoints")] == [
        "step_00000002"]
    stored = _stored_keys(cfg["out_dir"])
    assert stored == set(submitted)

    submitted.clear()
    fail_after["jobs"] = 10**6
    resumed = run_training(cfg, resume=True)
    assert submitted and not set(submitted) & stored  # nothing stored is sent again
    step3 = [r for r in read_metrics(Path(cfg["out_dir"]) / "metrics.jsonl")
             if r.get("step") == 3 and "loss" in r][0]
    assert step3["quantum_cache_hits"] > 0
    for key in ("train_loss", "eval_loss"):
        assert resumed[key] == full[key]
    assert _rows(cfg["out_dir"]) == _rows(run_config("full")["out_dir"])


def test_qiskit_aer_trains_evaluates_and_exports_circuits(run_config, tmp_path, capsys):
    pytest.importorskip("qiskit_aer")
    import qiskit
    from qiskit.quantum_info import Statevector

    from qtn.cli import main
    from qtn.quantum.bitorder import little_to_qtn

    quantum = {"executor": "qiskit-aer", "shots": 400, "device": "wukong72"}
    cfg = _config(run_config, "aer", {**quantum})
    cfg["train"] = {**cfg["train"], "steps": 2}
    result = run_training(cfg)
    assert result["quantum"]["executor"] == "qiskit-aer"
    assert result["quantum"]["device"] == "wukong72" and result["train_loss"] > 0
    out = Path(cfg["out_dir"])
    before = len(_stored_keys(out))
    ev = evaluate_run(cfg, adapter=out / "adapter")
    assert ev["eval_loss"] == result["eval_loss"]  # the same circuits, answered by the cache
    assert len(_stored_keys(out)) == before

    circuits = tmp_path / "circuits"
    assert main(["export", "--circuits", str(circuits), "--adapter", str(out / "adapter")]) == 0
    assert "wrote 2 circuit(s)" in capsys.readouterr().out
    manifest = json.loads((circuits / "manifest.json").read_text())
    assert [r["module"] for r in manifest["circuits"]] == [
        "layers.0.self_attn.q_proj", "layers.1.self_attn.q_proj"]
    record = manifest["circuits"][0]
    assert record["observable"] == "probs" and not record["per_token"]
    qc = qiskit.qasm2.loads((circuits / record["files"]["qasm2"]).read_text())
    probs = little_to_qtn(Statevector(qc.remove_final_measurements(inplace=False)).probabilities())
    expected = exact_probabilities_np(record)
    assert np.abs(probs - expected).max() < 1e-6
    assert main(["export", "--adapter", str(out / "adapter")]) == 2  # neither --out nor dir


def exact_probabilities_np(record) -> np.ndarray:
    from qtn.quantum import ansatz_circuit
    from qtn.tn import CircuitSpec

    n = record["qubits"]
    circuit = ansatz_circuit(CircuitSpec(ADAPTER["depth"], readout="probs"), n)  # hea/cz/chain
    angles = jnp.asarray(record["slot_angles"], jnp.float32)[None]
    return np.asarray(exact_probabilities(circuit, angles))[0]


def test_cloud_run_without_a_key_fails_before_loading(run_config, monkeypatch):
    pytest.importorskip("pyqpanda3.core")
    monkeypatch.delenv("ORIGIN_QC_API_KEY", raising=False)
    cfg = _config(run_config, "cloud", {"executor": "pyqpanda3", "backend": "origin_wukong",
                                        "device": "wukong72", "shots": 1000})

    def never(_config):
        raise AssertionError("the model must not be loaded")

    with pytest.raises(ValueError, match="ORIGIN_QC_API_KEY"):
        run_training(cfg, model_loader=never)
