"""Choosing one value per variant from stage-1 rows: the best score wins (ties: the earlier
value), failed runs never win, and a choice at an end of a numeric grid is flagged."""

import math

from qtn.sweep.select import SelectSpec, choose, grid_edge, local_next


def rows(variant, losses, status="done"):
    return [{"label": variant, "train.lr": lr, "status": status, "eval_loss": loss}
            for lr, loss in losses.items()]


def test_choice_and_grid_edges():
    spec = SelectSpec(key="train.lr", values=(1e-4, 1e-3, 1e-2), by="eval_loss")
    got = choose(spec, rows("inside", {1e-4: 0.5, 1e-3: 0.3, 1e-2: 0.4})
                 + rows("low", {1e-4: 0.2, 1e-3: 0.3, 1e-2: 0.4})
                 + rows("high", {1e-4: 0.5, 1e-3: 0.3, 1e-2: 0.1})
                 + rows("tie", {1e-4: 0.3, 1e-3: 0.3, 1e-2: 0.4})
                 + rows("failed", {1e-4: 0.1}, status="failed") + rows("failed", {1e-3: 0.6}))
    assert got["inside"]["value"] == 1e-3 and "edge" not in got["inside"]
    assert (got["low"]["value"], got["low"]["edge"]) == (1e-4, "lowest")
    assert (got["high"]["value"], got["high"]["edge"]) == (1e-2, "highest")
    assert got["tie"]["value"] == 1e-4  # the earlier value wins a tie
    assert got["failed"]["value"] == 1e-3 and got["failed"]["scores"]["0.0001"] is None


def test_grid_edge_needs_three_numbers():
    assert grid_edge([1e-4, 1e-3], 1e-4) is None  # two values: every choice is an end
    assert grid_edge(["adam", "sgd", "lion"], "adam") is None
    assert grid_edge([1, 2, 3], None) is None
    assert grid_edge([3, 1, 2], 3) == "highest"  # by value, not by position


GRID = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1)


def walk(true_loss, start=1e-3, fail_above=None):
    """Run local search against ``true_loss(lr)``; returns (values run in order, rounds)."""
    scores, order, rounds = {}, [], 0
    while todo := local_next(GRID, scores, start):
        rounds += 1
        for lr in todo:
            failed = fail_above is not None and lr > fail_above
            scores[repr(lr)] = None if failed else -true_loss(lr)
            order.append(lr)
    return order, rounds


def test_local_search_walks_to_the_grid_optimum_and_stops_at_worse_neighbours():
    # optimum inside the first three: one round
    assert walk(lambda lr: abs(math.log10(lr) + 3)) == ([1e-4, 1e-3, 1e-2], 1)
    # optimum two steps down: the walk goes down until a worse value brackets it
    order, rounds = walk(lambda lr: abs(math.log10(lr) + 5))
    assert order == [1e-4, 1e-3, 1e-2, 1e-5] and rounds == 2  # 1e-5 is the grid's end
    order, _ = walk(lambda lr: abs(math.log10(lr) + 1.2))
    assert order == [1e-4, 1e-3, 1e-2, 1e-1]
    # the full grid's choice, with fewer runs, for every unimodal optimum position
    for best in GRID:
        order, _ = walk(lambda lr, b=best: abs(math.log10(lr / b)))
        full = min(GRID, key=lambda lr, b=best: abs(math.log10(lr / b)))
        assert full in order and len(order) <= 4


def test_local_search_counts_failed_runs_as_worse():
    # diverged above 1e-3: the failures bracket the optimum from above
    order, _ = walk(lambda lr: -math.log10(lr), fail_above=1e-3)
    assert order == [1e-4, 1e-3, 1e-2]
    # everything fails: the search widens to the whole grid, then stops
    order, _ = walk(lambda lr: 0.0, fail_above=0.0)
    assert sorted(order) == list(GRID)


def test_local_search_spec_errors():
    def errors_of(**raw):
        errors = []
        SelectSpec.parse({"key": "train.lr", "values": [1e-4, 1e-3, 1e-2], **raw}, errors)
        return errors

    assert SelectSpec.parse({"key": "train.lr", "values": [1e-4, 1e-3, 1e-2, 1e-1],
                             "search": "local"}, []).start == 1e-2  # the middle value
    assert "select.search must be one of" in errors_of(search="random")[0]
    assert "strictly increasing" in errors_of(search="local", values=[1e-3, 1e-4, 1e-2])[0]
    assert ">= 3 values" in errors_of(search="local", values=[1e-4, 1e-3])[0]
    assert "select.start must be one of" in errors_of(search="local", start=5e-4)[0]
    assert "needs select.search: local" in errors_of(start=1e-3)[0]
