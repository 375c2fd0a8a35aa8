"""Executors on a second host: the jobs over TCP, as on a real multi-machine cluster.

The second host is a network namespace joined to this one by a veth pair, with its own
address, its own host name and private ``/dev/shm`` and temp folders (a mount namespace), so
its executors can reach the driver only over the network: they can neither see the driver's
Unix socket nor its shared-memory files. The master and the driver (spark-submit) run here;
the worker and its executors run there. Nothing sets ``SPARK_LOCAL_IP`` for the driver: it is
given the master URL and ``spark.driver.host``, as on a real cluster.

Needs root and iproute2's ``ip netns`` (CI has both); skipped, with the reason, elsewhere.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import sparknn
from sparknn.word2vec.vectors import load_vectors

REPO = Path(__file__).resolve().parents[1]
WORKER_HOSTNAME = "sparknn-second-host"
CHARLM_TINY = [
    "--seq-len", "20", "--hidden", "16", "--embedding-dim", "8", "--batch-size", "16",
    "--max-steps", "8", "--checkpoint-every", "4", "--sample-length", "20",
    "--val-max-windows", "32", "--partitions", "2", "--log-every", "4",
]  # fmt: skip
WORD2VEC_TINY = [
    "--epochs", "1", "--vector-size", "16", "--min-count", "5", "--partitions", "2",
    "--backend", "numpy",
]  # fmt: skip


def _run(*command: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=30, check=check)


def _why_no_namespaces() -> str | None:
    if os.geteuid() != 0:
        return "needs root for network and mount namespaces"
    for tool in ("ip", "unshare"):
        if shutil.which(tool) is None:
            return f"needs the '{tool}' command"
    return None


class SecondHost:
    """A network namespace with its own address, linked to this host by a veth pair."""

    def __init__(self):
        tag = f"{os.getpid() % 100_000}"
        self.namespace = f"sparknn-test-{tag}"
        self.link = f"snn{tag}"  # interface names are at most 15 bytes
        subnet = f"10.231.{os.getpid() % 250}"
        self.driver_ip, self.worker_ip = f"{subnet}.1", f"{subnet}.2"
        self.remove()  # a namesake left by a killed run
        _run("ip", "netns", "add", self.namespace)
        try:
            _run("ip", "link", "add", f"{self.link}a", "type", "veth", "peer", "name",
                 f"{self.link}b")  # fmt: skip
            _run("ip", "link", "set", f"{self.link}b", "netns", self.namespace)
            _run("ip", "addr", "add", f"{self.driver_ip}/30", "dev", f"{self.link}a")
            _run("ip", "link", "set", f"{self.link}a", "up")
            self.inside("ip", "addr", "add", f"{self.worker_ip}/30", "dev", f"{self.link}b")
            self.inside("ip", "link", "set", f"{self.link}b", "up")
            self.inside("ip", "link", "set", "lo", "up")
        except subprocess.CalledProcessError:
            self.remove()
            raise

    def inside(self, *command: str) -> subprocess.CompletedProcess:
        return _run("ip", "netns", "exec", self.namespace, *command)

    def remove(self) -> None:
        pids = _run("ip", "netns", "pids", self.namespace, check=False).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        _run("ip", "link", "del", f"{self.link}a", check=False)
        _run("ip", "netns", "del", self.namespace, check=False)


def _spark_class() -> str:
    import pyspark

    return str(Path(pyspark.__file__).parent / "bin" / "spark-class")


def _clean_env(**extra: str) -> dict:
    """This process's environment without what would make Spark bind to loopback."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYSPARK_GATEWAY")}
    for key in ("SPARK_LOCAL_IP", "SPARK_LOCAL_HOSTNAME", "SPARKNN_MASTER", "SPARK_MASTER_HOST"):
        env.pop(key, None)
    env.update(PYTHONPATH=str(REPO), PYSPARK_PYTHON=sys.executable, **extra)
    return env


