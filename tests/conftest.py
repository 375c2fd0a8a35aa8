"""Shared fixtures. One Spark session per test run: a JVM start costs seconds.

Spark tests use ``local-cluster[2,1,1024]``: two executor JVMs, each with its own Python
workers, so anything that only works when executors share the driver's process fails here.
"""

import os
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
