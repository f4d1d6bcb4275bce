"""Execute every notebooks/*.py (jupytext percent format) at small sizes; any cell error fails.

Each notebook is converted to .ipynb in a tmp dir and run with nbclient on a kernel spec written
into a temporary JUPYTER_PATH entry whose argv is this interpreter (so the kernel is the venv's
python, whatever other ``python3`` kernel specs the machine has). The working directory is
``notebooks/`` (as in Jupyter); figures and runs go to ``$QTN_NB_OUT`` (a tmp dir).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.py"))
KERNEL = "qtn-test-python3"
TIMEOUT_S = 600  # per cell; small mode is far below this


def test_notebooks_exist():
    names = [p.stem for p in NOTEBOOKS]
    assert names == [
        "01_mpo_decomposition",
        "02_circuit_cores",
        "03_hybrid_vs_lora",
        "04_contraction_costs",
        "05_sweeps",
        "06_paper_qtha",
        "07_hardware_path",
    ]


@pytest.fixture
def kernel_env(tmp_path, monkeypatch):
    """A kernel spec pointing at sys.executable, plus the small-size switch and output dir."""
    spec_dir = tmp_path / "jupyter" / "kernels" / KERNEL
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "qtn test kernel",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("QTN_NB_SMALL", "1")
    monkeypatch.setenv("QTN_NB_OUT", str(tmp_path / "out"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("TQDM_DISABLE", "1")
    return tmp_path


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path, kernel_env):
    import jupytext
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = jupytext.read(path)
    ipynb = kernel_env / f"{path.stem}.ipynb"
    client = NotebookClient(
        nb,
        kernel_name=KERNEL,
        timeout=TIMEOUT_S,
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
    )
    t0 = time.perf_counter()
    try:
        client.execute()
    except CellExecutionError as err:
        pytest.fail(f"{path.name}: a cell raised\n{err}")
    finally:
        import nbformat

        nbformat.write(nb, ipynb)  # executed copy, for debugging a failure
    elapsed = time.perf_counter() - t0
    errors = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert errors == [], f"{path.name}: error outputs {errors}"
    figures = sorted(p.name for p in (kernel_env / "out").rglob("*.png"))
    assert figures, f"{path.name} saved no figure under $QTN_NB_OUT"
    print(f"{path.name}: {elapsed:.1f} s, figures {figures}")
