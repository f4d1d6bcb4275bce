"""Run config: YAML + --set overrides, validation with clear errors before anything loads."""

import json
import re

import pytest

from qtn.experiment.config import ConfigError, RunConfig, load_config

YAML = """
name: demo
seed: 3
model: {path: some/folder}
data: {task: sentiment, n_train: 64, batch_size: 4}
adapter: {method: lora, target_modules: [q_proj, v_proj], r: 4, rank_pattern: {v_proj: 2}}
train: {steps: 20, lr: 1.0e-3, warmup_steps: 2}
"""


@pytest.fixture
def yaml_path(tmp_path):
    p = tmp_path / "config.yaml"
    p.write_text(YAML)
    return p


def test_yaml_and_overrides(yaml_path):
    c = load_config(
        yaml_path,
        [
            "train.lr=3e-4",
            "adapter.r=8",
            "data.n_train=16",
            "adapter.target_modules=[q_proj]",
            "train.angle_lr=1",
        ],
    )
    assert c.name == "demo" and c.seed == 3 and c.model.path == "some/folder"
    assert c.train.lr == pytest.approx(3e-4) and c.train.steps == 20
    assert isinstance(c.train.angle_lr, float) and c.train.angle_lr == 1.0
    spec = c.adapter_spec
    assert spec.options["r"] == 8 and spec.target_modules == ("q_proj",)
    assert spec.patterns == {"rank_pattern": {"v_proj": 2}}
    assert c.data_config().task_options["n_train"] == 16
    assert c.data_config().seed == 3  # the run seed is the default data seed
    assert RunConfig.from_dict(c.to_dict()) == c
    assert load_config(yaml_path, ["adapter=null"]).adapter_spec is None


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.stepz=3", "unknown key train.stepz (did you mean train.steps?)"),
        ("train.lr=-1", "train.lr must be > 0"),
        ("train.steps=abc", "train.steps must be int, got 'abc'"),
        ("train.warmup_steps=50", "warmup_steps (50) must be < steps (20)"),
        ("adapter.r=0", "r must be an integer >= 1"),
        ("adapter.bond=2", "unknown option(s) ['bond']"),
        ("adapter.method=nope", "unknown adapter method 'nope'"),
        ("data.colour=red", "unknown data option(s) ['colour']"),
        ("model.dtype=int8", "model.dtype must be one of"),
        ("model.param_dtype=int4", "model.param_dtype must be one of"),
        ("train.remat=layers", "train.remat must be one of ('none', 'layer', 'attention_mlp')"),
        ("train.loss_chunk=-1", "train.loss_chunk must be >= 0 (0 = full logits), got -1"),
        ("parallel.fsdp=0", "parallel.fsdp must be >= 1, got 0"),
        ("parallel.distributed=always", "parallel.distributed must be 'auto' or 'off'"),
        ("parallel.gpus=2", "unknown key parallel.gpus"),
        ("eval.split=dev", "eval.split must be train/val/test"),
        ("data.mode=packed",
         "data.mode must be one of [None, 'bucket', 'pack', 'stream'], got 'packed'"),
        ("data.prompt_format=json", "data.prompt_format must be one of ['auto', 'plain', 'chat']"),
        ("data.truncation=left",
         "data.truncation must be one of ['middle', 'drop', 'error'], got 'left'"),
        ("colour=red", "unknown key colour"),
    ],
)
def test_errors_are_clear(yaml_path, override, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(yaml_path, [override])


def test_all_errors_reported_together(yaml_path):
    with pytest.raises(ConfigError) as err:
        load_config(yaml_path, ["train.lr=-1", "adapter.r=0", "train.stepz=1"])
    assert str(err.value).count("\n  - ") == 3


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_jsonl_metric_errors_fail_at_config_time(tmp_path, yaml_path):
    """Unknown metric and choices that miss a label: named before any model loads (the model
    path of the YAML does not exist)."""
    path = tmp_path / "party.jsonl"
    rows = [{"prompt": f"p{i}", "completion": f" {lab}"} for i, lab in enumerate("abcab")]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    jsonl = [f"data={{task: jsonl, train_path: {path}}}"]
    assert load_config(yaml_path, jsonl).data_config().task == "jsonl"
    with pytest.raises(ConfigError) as err:
        load_config(yaml_path, [*jsonl, "data.metric=acc"])
    assert (
        "data: jsonl metric must be one of ['exact_match', 'choice_accuracy', 'perplexity'], "
        "got 'acc'"
    ) in str(err.value)
    with pytest.raises(ConfigError) as err:
        load_config(
            yaml_path,
            [*jsonl, "data.metric=choice_accuracy", "data.choices=[a, b]", "train.lr=-1"],
        )
    assert (
        "data: choices ['a', 'b'] do not cover the label(s) ['c'] found in the data; expected "
        "every label among the choices"
    ) in str(err.value)
    assert str(err.value).count("\n  - ") == 2  # reported together with the other errors
    c = load_config(yaml_path, [*jsonl, "data.metric=choice_accuracy", "data.choices=[c, b, a]"])
    assert c.data_config().task_options["choices"] == ["c", "b", "a"]
    with pytest.raises(ConfigError, match=r"data: .*absent.jsonl: no such file"):
        load_config(yaml_path, [f"data={{task: jsonl, train_path: {tmp_path}/absent.jsonl}}"])


def test_scale_sections(yaml_path):
    c = load_config(
        yaml_path,
        ["model.param_dtype=bfloat16", "train.remat=layer", "parallel={data: 2, fsdp: 2}"],
    )
    assert c.model.dtype == "float32" and c.model.storage_dtype == "bfloat16"
    assert load_config(yaml_path).model.storage_dtype == "float32"  # default: the compute dtype
    assert c.parallel.devices == 4 and c.train.remat == "layer" and c.train.loss_chunk == 256
    assert RunConfig.from_dict(c.to_dict()) == c


def test_resume_allows_another_mesh_and_older_checkpoints(yaml_path):
    from qtn.experiment.run import check_resumable

    c = load_config(yaml_path, ["parallel.fsdp=4", "train.remat=layer"])
    saved = load_config(yaml_path).to_dict()
    check_resumable(saved, c)  # device count and remat may change on resume
    del saved["parallel"], saved["train"]["loss_chunk"]  # a checkpoint from before these keys
    check_resumable(saved, c)
    with pytest.raises(ValueError, match="train.loss_chunk: 128 -> 256"):
        check_resumable({**saved, "train": {**saved["train"], "loss_chunk": 128}}, c)
