"""``qtn decompose``: TT-SVD of a random (or smooth) matrix; bond dims, params, error."""

from __future__ import annotations

import argparse
import json


def parse_shape(text: str) -> tuple[int, int]:
    """ "256x512" -> (256, 256)."""
    try:
        rows, cols = (int(p) for p in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"shape must look like 256x512, got {text!r}") from None
    if rows < 1 or cols < 1:
        raise ValueError(f"shape must be positive, got {text!r}")
    return rows, cols


def parse_dims(text: str | None) -> tuple[int, ...] | None:
    return None if text is None else tuple(int(p) for p in text.split(","))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--shape", default="256x512", help="d_in x d_out, e.g. 256x512")
    parser.add_argument("--bond", type=int, default=None, help="max bond dimension")
    parser.add_argument("--cutoff", type=float, default=0.0, help="relative singular cutoff")
    parser.add_argument("--sites", type=int, default=3, help="number of MPO cores")
    parser.add_argument("--in-dims", default=None, help="input factors, e.g. 4,8,8")
    parser.add_argument("--out-dims", default=None, help="output factors, e.g. 8,8,8")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smooth", action="store_true", help="smooth low-rank-ish matrix")
    parser.add_argument("--json", action="store_true", help="print JSON")


def make_matrix(rows: int, cols: int, seed: int, smooth: bool):
    """Gaussian N(0, 1/rows) entries, or the smooth kernel 1 / (1 + u + v) on a grid."""
    import numpy as np

    if smooth:
        u = np.linspace(0.0, 1.0, rows)[:, None]
        v = np.linspace(0.0, 1.0, cols)[None, :]
        return 1.0 / (1.0 + u + v)
    return np.random.default_rng(seed).standard_normal((rows, cols)) / np.sqrt(rows)


def run(args: argparse.Namespace) -> int:
    from qtn.tn import factorize, tt_svd

    rows, cols = parse_shape(args.shape)
    if args.sites < 1:
        raise ValueError(f"--sites must be >= 1, got {args.sites}")
    in_dims = factorize(rows, args.sites, parse_dims(args.in_dims))
    out_dims = factorize(cols, args.sites, parse_dims(args.out_dims))
    w = make_matrix(rows, cols, args.seed, args.smooth)
    _, report = tt_svd(w, in_dims, out_dims, max_bond=args.bond, cutoff=args.cutoff)
    out = {"shape": [rows, cols], **report.to_dict()}
    out["compression"] = report.dense_params / report.params
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"W {rows}x{cols} ({'smooth' if args.smooth else 'gaussian'}, seed {args.seed})")
    print(f"in_dims   {in_dims}\nout_dims  {out_dims}\nbond_dims {report.bond_dims}")
    print(
        f"params    {report.params:,} vs dense {report.dense_params:,} ({out['compression']:.1f}x)"
    )
    print(f"rel_error {report.rel_error:.3e}")
    return 0
