"""The walkthrough notebook: it runs top to bottom at its small setting (nbclient), so it never rots, and
it is committed with the outputs of its full setting, so it reads without running."""

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import REPO

pytestmark = pytest.mark.e2e

NOTEBOOK = REPO / "notebooks" / "background_splitting.ipynb"


def _outputs(notebook):
    return [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]


def test_the_notebook_runs_at_its_small_setting(tiny_data_dir, tmp_path, monkeypatch):
    # The kernel inherits these: the tiny benchmark, one epoch, runs written under tmp_path.
    monkeypatch.setenv("BGSPLIT_NOTEBOOK_SMALL", "1")
    monkeypatch.setenv("BGSPLIT_NOTEBOOK_DATA_DIR", tiny_data_dir)
    monkeypatch.setenv("BGSPLIT_NOTEBOOK_RUNS", str(tmp_path / "runs"))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()  # raises on any cell's error
    outputs = _outputs(notebook)
    # 2 galleries, the regime map's 2 figures, PR curves, top-ranked
    assert sum("image/png" in output.get("data", {}) for output in outputs) == 6
    text = "".join(output.get("text", "") for output in outputs)
    assert "Background Splitting  " in text and "fine-tuning  " in text  # the mAP table
    assert "decoded: [ True  True  True  True False]" in text  # the SavedModel flagged the bad request image
    assert (tmp_path / "runs" / "bgsplit" / "export" / "1" / "saved_model.pb").exists()


def test_the_committed_notebook_shows_the_outputs_of_its_full_setting():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.outputs for cell in code_cells if "parameters" not in cell.metadata.get("tags", []))
    assert sum("image/png" in output.get("data", {}) for output in _outputs(notebook)) == 6
    text = "".join(output.get("text", "") for output in _outputs(notebook))
    assert "dataset: bgsplit_shapes\n" in text and "rare categories: (" in text
