"""Shared fixtures. One Spark session per test run: a JVM start costs seconds.

Spark tests use ``local-cluster[2,1,1024]``: two executor JVMs, each with its own Python
workers, so anything that only works when executors share the driver's process fails here.

The ``spark`` marker is assigned here, from what a test uses, so that ``pytest -m "not
spark"`` is a fast suite that starts no JVM: a test gets it when it uses the ``spark``
fixture (directly or through other fixtures) or lives in a file of ``JVM_IN_SUBPROCESS_FILES``.
A test outside both that starts a JVM anyway (the odd ``spark-submit`` in a file of fast
tests) carries ``@pytest.mark.spark`` by hand; ``refuse_jvm_in_fast_tests`` fails any
unmarked test that starts one, so a forgotten mark cannot slow the fast suite unnoticed.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
SPARK_MASTER = os.environ.get("SPARKNN_TEST_MASTER", "local-cluster[2,1,1024]")

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
os.environ.setdefault("POCL_CACHE_DIR", str(REPO / ".pytest_cache" / "pocl"))

# Files whose every test starts JVMs in other processes (spark-submit, a standalone cluster,
# notebook kernels that open a session), which no fixture of this process shows.
JVM_IN_SUBPROCESS_FILES = {
    "test_charlm_job.py",
    "test_cluster.py",
    "test_notebooks.py",
    "test_opencl_spark.py",
    "test_two_hosts.py",
}
# Programs that start a JVM: pyspark launches its gateway through spark-submit.
JVM_LAUNCHERS = {"java", "spark-submit", "spark-class", "spark-daemon.sh"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "spark" in item.fixturenames or item.path.name in JVM_IN_SUBPROCESS_FILES:
            item.add_marker(pytest.mark.spark)


def _launches_jvm(args) -> bool:
    argv = args.split() if isinstance(args, (str, bytes)) else list(args)
    return any(os.path.basename(os.fsdecode(arg)) in JVM_LAUNCHERS for arg in argv)


@pytest.fixture(autouse=True)
def refuse_jvm_in_fast_tests(request, monkeypatch):
    """A test without the ``spark`` marker may start no JVM: not in this process (pyspark's
    gateway, ``java``) and not in a child (a child's JVM finds no Java here)."""
    if request.node.get_closest_marker("spark"):
        return
    start = subprocess.Popen.__init__  # every child starts here: run, check_output, pyspark

    def refuse_jvm(popen, args, *rest, **kwargs):
        if _launches_jvm(args):
            pytest.fail(
                f"{request.node.nodeid} starts a JVM ({args!r}) but has no spark marker: "
                "use the spark fixture or mark it @pytest.mark.spark",
                pytrace=False,
            )
        start(popen, args, *rest, **kwargs)

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse_jvm)
    monkeypatch.setenv("JAVA_HOME", str(REPO / "no-java-in-tests-without-the-spark-marker"))


@pytest.fixture(scope="session")
def spark():
    from sparknn.spark.session import session

    spark = session(master=SPARK_MASTER, app_name="sparknn-tests")
    yield spark
    spark.stop()


@pytest.fixture(scope="session")
def dubliners_path():
    from sparknn.corpus import SHIPPED_CORPUS

    return SHIPPED_CORPUS


@pytest.fixture
def one_sgns_work_item():
    """The ``opencl`` backend with one word2vec work-item while the test runs, for tests that
    compare two trainings bit for bit: on a GPU its default, hundreds of Hogwild work-items
    adding to shared rows atomically, trains differently every run."""
    from sparknn.backend import OpenCLBackend, get_backend, set_backend

    before = get_backend("opencl")
    set_backend("opencl", OpenCLBackend(sgns_workers=1))
    yield
    set_backend("opencl", before)
