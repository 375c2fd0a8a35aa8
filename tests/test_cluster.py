"""The local standalone cluster: start it, run a spark-submit job on it, stop it.

The job runs in a subprocess (spark-submit), never in this process: the test session may
already hold the ``spark`` fixture's SparkContext, and a process gets only one.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sparknn.charlm.model import load_charlm
from sparknn.corpus import SHIPPED_CORPUS
from sparknn.errors import SparknnError
from sparknn.spark import cluster
from sparknn.word2vec.vectors import load_vectors

REPO = Path(__file__).resolve().parents[1]

# Runs on the driver under spark-submit; executors must import sparknn from the shipped zip.
JOB = """
import json, os
import sparknn

spark = sparknn.session()

def probe(rows):
    import os
    import sparknn
    from sparknn.backend.numpy_backend import NumpyBackend  # a real module, not just __init__
    yield os.getpid(), sparknn.__file__, NumpyBackend.__module__, sum(rows)

sc = spark.sparkContext
found = sc.parallelize(range(1000), 2).mapPartitions(probe).collect()
print("RESULT " + json.dumps({"master": sc.master, "driver": os.getpid(), "found": found}))
spark.stop()
"""


def _alive(pid: int) -> bool:
    """True while ``pid`` runs. A zombie counts as gone: the daemons are reparented to PID 1,
    which on some sandboxes reaps late."""
    state = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True)
    return state.stdout.strip() not in ("",) and not state.stdout.strip().startswith("Z")


def _processes_running_in(directory: Path) -> list[int]:
    """PIDs whose working directory is under ``directory`` (executors run in work dirs)."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cwd = Path(os.readlink(proc / "cwd"))
        except OSError:
            continue
        if cwd == directory or directory in cwd.parents:
            found.append(int(proc.name))
    return found


def submit(master_url: str, script, *args: str) -> subprocess.CompletedProcess:
    """spark-submit ``script`` in a fresh process, as a user would; fails the test on error."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYSPARK_GATEWAY")}
    env.update(PYTHONPATH=str(REPO), PYSPARK_PYTHON=sys.executable, SPARK_LOCAL_IP="127.0.0.1")
    env.pop("SPARKNN_MASTER", None)
    spark_submit = cluster.spark_home() / "bin" / "spark-submit"
    done = subprocess.run(
        [str(spark_submit), "--master", master_url, str(script), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_start_submit_stop(tmp_path):
    state = tmp_path / "cluster"
    # Port 0: any free port, so a cluster someone already runs on 7077/8080 is left alone.
    report = cluster.start(
        workers=1, cores=2, memory="1g", master_port=0, webui_port=0, directory=state
    )
    try:
        assert report.running and report.alive_workers == 1
        assert report.master_url == f"spark://127.0.0.1:{report.master_port}"
        assert set(report.pids) == {"master", "worker-1"}
        daemon_pids = list(report.pids.values())
        assert all(_alive(pid) for pid in daemon_pids)
        assert sorted(p.name for p in (state / "pids").iterdir()) == [
            "spark-sparknn-org.apache.spark.deploy.master.Master-1.pid",
            "spark-sparknn-org.apache.spark.deploy.worker.Worker-1.pid",
        ]
        # Starting again finds the running cluster instead of launching a second one.
        again = cluster.start(workers=1, master_port=0, webui_port=0, directory=state)
        assert again.pids == report.pids

        job = tmp_path / "job.py"
        job.write_text(JOB)
        done = submit(report.master_url, job)
        line = next(l for l in done.stdout.splitlines() if l.startswith("RESULT "))
        result = json.loads(line.removeprefix("RESULT "))
        assert result["master"] == report.master_url  # not silently local[...]
        executor_pids = {pid for pid, *_ in result["found"]}
        assert result["driver"] not in executor_pids
        assert all(".zip" in path for _, path, _, _ in result["found"])
        assert sum(total for *_, total in result["found"]) == sum(range(1000))
        assert (state / "work").is_dir() and any((state / "work").iterdir())

        # The two real jobs, tiny, through spark-submit against the same cluster.
        corpus = str(SHIPPED_CORPUS)
        w2v = tmp_path / "w2v"
        submit(
            report.master_url, REPO / "jobs" / "train_word2vec.py",
            "--corpus", corpus, "--output", str(w2v), "--vector-size", "16", "--epochs", "1",
        )  # fmt: skip
        assert "dublin" in load_vectors(w2v)
        lm = tmp_path / "charlm"
        done = submit(
            report.master_url, REPO / "jobs" / "train_charlm.py", "--corpus", corpus,
            "--output", str(lm), "--max-steps", "3", "--hidden", "16", "--seq-len", "20",
            "--batch-size", "8",
        )  # fmt: skip
        assert "on 2 tasks" in done.stdout  # both of the worker's cores in the barrier stage
        model, vocab = load_charlm(lm)
        assert model.params.size > 0 and "e" in vocab.chars
    finally:
        stopped = cluster.stop(state)

    assert set(stopped) == {"master", "worker-1"}
    assert not any(_alive(pid) for pid in daemon_pids)
    assert _processes_running_in(state) == []
    assert not cluster.status(state).running
    assert cluster.stop(state) == {}  # nothing left to stop


def test_bad_arguments_name_the_problem(tmp_path):
    with pytest.raises(SparknnError, match="workers must be an integer >= 1"):
        cluster.start(workers=0, directory=tmp_path)
    with pytest.raises(SparknnError, match="memory must look like 512m or 1g, got '1x'"):
        cluster.start(memory="1x", directory=tmp_path)
    assert not (tmp_path / "cluster.json").exists()


def test_status_cli_without_a_cluster(tmp_path, capsys):
    from sparknn.cli import main

    assert main(["cluster", "status", "--dir", str(tmp_path)]) == 1
    assert "no local cluster running" in capsys.readouterr().out
    assert main(["cluster", "stop", "--dir", str(tmp_path)]) == 0
