"""Hand-written sweep point folders for collection / aggregation / report tests."""

import json
from pathlib import Path

import yaml


def write_point(
    root,
    name,
    index,
    *,
    overrides=None,
    results=None,
    status="done",
    variant=None,
    config=None,
    error=None,
):
    """A point folder as the runner leaves it (point.json, train_config.yaml, results.json)."""
    d = Path(root) / "points" / name
    d.mkdir(parents=True, exist_ok=True)
    state = {
        "name": name,
        "index": index,
        "label": None,
        "variant": variant or name,
        "overrides": overrides or {},
        "config_hash": "0" * 16,
        "status": status,
        "error": error,
        "log_tail": ["Traceback", error] if error else None,
    }
    (d / "point.json").write_text(json.dumps(state))
    (d / "train_config.yaml").write_text(yaml.safe_dump(config or {}))
    if results is not None:
        (d / "results.json").write_text(json.dumps(results))
    return d


VARIANTS = {
    # variant: (overrides, trainable params, train losses, eval losses, metrics, flops)
    "none": ({"adapter.method": "none"}, 0, [2.0] * 3, [2.1] * 3, [0.5] * 3, None),
    "LoRA r=8": (
        {"adapter.method": "lora", "adapter.r": 8},
        800,
        [1.0, 1.1, 1.2],
        [1.5] * 3,
        [0.80, 0.82, 0.84],
        None,
    ),
    "LoRA r=4": (
        {"adapter.method": "lora", "adapter.r": 4},
        400,
        [1.2] * 3,
        [1.6] * 3,
        [0.8] * 3,
        None,
    ),
    "QTHA small": (
        {"adapter.method": "qtha", "adapter.bond": 2, "adapter.depth": 1},
        160,
        [0.85, 0.9, 0.95],
        [1.4] * 3,
        [0.86, 0.88, 0.90],
        1e9,
    ),
    "QTHA large": (
        {"adapter.method": "qtha", "adapter.bond": 4, "adapter.depth": 2},
        400,
        [1.3] * 3,
        [1.7] * 3,
        [0.7] * 3,
        4e9,
    ),
}


def write_sweep(root, task="sentiment", *, failed_extra=True):
    """A hand-written sweep folder: 5 variants x 3 seeds, plus one failed QTHA-small seed."""
    index = 0
    for variant, (ov, params, tl, el, met, flops) in VARIANTS.items():
        for seed in range(3):
            overrides = {**ov, "seed": seed}
            method = ov["adapter.method"]
            results = {
                "name": f"{variant}-{seed}",
                "method": method,
                "task": task,
                "seed": seed,
                "trainable_params": params,
                "lora_r8_params": 800,
                "steps": 10,
                "train_loss": tl[seed],
                "eval_loss": el[seed],
                "metric_name": "accuracy",
                "metric": met[seed],
                "wall_time_s": 10.0 + seed,
            }
            if flops is not None:
                results["train_flops"] = flops * (1 + seed)
            config = {
                "seed": seed,
                "data": {"task": task, "n_train": 64},
                "train": {"steps": 10},
                "adapter": {"method": method},
            }
            name = f"{task}-{variant.replace(' ', '_').replace('=', '')}-s{seed}"
            write_point(
                root,
                name,
                index,
                overrides=overrides,
                results=results,
                variant=variant,
                config=config,
            )
            index += 1
    if failed_extra:
        write_point(
            root,
            f"{task}-QTHA_small-s3",
            index,
            overrides={**VARIANTS["QTHA small"][0], "seed": 3},
            results=None,
            status="failed",
            variant="QTHA small",
            error="exit code 3: ValueError: boom",
            config={"data": {"task": task}, "adapter": {"method": "qtha"}},
        )
    return root