def _wait_for_line(log: Path, pattern: str, process: subprocess.Popen, timeout=90.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(pattern, log.read_text(errors="replace")) if log.exists() else None
        if found:
            return found.group(1)
        if process.poll() is not None:
            break
        time.sleep(0.3)
    raise AssertionError(f"no {pattern!r} in {log}:\n{log.read_text(errors='replace')[-3000:]}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """``(master URL, driver address, driver's temp folder)`` of a master here and one
    2-core worker on the second host."""
    reason = _why_no_namespaces()
    if reason:
        pytest.skip(reason)
    try:
        host = SecondHost()
    except subprocess.CalledProcessError as error:
        pytest.skip(f"network namespaces unavailable: {error.stderr.strip() or error}")
    state = tmp_path_factory.mktemp("two-hosts")
    # The driver's temp folder (its Unix socket's folder) is hidden on the second host, like
    # /dev/shm; so is /tmp unless the checkout or this Python lives there.
    driver_tmp = state / "driver-tmp"
    driver_tmp.mkdir()
    private = [str(driver_tmp), "/dev/shm"]
    if not any(str(p).startswith("/tmp/") for p in (REPO, Path(sys.executable).resolve())):
        private.append("/tmp")
    worker_dir = Path("/var/tmp") if "/tmp" in private else state
    processes = []
    try:
        master_log = state / "master.log"
        master = subprocess.Popen(
            [_spark_class(), "org.apache.spark.deploy.master.Master", "--host", host.driver_ip,
             "--port", "0", "--webui-port", "0"],
            env=_clean_env(), stdout=master_log.open("w"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        processes.append(master)
        master_url = "spark://" + _wait_for_line(
            master_log, r"Starting Spark master at spark://(\S+:\d+)", master
        )
        # The second host's own /etc/hosts, where its name resolves to its address (bound
        # before the private folders hide this test's temp folder).
        hosts_file = state / "hosts"
        hosts_file.write_text(f"127.0.0.1 localhost\n{host.worker_ip} {WORKER_HOSTNAME}\n")
        mounts = " && ".join(
            [f"mount --bind {hosts_file} /etc/hosts"]
            + [f"mount -t tmpfs tmpfs {path}" for path in private]
        )
        worker_log = state / "worker.log"
        worker_cmd = (
            f"{mounts} && hostname {WORKER_HOSTNAME} && mkdir -p {worker_dir}/sparknn-worker && "
            f"exec {_spark_class()} org.apache.spark.deploy.worker.Worker --host {host.worker_ip} "
            f"--cores 2 --memory 2g --webui-port 0 --work-dir {worker_dir}/sparknn-worker "
            f"{master_url}"
        )
        worker = subprocess.Popen(
            ["ip", "netns", "exec", host.namespace, "unshare", "-m", "-u", "sh", "-c", worker_cmd],
            env=_clean_env(), stdout=worker_log.open("w"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        processes.append(worker)
        _wait_for_line(worker_log, r"(Successfully registered with master)", worker)
        yield master_url, host.driver_ip, driver_tmp
    finally:
        for process in reversed(processes):
            _stop(process)
        host.remove()


def submit(cluster, script: str, *args: str, timeout=240) -> subprocess.CompletedProcess:
    """spark-submit ``jobs/<script>`` to the two-host cluster, as a user would."""
    master_url, driver_ip, driver_tmp = cluster
    import pyspark

    spark_submit = str(Path(pyspark.__file__).parent / "bin" / "spark-submit")
    command = [
        spark_submit, "--master", master_url, "--conf", f"spark.driver.host={driver_ip}",
        "--conf", "spark.executor.memory=768m", "--conf", "spark.task.maxFailures=2",
        str(REPO / "jobs" / script), *args,
    ]  # fmt: skip
    return subprocess.run(
        command, env=_clean_env(TMPDIR=str(driver_tmp)), capture_output=True, text=True,
        timeout=timeout, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def corpus(dubliners_path, tmp_path_factory):
    """A corpus both hosts can read (a real cluster would use shared storage)."""
    shared = tmp_path_factory.mktemp("corpus") if str(REPO).startswith("/tmp/") else None
    if shared is None:
        return dubliners_path  # in the checkout, outside the second host's private /tmp
    path = shared / "dubliners.txt"
    path.write_text(dubliners_path.read_text(encoding="utf-8"), encoding="utf-8")
    return path


def test_charlm_job_on_another_host_equals_one_host(cluster, corpus, spark, tmp_path):
    remote = tmp_path / "remote"
    done = submit(
        cluster, "train_charlm.py", "--config", str(REPO / "conf" / "charlm.toml"),
        "--corpus", str(corpus), "--output", str(remote), *CHARLM_TINY,
    )  # fmt: skip
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert "step 8/8" in done.stdout

    from sparknn.charlm import train as charlm_train
    from sparknn.charlm.model import load_charlm

    local = tmp_path / "local"
    job_args = ["--config", str(REPO / "conf" / "charlm.toml"), "--corpus", str(corpus)]
    config = _load_job("train_charlm").parse_config(
        job_args + ["--output", str(local), *CHARLM_TINY]
    )
    charlm_train.train(config, spark)
    on_two_hosts, _ = load_charlm(remote)
    on_one_host, _ = load_charlm(local)
    np.testing.assert_array_equal(on_two_hosts.params, on_one_host.params)
    assert sparknn.load(remote / "model.npz").params.size == on_one_host.params.size


def test_word2vec_job_on_another_host_equals_one_host(cluster, corpus, spark, tmp_path):
    remote = tmp_path / "remote"
    done = submit(
        cluster, "train_word2vec.py", "--corpus", str(corpus), "--output", str(remote),
        *WORD2VEC_TINY,
    )  # fmt: skip
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    metadata = json.loads((remote / "metadata.json").read_text())
    connections = metadata["task_connections"]
    assert len(connections) == 2, connections
    assert all(c == {"host": WORKER_HOSTNAME, "transport": "tcp"} for c in connections)

    from sparknn.word2vec.spark import train_spark

    job = _load_job("train_word2vec")
    args = job.parse_args(["--corpus", str(corpus), "--output", "-", *WORD2VEC_TINY])
    settings = job.resolve(args, job.Settings)
    on_one_host = train_spark(spark, [str(corpus)], settings)
    on_two_hosts = load_vectors(remote)
    assert on_two_hosts.words == on_one_host.vocab.words
    np.testing.assert_array_equal(np.load(remote / "vectors.npy"), on_one_host.vectors)


def test_hogwild_with_a_task_on_another_host_fails_clearly(cluster, corpus, tmp_path):
    output = tmp_path / "hogwild"
    done = submit(
        cluster, "train_word2vec.py", "--corpus", str(corpus), "--output", str(output),
        *WORD2VEC_TINY, "--hogwild",
    )  # fmt: skip
    assert done.returncode != 0
    printed = done.stdout + done.stderr  # spark-submit forwards the driver's stderr to stdout
    errors = [line for line in printed.splitlines() if line.startswith("train_word2vec: error:")]
    assert len(errors) == 1 and "is not on this task's host" in errors[0], printed[-3000:]
    assert WORKER_HOSTNAME in errors[0]
    assert not output.exists()


def _load_job(name: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, REPO / "jobs" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
