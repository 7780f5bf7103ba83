"""The example notebook runs from top to bottom (nbclient, a fresh kernel, in a temporary
folder; short runs) and its last cell reports the loss of the restricted model."""

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.slow
def test_walkthrough_notebook_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("CIRCLE_SURVIVAL_EXAMPLE_STEPS", "100")  # the kernel inherits it
    nb = nbformat.read(EXAMPLES / "walkthrough.ipynb", as_version=4)
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    assert (tmp_path / "example-store").is_dir()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs)  # the figures are shown
    last = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    assert "with only the circles" in last
