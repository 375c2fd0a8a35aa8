"""Execute the notebooks with small settings; any cell error fails, key outputs are checked.

The kernel is the ``python3`` kernelspec that ipykernel provides for the interpreter running
the tests (jupyter_client launches it with ``sys.executable``), so a fresh venv where only
``pip install -e .[dev]`` ran is enough. Notebooks run in their own kernel process, so the
Spark session they create does not collide with this process's ``spark`` fixture.
"""

import importlib.util
import os
import sys
from pathlib import Path

import nbformat
import pytest
from conftest import SHARED_DATA
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"


def _builder():
    spec = importlib.util.spec_from_file_location(
        "build_notebooks", NOTEBOOKS / "build_notebooks.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _outputs(notebook) -> str:
    """All text a notebook printed or displayed, in cell order."""
    texts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                texts.append(output["text"])
            elif "data" in output:
                texts.append(output["data"].get("text/plain", ""))
    return "".join(texts)


def execute(name: str, monkeypatch, **settings) -> str:
    # The kernel inherits this environment: small sizes, and sparknn importable from the repo.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("PYSPARK_PYTHON", sys.executable)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    for key, value in settings.items():
        monkeypatch.setenv(key, str(value))
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=600,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    client.execute()  # raises CellExecutionError naming the failing cell
    return _outputs(notebook)


@pytest.mark.parametrize(
    "name",
    ["classic_networks.ipynb", "quickstart.ipynb", "spark_ml.ipynb", "word2vec_pipeline.ipynb"],
)
def test_committed_notebooks_match_generator_and_have_no_outputs(name):
    committed = nbformat.read(NOTEBOOKS / name, as_version=4)
    generated = _builder().build(name)
    assert [c.source for c in committed.cells] == [c.source for c in generated.cells], (
        f"{name} is out of date: run python notebooks/build_notebooks.py"
    )
    assert all(not c.get("outputs") for c in committed.cells if c.cell_type == "code")


def test_classic_networks_notebook(monkeypatch):
    text = execute("classic_networks.ipynb", monkeypatch, SPARKNN_NB_SPARK_STEPS=2000)
    assert "prediction for [1, 0, 0]: 0.99993704" in text
    assert "Total params: 15" in text and "(None, 2)     12" in text
    assert "OR: predicted [0 1 1 1], target [0 1 1 1], accuracy 100%" in text
    assert "AND: predicted [0 0 0 1], target [0 0 0 1], accuracy 100%" in text
    assert "inference is deterministic: True" in text
    assert "2000 steps on local[2] over 2 partitions" in text
    assert "same weights as the single-process run: True" in text


def test_spark_ml_notebook(monkeypatch):
    if not (SHARED_DATA / "kjv").is_dir():
        pytest.skip(f"the shared corpora are not at {SHARED_DATA}")
    text = execute(
        "spark_ml.ipynb", monkeypatch, SPARKNN_NB_DATA=SHARED_DATA, SPARKNN_NB_PASSAGES=60,
        SPARKNN_NB_TEXT_EPOCHS=2, SPARKNN_NB_REGRESSION_EPOCHS=10,
    )  # fmt: skip
    assert "10 epochs; final mse: train " in text
    assert "180 passages; e.g. " in text
    assert "2 epochs" in text and "validation accuracy" in text
    assert "test accuracy: " in text


def test_word2vec_pipeline_notebook(monkeypatch):
    if not (SHARED_DATA / "kjv").is_dir():
        pytest.skip(f"the shared corpora are not at {SHARED_DATA}")
    text = execute(
        "word2vec_pipeline.ipynb", monkeypatch, SPARKNN_NB_DATA=SHARED_DATA,
        SPARKNN_NB_TOKENS=20_000, SPARKNN_NB_EPOCHS=1,
    )  # fmt: skip
    assert "400 training and 100 test passages of 4 books" in text
    assert "{'bible': 125, 'shakespeare': 125, 'ulysses': 125, 'dubliners': 125}" in text
    assert "'maxIter': 1" in text and "fit seconds" in text and "test accuracy" in text
    assert "MLlib " in text and "sparknn " in text
    assert "MLlib's: [" in text and "similarity(king, lord): " in text


def test_quickstart_notebook(monkeypatch, tmp_path):
    from sparknn.spark import cluster

    state = tmp_path / "cluster"
    monkeypatch.setenv("SPARKNN_CLUSTER_DIR", str(state))  # never the user's own cluster
    try:
        text = execute(
            "quickstart.ipynb",
            monkeypatch,
            SPARKNN_NB_WORKERS=1,
            SPARKNN_NB_LM_STEPS=4,
            SPARKNN_NB_LM_HIDDEN=16,
            SPARKNN_NB_LM_SEQ_LEN=20,
            SPARKNN_NB_LM_BATCH=8,
            SPARKNN_NB_LM_EVAL_EVERY=2,
            SPARKNN_NB_W2V_EPOCHS=2,
            SPARKNN_NB_W2V_DIMS="16,32",
            SPARKNN_NB_OUTPUT=tmp_path / "runs",
        )
    finally:
        stopped = cluster.stop(state)
    assert set(stopped) == {"master", "worker-1"}  # the notebook started its own cluster
    assert "master spark://127.0.0.1:" in text
    assert "4 steps in" in text and "bits per character" in text
    for temperature in (0.2, 0.5, 0.8, 1.0, 1.2):
        assert f"--- temperature {temperature}\nThe night was " in text
    assert "Word: night  Position in vocabulary:" in text
    assert "same neighbours after reload: True" in text
    assert (tmp_path / "runs" / "word2vec-16" / "vocab.tsv").is_file()
