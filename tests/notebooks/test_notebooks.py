"""The notebooks: stripped of outputs in git, and each runs top to bottom offline producing its plots."""

from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))
# PNG outputs each notebook must produce (its plots).
MIN_PLOTS = {"01_quickstart": 1, "02_explore_catalog": 4, "03_training": 2, "04_evaluation": 4}


def test_every_notebook_is_known():
    assert [n.stem for n in NOTEBOOKS] == sorted(MIN_PLOTS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: strip outputs before committing"


@pytest.mark.integration
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_offline_and_draws_its_plots(path, tmp_path_factory, monkeypatch):
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    # Notebooks share one scratch folder per test session (02 reuses what 01 tagged), as they would for a user.
    monkeypatch.setenv("MUSISCENE_NOTEBOOK_DIR", str(tmp_path_factory.getbasetemp() / "notebooks"))
    NotebookClient(
        notebook, timeout=1200, kernel_name="python3", resources={"metadata": {"path": str(tmp_path_factory.mktemp(path.stem))}}
    ).execute()
    pngs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs if "image/png" in o.get("data", {})]
    assert len(pngs) >= MIN_PLOTS[path.stem]
