"""The quick-start job, with tiny sizes, on the shared test session, and README.md's code
blocks run against its outputs."""

import contextlib
import io
import re
import shlex
import shutil
from pathlib import Path

import pytest

from sparknn.charlm.model import load_charlm
from sparknn.cli import main as sparknn_main
from sparknn.demo import QUERIES, DemoSettings, run_demo
from sparknn.errors import SparknnError
from sparknn.logs import setup_console_logging
from sparknn.word2vec.vectors import load_vectors

SCORED = r"(\S+) (-?\d\.\d{3})"
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def demo(spark, dubliners_path, tmp_path_factory):
    """One quick demo run for this module: its output folder and what it printed. The
    vocabulary is the full demo's (the same corpus and min_count), the vectors learn little."""
    output = tmp_path_factory.mktemp("demo")
    (output / "word2vec").mkdir()  # an earlier demo's output is replaced
    (output / "word2vec" / "vectors.npy").write_text("from an earlier demo")
    (output / "word2vec" / "stale.txt").write_text("from an earlier demo")
    (output / "charlm" / "checkpoints").mkdir(parents=True)
    (output / "charlm" / "metrics.csv").write_text("from an earlier demo")
    (output / "charlm" / "checkpoints" / "step-00000004.npz").write_text("an earlier demo's")
    printed, logged = io.StringIO(), io.StringIO()
    setup_console_logging()  # as the demo's main does
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(logged):
        run_demo(spark, dubliners_path, DemoSettings.quick(), output)
    return output, printed.getvalue(), logged.getvalue()


def test_demo_logs_progress_to_stderr_and_reports_on_stdout(demo):
    """Progress lines are the char-LM's text, bare, on stderr; stdout has only the report."""
    _, out, err = demo
    assert "step 4/4  epoch 0  loss " in err and "done: 4 steps in " in err
    assert "corpus: " in err and "  sample at temperature 0.5: " in err
    assert "step 4/4" not in out and "done: 4 steps" not in out
    assert "INFO" not in err


def test_demo_prints_neighbour_tables_and_samples(demo):
    settings = DemoSettings.quick()
    output, out, _ = demo
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split() == list(QUERIES))
    rows = lines[header + 2 : header + 2 + settings.neighbours]
    for row in rows:
        assert len(re.findall(SCORED, row)) == len(QUERIES), row
    # Each column is sorted by similarity, most similar first.
    scores = [[float(s) for _, s in re.findall(SCORED, row)] for row in rows]
    for column in zip(*scores, strict=True):
        assert list(column) == sorted(column, reverse=True)

    # The printed table is what the saved model answers.
    vectors = load_vectors(output / "word2vec")
    first_row = re.findall(SCORED, rows[0])
    for word, (neighbour, score) in zip(QUERIES, first_row, strict=True):
        best, cosine = vectors.most_similar(word, topn=1)[0]
        assert (best, round(cosine, 3)) == (neighbour, float(score))
    assert not (output / "word2vec" / "stale.txt").exists()

    # Samples at every temperature, from the char-LM saved beside it.
    for temperature in ("0.2", "0.5", "1.0", "1.2"):
        assert f"----- temperature {temperature} -----" in out
    model, vocab = load_charlm(output / "charlm")
    assert not (output / "charlm" / "checkpoints").exists()
    assert model.layers[-1].units == len(vocab)
    assert f"sparknn neighbors {output / 'word2vec'}" in out


def test_demo_leaves_folders_it_did_not_write_alone(spark, dubliners_path, tmp_path):
    mine = tmp_path / "word2vec" / "notes.txt"
    mine.parent.mkdir()
    mine.write_text("not a demo output")
    with pytest.raises(SparknnError, match="is not an earlier demo's output"):
        run_demo(spark, dubliners_path, DemoSettings.quick(), tmp_path)
    assert mine.read_text() == "not a demo output"


# README.md's fenced blocks that this test does not run, by the start of their first line,
# with the reason. Every other block runs: python blocks as they are, shell blocks line by
# line as sparknn commands, in a folder where runs/demo is the demo's output. A new block
# that is neither runnable nor listed here fails the test: decide which it is.
README_NOT_RUN = {
    "make demo": "installs .venv and trains for minutes; the demo runs above, quick",
    "sparknn demo on Spark": "the demo's output, not a command",
    ". .venv/bin/activate": "spark-submit to a cluster (spark://HOST) and HDFS",
    "sparknn cluster start": "a standalone cluster; tests/test_cluster.py starts one",
    "SPARK_WORKER_OPTS=": "GPU workers' configuration",
    "spark-submit --master spark://HOST": "GPU nodes; tests/test_opencl_spark.py maps GPUs",
    "make notebooks": "starts Jupyter Lab; tests/test_notebooks.py runs the notebooks",
}


def readme_blocks():
    """README.md's fenced blocks as ``(language, first line, text)``."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return [
        (language, body.strip().splitlines()[0], body)
        for language, body in re.findall(r"^```(\w*)\n(.*?)^```", text, re.M | re.S)
    ]


def not_run_reason(first_line):
    return next(
        (why for start, why in README_NOT_RUN.items() if first_line.startswith(start)), None
    )


def test_readme_blocks_run_against_the_demos_outputs(demo, spark, tmp_path, monkeypatch, capsys):
    output, _, _ = demo
    # Spark resolves the blocks' relative paths against its JVM's folder, not this one's.
    saved_network = Path(spark._jvm.System.getProperty("user.dir"), "runs", "readme-network")
    was_there = saved_network.exists()
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "demo").symlink_to(output)
    (tmp_path / "data").symlink_to(REPO / "data")
    monkeypatch.chdir(tmp_path)
    blocks = readme_blocks()
    starts = [first for _, first, _ in blocks]
    stale = [start for start in README_NOT_RUN if not any(f.startswith(start) for f in starts)]
    assert not stale, f"README_NOT_RUN lists blocks README.md no longer has: {stale}"
    ran = 0
    for language, first_line, body in blocks:
        if not_run_reason(first_line):
            continue
        if language == "python":
            exec(compile(body, f"README.md block {first_line!r}", "exec"), {})
        else:
            for line in body.splitlines():
                command = shlex.split(line, comments=True)
                if not command:
                    continue
                assert command[0] == "sparknn", (
                    f"README.md block {first_line!r}: {line!r} is not a sparknn command; "
                    "make it one this test can run, or list the block in README_NOT_RUN"
                )
                assert sparknn_main(command[1:]) == 0, line
        ran += 1
    assert ran >= 3  # the query commands, the query snippet, the Python API snippet
    assert saved_network.is_dir()
    if not was_there:
        shutil.rmtree(saved_network)
    printed = capsys.readouterr().out
    assert "night" in printed and "capital-common-countries" in printed
