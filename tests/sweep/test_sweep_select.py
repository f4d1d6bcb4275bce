"""Choosing one value per variant from stage-1 rows: the best score wins (ties: the earlier
value), failed runs never win, and a choice at an end of a numeric grid is flagged."""

from qtn.sweep.select import SelectSpec, choose, grid_edge


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
