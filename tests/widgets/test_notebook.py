"""The example notebook runs top to bottom in a real kernel (nbclient), with no error."""

import nbformat
from nbclient import NotebookClient

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def test_example_notebook_executes_headless(example_notebook, tmp_path):
    notebook = nbformat.read(example_notebook, as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert not [o for o in outputs if o.output_type == "stream" and o.name == "stderr" and "Traceback" in o.text]
    explorers = [o for o in outputs if o.output_type == "execute_result" and WIDGET_VIEW in o.data]
    assert len(explorers) == 2  # the CT slice and the MR volume
