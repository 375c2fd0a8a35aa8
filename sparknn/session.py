"""Create a SparkSession configured the way sparknn's jobs need it.

``sparknn.session(master=...)`` works for ``local[N]``, ``local-cluster[N,C,M]`` and
``spark://host:port``. It exists because a plain ``SparkSession.builder`` gets several
things wrong for us on a fresh machine:

* executors must run the same Python as the driver (``PYSPARK_PYTHON``);
* the driver must bind to loopback on sandboxed hosts (``SPARK_LOCAL_IP``);
* each Python worker should use one BLAS thread, since Spark already runs one task per core;
* executors need the sparknn code itself, which we ship as a zip (``addPyFile``) so the
  same call works on a real cluster where sparknn is not installed on the workers;
* a missing ``java`` should be a one-line hint, not a Py4J stack trace;
* under spark-submit, Spark logs at INFO (some 45 lines of start-up before a job's own
  output); we start it at WARN, as the pyspark shell does (``spark.log.level`` overrides).
"""

import os
import re
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

from sparknn.errors import SparknnError

DEFAULT_MASTER = "local[2]"
ONE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


def check_java() -> None:
    """Raise a one-line SparknnError when no Java runtime can be found."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home and Path(java_home, "bin", "java").exists():
        return
    if shutil.which("java") is None:
        raise SparknnError(
            "Java not found: Spark needs Java 17 "
            "(install it, e.g. 'apt install openjdk-17-jre-headless', or set JAVA_HOME)"
        )


def _with_task_retries(master: str) -> str:
    # local[N] gives every task a single attempt; local[N,F] allows F, as a cluster would.
    match = re.fullmatch(r"local\[(\d+|\*)\]", master)
    return f"local[{match.group(1)},4]" if match else master


def package_zip() -> str:
    """Zip the sparknn package (sources and kernels) so executors can import it."""
    package_dir = Path(__file__).resolve().parent
    fd, path = tempfile.mkstemp(prefix="sparknn-", suffix=".zip")
    os.close(fd)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(package_dir.rglob("*")):
            if file.is_file() and "__pycache__" not in file.parts:
                archive.write(file, Path("sparknn") / file.relative_to(package_dir))
    return path


def _launcher_master() -> str | None:
    """The master chosen outside this call: spark-submit's --master, else $SPARKNN_MASTER."""
    # spark-submit starts the JVM first and hands Python its gateway port; its --master is
    # then in the JVM's properties, and overriding it with our default would silently run a
    # cluster job in local mode.
    if "PYSPARK_GATEWAY_PORT" in os.environ:
        from pyspark import SparkConf, SparkContext

        SparkContext._ensure_initialized()  # connects to spark-submit's JVM
        return SparkConf().get("spark.master", None)
    return os.environ.get("SPARKNN_MASTER")


def _quiet_launcher_logs() -> None:
    """Under spark-submit, set Spark's log level to WARN before the SparkContext starts."""
    # Spark configures log4j lazily, on its first log line, which would undo a level set
    # before that: so configure it first. The SparkContext applies a spark.log.level the
    # user sets after this, so theirs wins. These are Spark internals: if they move, the
    # job only gets louder.
    from py4j.protocol import Py4JError
    from pyspark import SparkContext

    SparkContext._ensure_initialized()
    jvm = SparkContext._jvm
    try:
        utils = getattr(jvm.org.apache.spark.util, "Utils$").__getattr__("MODULE$")
        utils.initializeLogIfNecessary(False)
        utils.setLogLevel(jvm.org.apache.logging.log4j.Level.WARN)
    except Py4JError:
        pass


def session(master: str | None = None, app_name: str = "sparknn", conf: dict | None = None):
    """Return a SparkSession for ``master``.

    Default master: spark-submit's ``--master`` when launched by it, else $SPARKNN_MASTER,
    else local[2].
    """
    check_java()
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)

    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None and master is None:
        return active  # under spark-submit, or a notebook that already made one
    master = _with_task_retries(master or _launcher_master() or DEFAULT_MASTER)
    if "PYSPARK_GATEWAY_PORT" in os.environ:  # spark-submit's JVM is already running
        _quiet_launcher_logs()
    builder = SparkSession.builder.master(master).appName(app_name)
    settings = {
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.ui.showConsoleProgress": "false",
        "spark.python.worker.reuse": "true",
        **{f"spark.executorEnv.{k}": v for k, v in ONE_THREAD.items()},
        "spark.executorEnv.PYSPARK_PYTHON": os.environ["PYSPARK_PYTHON"],
        **(conf or {}),
    }
    for key, value in settings.items():
        builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
    except Exception as error:  # py4j errors are long; keep the first line
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        raise SparknnError(f"could not start Spark with master {master!r}: {first_line}") from None
    spark.sparkContext.setLogLevel("WARN")
    ship_package(spark)
    return spark


def ship_package(spark) -> None:
    """Make sparknn importable on executors (idempotent per SparkContext)."""
    sc = spark.sparkContext
    if getattr(sc, "_sparknn_shipped", False):
        return
    sc.addPyFile(package_zip())
    sc._sparknn_shipped = True
