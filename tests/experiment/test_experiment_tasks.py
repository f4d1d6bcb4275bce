"""FinalEvaluation: one prompt pass per example gives the same eval loss and choice accuracy as
the per-row paths (EvalStep over the eval batches, one row per (example, choice))."""

import jax
import numpy as np
import pytest
from flax import nnx

from qtn.adapters import inject
from qtn.data import build_data
from qtn.data.batching import balanced_rows
from qtn.experiment.tasks import FinalEvaluation
from qtn.nn.variables import AdapterParam
from qtn.train.compile import compile_all
from qtn.train.evaluate import choice_scores, evaluate_loss
from qtn.train.steps import PACKED_KEYS, EvalStep


def test_balanced_rows():
    assert balanced_rows(200, 64) == 56 and balanced_rows(8, 64) == 8
    assert balanced_rows(64, 64) == 64 and balanced_rows(65, 64) == 40


@pytest.mark.parametrize("task", ["sentiment", "arithmetic"])
def test_one_prompt_pass_matches_per_row_eval(tiny_checkpoint, task):
    from qtn.hf import from_pretrained

    model, tok = from_pretrained(tiny_checkpoint)
    inject(model, "lora", ["q_proj", "v_proj"], r=2, rngs=nnx.Rngs(0))
    for _, var in nnx.to_flat_state(nnx.state(model, AdapterParam)):  # a non-zero update
        var[...] = 0.1 * jax.random.normal(jax.random.key(1), var[...].shape)
    data = build_data(
        {"task": task, "n_train": 8, "n_eval": 6, "max_len": 256, "batch_size": 4}, tok
    )  # max_len: no prompt is truncated (see qtn.data.continuations on truncation)
    step = EvalStep(model, batch_keys=PACKED_KEYS)
    final = FinalEvaluation(model, tok, data, step, "val", batch_size=4, max_new_tokens=4)
    report = compile_all(final.compile_jobs())
    assert report.programs == len({(b["input_ids"].shape) for b in final.scored}) + len(
        {b["input_ids"].shape for b in getattr(final, "prompts", [])}
    )
    got = final.run()
    ref = evaluate_loss(step, data.eval_iterator("val"))
    assert got["eval_tokens"] == ref["tokens"]
    assert got["eval_loss"] == pytest.approx(ref["loss"], abs=1e-5)
    if task == "sentiment":
        choices, batches = data.choice_set("val")
        scores = choice_scores(step, batches, len(choices.encoded))
        assert got["metric"] == pytest.approx(choices.accuracy(scores))
        nll = final._score()[:, 1:]  # per-choice NLL equals the per-row scores
        np.testing.assert_allclose(
            -nll[choices.example_of, choices.choice_of], scores, atol=1e-4
        )
    else:
        assert got["metric_name"] == "exact_match" and len(got["samples"]) == 6
