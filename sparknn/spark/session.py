"""Create a SparkSession configured the way sparknn's jobs need it.

``sparknn.session(master=...)`` works for ``local[N]``, ``local-cluster[N,C,M]`` and
``spark://host:port``. It exists because a plain ``SparkSession.builder`` gets several
things wrong for us on a fresh machine:

* executors must run the same Python as the driver (``PYSPARK_PYTHON``), unless the user
  configured theirs (``spark.pyspark.python``, ``spark.executorEnv.PYSPARK_PYTHON``);
* a driver whose executors all run on this host binds to loopback, which works on sandboxed
  hosts whose name does not resolve (``SPARK_LOCAL_IP``); a driver of a cluster on other hosts
  keeps Spark's own choice of address, since executors must reach it;
* each Python worker should use one BLAS thread, since Spark already runs one task per core;
* executors need the sparknn code itself, which we ship as a zip (``addPyFile``) so the
  same call works on a real cluster where sparknn is not installed on the workers (one zip
  per process, removed when it exits; Spark serves it from its path meanwhile);
* a missing ``java`` should be a one-line hint, not a Py4J stack trace;
* under spark-submit, Spark logs at INFO (dozens of lines of start-up before a job's own
  output); we start it at WARN, as the pyspark shell does (``spark.log.level`` overrides);
* temporary files of earlier jobs killed before they could remove them are swept.
"""

import atexit
import os
import re
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

from sparknn.errors import SparknnError
from sparknn.files import exit_on_sigterm, owned_prefix, sweep_stale
from sparknn.spark.class_archive import with_archive

DEFAULT_MASTER = "local[2]"
# Where a user may have said which Python executors run; we then leave it alone.
PYTHON_SETTINGS = ("spark.pyspark.python", "spark.executorEnv.PYSPARK_PYTHON")
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


_zip_path: str | None = None


def package_zip() -> str:
    """The sparknn package (sources and kernels, not data/) zipped so executors can import
    it: made once per process in the temporary folder and removed when the process exits."""
    global _zip_path
    if _zip_path is not None and os.path.isfile(_zip_path):
        return _zip_path
    package_dir = Path(__file__).resolve().parents[1]  # sparknn/, above spark/
    fd, path = tempfile.mkstemp(prefix=owned_prefix("zip"), suffix=".zip")
    os.close(fd)
    atexit.register(Path(path).unlink, missing_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(package_dir.rglob("*")):
            relative = file.relative_to(package_dir)
            # data/ holds the demo's corpus, which Spark reads by path: no copy in the zip.
            skip = relative.parts[0] == "data" or "__pycache__" in relative.parts
            if file.is_file() and not skip:
                archive.write(file, Path("sparknn") / relative)
    _zip_path = path
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


def runs_on_this_host(master: str) -> bool:
    """Whether every executor of ``master`` runs on this host: ``local[...]``,
    ``local-cluster[...]``, or a standalone master (or HA list) on a loopback address."""
    if master == "local" or master.startswith(("local[", "local-cluster[")):
        return True
    if not master.startswith("spark://"):
        return False  # yarn, k8s://, mesos://...: executors on other machines
    hosts = [entry.rsplit(":", 1)[0].strip("[]") for entry in master[8:].split(",")]
    return all(host == "localhost" or host.startswith("127.") or host == "::1" for host in hosts)


def spark_settings(configured, conf: dict) -> dict:
    """The settings sparknn gives a new session: its defaults for the keys neither
    ``configured`` (a SparkConf) nor ``conf`` sets, then ``conf``; the JVMs start from the
    class archive where there is one (:mod:`sparknn.spark.class_archive`)."""
    defaults = {
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.ui.showConsoleProgress": "false",
        "spark.python.worker.reuse": "true",
        **{f"spark.executorEnv.{k}": v for k, v in ONE_THREAD.items()},
    }
    if not any(key in conf or configured.contains(key) for key in PYTHON_SETTINGS):
        defaults["spark.executorEnv.PYSPARK_PYTHON"] = os.environ["PYSPARK_PYTHON"]
    unset = {key: value for key, value in defaults.items() if not configured.contains(key)}
    return with_archive(configured, {**unset, **conf})


def session(master: str | None = None, app_name: str = "sparknn", conf: dict | None = None):
    """Return a SparkSession for ``master``.

    Default master: spark-submit's ``--master`` when launched by it, else $SPARKNN_MASTER,
    else local[2]. ``conf`` and anything already configured (spark-submit's ``--conf``,
    ``spark-defaults.conf``) win over sparknn's defaults.
    """
    check_java()
    sweep_stale()  # what killed jobs of this user left in the temporary folders
    exit_on_sigterm()  # so that this one cleans up after itself when terminated
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)

    from pyspark import SparkConf
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None and master is None:
        return active  # a notebook, or a job, that already made one
    master = _with_task_retries(master or _launcher_master() or DEFAULT_MASTER)
    if "PYSPARK_GATEWAY_PORT" in os.environ:  # spark-submit's JVM is already running
        _quiet_launcher_logs()
    elif runs_on_this_host(master):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # read by the JVM we start
    builder = SparkSession.builder.master(master).appName(app_name)
    # SparkConf() holds spark-submit's properties when it launched us.
    for key, value in spark_settings(SparkConf(), conf or {}).items():
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
