"""The char-LM job: spark-submit end to end, --resume equality, and bad input."""

import importlib.util
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import sparknn
from sparknn.charlm.model import load_charlm
from sparknn.cli import main as cli_main
from sparknn.errors import SparknnError

REPO = Path(__file__).resolve().parents[1]
TINY = [
    "--seq-len", "20", "--hidden", "16", "--embedding-dim", "8", "--batch-size", "16",
    "--max-steps", "12", "--checkpoint-every", "4", "--sample-length", "40",
    "--val-max-windows", "32", "--partitions", "2", "--log-every", "4",
]  # fmt: skip


def load_job():
    spec = importlib.util.spec_from_file_location("train_charlm", REPO / "jobs" / "train_charlm.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def corpus_file(dubliners_path, tmp_path_factory):
    path = tmp_path_factory.mktemp("charlm") / "dubliners-head.txt"
    path.write_text(dubliners_path.read_text(encoding="utf-8")[:40000], encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def submitted(corpus_file, tmp_path_factory):
    """One real spark-submit run of the job (local[2]), as a user would start it."""
    import pyspark

    output = tmp_path_factory.mktemp("submitted") / "run"
    spark_submit = os.path.join(os.path.dirname(pyspark.__file__), "bin", "spark-submit")
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYSPARK_PYTHON": sys.executable}
    command = [spark_submit, "--master", "local[2]", str(REPO / "jobs" / "train_charlm.py")]
    command += ["--config", str(REPO / "conf" / "charlm.toml"), "--corpus", str(corpus_file)]
    command += ["--output", str(output), *TINY]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return output, done.stdout


def test_spark_submit_writes_metrics_samples_checkpoints_and_model(submitted, capsys):
    output, stdout = submitted
    assert "step 12/12" in stdout and "ex/s" in stdout and "ETA" in stdout
    rows = (output / "metrics.csv").read_text().splitlines()
    assert rows[0].split(",")[:5] == [
        "step",
        "epoch",
        "train_loss",
        "val_loss",
        "val_bits_per_char",
    ]
    assert len(rows) == 13 and rows[-1].split(",")[3] != ""  # validated at the end
    samples = (output / "samples" / "epoch-1.txt").read_text(encoding="utf-8")
    for temperature in ("0.2", "0.5", "1.0", "1.2"):
        assert f"temperature {temperature}" in samples
    assert sorted(p.name for p in (output / "checkpoints").iterdir())[-1] == "step-00000012.npz"
    model = sparknn.load(output / "model.npz")
    assert model.params.size > 0
    assert cli_main(["generate", str(output), "--seed-text", "The ", "--length", "30"]) == 0
    assert len(capsys.readouterr().out) >= 34


def test_resume_after_driver_death_equals_uninterrupted_run(
    spark, submitted, corpus_file, tmp_path, caplog
):
    job = load_job()
    output = tmp_path / "resumed"
    argv = ["--config", str(REPO / "conf" / "charlm.toml"), "--corpus", str(corpus_file)]
    argv += ["--output", str(output), *TINY]
    first = job.parse_config(argv + ["--max-steps", "6"])  # "dies" after step 6; ckpt at 4
    seen = []
    job.train(first, spark, on_step=lambda stats, val_loss: seen.append((stats, val_loss)))
    # the caller's hook saw every step, and the validation loss metrics.csv holds
    rows = (output / "metrics.csv").read_text().splitlines()[1:]
    assert [stats.step for stats, _ in seen] == list(range(1, 7))
    assert [f"{stats.loss:.5f}" for stats, _ in seen] == [row.split(",")[2] for row in rows]
    assert [val_loss is None for _, val_loss in seen] == [True] * 5 + [False]
    assert f"{seen[-1][1]:.5f}" == rows[-1].split(",")[3]
    # ... while writing the checkpoint of step 6 (truncated: say, the disk was full)
    checkpoint = (output / "checkpoints" / "step-00000004.npz").read_bytes()
    (output / "checkpoints" / "step-00000006.npz").write_bytes(checkpoint[: len(checkpoint) // 2])
    caplog.clear()
    job.train(job.parse_config(argv + ["--resume"]), spark)
    # said it skipped it: a warning, which Python shows even where no one set up logging
    skipped = [r for r in caplog.records if "step-00000006.npz" in r.getMessage()]
    assert [r.levelno for r in skipped] == [logging.WARNING]
    resumed, _ = load_charlm(output)
    uninterrupted, _ = load_charlm(submitted[0])
    np.testing.assert_allclose(resumed.params, uninterrupted.params, rtol=1e-5, atol=1e-7)
    steps = [line.split(",")[0] for line in (output / "metrics.csv").read_text().splitlines()[1:]]
    assert steps == [str(i) for i in range(1, 13)]  # rows 5-6 of the dead run were replaced

    with pytest.raises(SparknnError, match="hidden is 16 in the checkpoint but 32 now"):
        job.train(job.parse_config(argv + ["--resume", "--hidden", "32"]), spark)
    with pytest.raises(SparknnError, match="already holds checkpoints"):
        job.train(job.parse_config(argv), spark)


def test_bad_config_and_corpus_exit_nonzero_with_one_line(spark, tmp_path, capsys):
    job = load_job()
    config = tmp_path / "bad.toml"
    config.write_text("seq_len = 10\nhiden = 3\n")
    assert job.main(["--config", str(config)]) == 2
    assert "unknown config key(s) hiden" in capsys.readouterr().err
    missing = str(tmp_path / "missing.txt")
    assert job.main(["--corpus", missing, "--output", str(tmp_path / "out")]) == 2
    assert "corpus not found" in capsys.readouterr().err


def test_a_diverging_run_exits_nonzero_without_saving_bad_weights(
    spark, corpus_file, tmp_path, capsys
):
    """lr 1e30 keeps the loss finite (about 1e31) but diverged: the job stops at step 2
    with one line and writes no model and no checkpoint of the bad weights."""
    job = load_job()
    output = tmp_path / "diverged"
    argv = ["--config", str(REPO / "conf" / "charlm.toml"), "--corpus", str(corpus_file)]
    argv += ["--output", str(output), *TINY, "--checkpoint-every", "1", "--lr", "1e30"]
    assert job.main(argv) == 2
    err = capsys.readouterr().err  # its progress lines, then one line for the error
    assert err.count("error") == 1 and "Traceback" not in err, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("train_charlm: error: loss became ")
    assert last.endswith(" at step 2: training diverged; lower the learning rate or set clipnorm")
    assert not (output / "model.npz").exists()
    assert not list((output / "checkpoints").glob("*.npz"))
