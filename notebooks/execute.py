"""Execute notebooks at their real sizes into ``notebooks/executed/NN_name.ipynb`` (outputs and
figures included), for reading without running anything (GitHub, the docs site).

``python notebooks/execute.py [NN_name.py ...]`` (no argument: every ``notebooks/NN_*.py``);
``bash notebooks/execute.sh`` runs it with the repo's ``.venv``. Each notebook runs in a kernel
of this interpreter with the working directory ``notebooks/`` (as in Jupyter), this checkout
first on ``PYTHONPATH``, ``QTN_NB_SMALL=0`` (the real sizes; the tests run the small ones),
inline PNG figures at 100 dpi, progress bars off. Widget state and per-cell timing metadata are
not stored (small, stable files); the notebook's metadata records how long it ran and on which
host. A cell error stops that notebook: nothing is written for it, and the script exits 1
after trying the others.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parent
ROOT = NOTEBOOKS.parent
EXECUTED = NOTEBOOKS / "executed"
KERNEL = "qtn-execute-python3"
SIZE_LIMIT = 2_000_000  # bytes; figures are PNGs at 100 dpi, so a notebook stays well below
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


def kernel_spec(root: Path) -> Path:
    """A kernel spec under ``root`` whose argv is this interpreter (the venv's python)."""
    spec_dir = root / "kernels" / KERNEL
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "qtn (executed notebooks)",
        "language": "python",
        "env": {
            "MPLBACKEND": "module://matplotlib_inline.backend_inline",
            "QTN_NB_SMALL": "0",
            "HF_HUB_OFFLINE": "1",
            "TQDM_DISABLE": "1",
            # this checkout's qtn, whatever the interpreter has installed (an editable install
            # of another checkout, say); subprocesses such as 05's `qtn sweep` inherit it
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        },
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    return root


SETUP = (
    "%config InlineBackend.figure_formats = ['png']\n"
    "import matplotlib\n"
    "matplotlib.rcParams['figure.dpi'] = 100\n"
    "import pathlib, qtn\n"
    f"assert pathlib.Path(qtn.__file__).resolve().parents[1] == pathlib.Path({str(ROOT)!r}), "
    "qtn.__file__"
)


def execute(path: Path) -> tuple[Path, float, int]:
    """Run the notebook ``path`` and write its executed copy; (out path, seconds, bytes)."""
    import jupytext
    import nbformat
    from nbclient import NotebookClient

    nb = jupytext.read(path)
    # the figure format and dpi, set in a cell of its own that is removed after the run
    nb.cells.insert(0, nbformat.v4.new_code_cell(SETUP))
    client = NotebookClient(
        nb,
        kernel_name=KERNEL,
        timeout=None,
        record_timing=False,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    t0 = time.perf_counter()
    client.execute()
    elapsed = time.perf_counter() - t0
    nb.cells.pop(0)
    strip(nb)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                 "language": "python"}
    nb.metadata["qtn"] = {
        "source": f"notebooks/{path.name}",
        "command": f"bash notebooks/execute.sh {path.name}",
        "executed_s": round(elapsed, 1),
        "small": False,
        "host": f"{platform.machine()}, {os.cpu_count()} CPUs",
    }
    nb.metadata.pop("jupytext", None)
    EXECUTED.mkdir(exist_ok=True)
    out = EXECUTED / f"{path.stem}.ipynb"
    nbformat.write(nb, out)
    return out, elapsed, out.stat().st_size


def strip(nb) -> None:
    """Drop widget state and outputs (progress bars); number the cells from 1."""
    nb.metadata.pop("widgets", None)
    count = 0
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type != "code":
            continue
        kept = []
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            data.pop(WIDGET_MIME, None)
            if output.get("output_type") in ("display_data", "execute_result") and not data:
                continue
            kept.append(output)
        cell.outputs = kept
        if cell.get("execution_count") is not None:
            count += 1
            cell.execution_count = count
            for output in kept:
                if "execution_count" in output:
                    output.execution_count = count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", help="NN_name.py files (default: all)")
    args = parser.parse_args(argv)
    paths = (
        [NOTEBOOKS / Path(p).name for p in args.notebooks]
        if args.notebooks
        else sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))
    )
    failed = []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["JUPYTER_PATH"] = str(kernel_spec(Path(tmp)))
        for path in paths:
            print(f"{path.name}: running", flush=True)
            try:
                out, elapsed, size = execute(path)
            except Exception as err:  # a cell error: report it, go on with the others
                print(f"{path.name}: FAILED\n{err}", file=sys.stderr, flush=True)
                failed.append(path.name)
                continue
            note = "" if size <= SIZE_LIMIT else f" (over {SIZE_LIMIT / 1e6:.0f} MB!)"
            print(f"{path.name}: {elapsed:.0f} s -> {out.relative_to(ROOT)}, "
                  f"{size / 1e3:.0f} kB{note}", flush=True)
    if failed:
        print(f"failed: {failed}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
