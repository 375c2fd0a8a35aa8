"""A class-data-sharing (CDS) archive of the classes a Spark driver loads, so that later JVMs
map them from one file instead of finding, reading and verifying each in Spark's jars.

A cold Spark JVM spends most of its start-up, and much of its first job, loading classes.
Java 17 can write the classes a run loaded into an archive when it exits
(``-XX:ArchiveClassesAtExit``) and map them at the start of a later run
(``-XX:SharedArchiveFile``): :func:`create` makes one by running a small word2vec job
(:mod:`sparknn.spark.warm_up`) under spark-submit, and :func:`java_options` gives the options
that use it. ``make setup`` creates it with ``sparknn class-archive``, which with
``--java-options`` prints the options, for spark-submit's
``--conf spark.driver.defaultJavaOptions=...``; :func:`sparknn.session` uses it by itself.

The archive is valid only for the Java and the jars that made it: its name carries a digest
of both (:func:`archive_path`), so an upgrade of either makes a new name, and the JVM, which
checks them again, runs without sharing on a mismatch (silently: its CDS log is off). A
missing archive costs nothing. A truncated one would crash the JVM, so it is written under a
temporary name and renamed once its JVM has exited cleanly.
"""

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from sparknn.errors import SparknnError
from sparknn.files import owned_prefix

CACHE_ENV = "SPARKNN_CACHE"  # where the archive is kept (default ~/.cache/sparknn)
# The JVM's own notes about the archive (a mismatch after an upgrade) would go to the job's
# stdout; a mismatch only means starting as without it.
QUIET = "-Xlog:cds=off -Xlog:cds+dynamic=off"
# The Spark properties a JVM's options come from that users rarely set themselves (theirs go
# in extraJavaOptions, which Spark appends to these).
DRIVER_OPTIONS = "spark.driver.defaultJavaOptions"
EXECUTOR_OPTIONS = "spark.executor.defaultJavaOptions"
WARM_UP_TIMEOUT = 600  # seconds for the job that makes the archive


def cache_dir() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "sparknn"


def spark_home() -> Path:
    """The Spark installation spark-submit runs: ``$SPARK_HOME``, else pyspark's own."""
    from pyspark.find_spark_home import _find_spark_home

    return Path(_find_spark_home())


def java_binary() -> Path | None:
    """The ``java`` Spark launches: ``$JAVA_HOME/bin/java``, else the one on the PATH."""
    if os.environ.get("JAVA_HOME"):
        return Path(os.environ["JAVA_HOME"], "bin", "java")
    found = shutil.which("java")
    return Path(found) if found else None


def archive_path(home: Path | None = None, java: Path | None = None) -> Path | None:
    """Where the archive for ``home``'s jars and ``java`` (defaults: :func:`spark_home`,
    :func:`java_binary`) is kept; None without Java. The name changes when the Java binary or
    a jar (its name, size or time) does."""
    home = spark_home() if home is None else home
    java = java_binary() if java is None else java
    if java is None or not java.exists():
        return None
    digest = hashlib.sha256()
    java = java.resolve()
    for path in [java, *sorted((home / "jars").glob("*.jar"))]:
        stat = path.stat()
        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return cache_dir() / f"spark-classes-{digest.hexdigest()[:20]}.jsa"


def java_options(path: Path | None = None) -> str | None:
    """The JVM options that start from the archive (default: :func:`archive_path`), or None
    while there is none."""
    try:
        path = archive_path() if path is None else path
    except OSError:
        return None  # a jar went away meanwhile: start without
    if path is None or not path.is_file():
        return None
    return f"-XX:SharedArchiveFile={path} {QUIET}"


def with_archive(configured, conf: dict) -> dict:
    """``conf`` plus the archive's options for the driver and executors (executors whose host
    lacks the file start as without it), where neither ``configured`` (a SparkConf) nor
    ``conf`` sets those properties."""
    options = java_options()
    if options is None:
        return conf
    unset = [
        key for key in (DRIVER_OPTIONS, EXECUTOR_OPTIONS)
        if key not in conf and not configured.contains(key)
    ]  # fmt: skip
    return {**conf, **{key: options for key in unset}}


def create(path: Path | None = None, timeout: float = WARM_UP_TIMEOUT) -> Path:
    """Make the archive at ``path`` (default: :func:`archive_path`) from a small word2vec job
    on the shipped corpus under spark-submit, unless it exists; return ``path``. A failure is
    a SparknnError of one line and leaves no file."""
    path = archive_path() if path is None else path
    if path is None:
        raise SparknnError("Java not found: Spark needs Java 17 (or set JAVA_HOME)")
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(prefix=owned_prefix("jsa"), suffix=".jsa", dir=path.parent)
    os.close(fd)
    os.unlink(partial)  # the JVM writes it at exit
    command = [
        str(spark_home() / "bin" / "spark-submit"), "--master", "local[2]",
        "--conf", f"{DRIVER_OPTIONS}=-XX:ArchiveClassesAtExit={partial} {QUIET}",
        str(Path(__file__).with_name("warm_up.py")),
    ]  # fmt: skip
    env = {**os.environ, "PYSPARK_PYTHON": os.environ.get("PYSPARK_PYTHON", sys.executable)}
    env.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)
        if done.returncode != 0 or not os.path.isfile(partial):
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise SparknnError(f"could not make the class archive: the job failed: {last}")
        os.replace(partial, path)
    except subprocess.TimeoutExpired:
        raise SparknnError(f"could not make the class archive in {timeout:.0f} s") from None
    finally:
        Path(partial).unlink(missing_ok=True)
    return path


def add_arguments(parser) -> None:
    parser.add_argument("--java-options", action="store_true",
                        help="print only the JVM options that use it")  # fmt: skip


def run(args) -> int:
    """``sparknn class-archive``: make the archive unless it exists; say where it is, or with
    ``--java-options`` print the options (for ``spark.driver.defaultJavaOptions``)."""
    path = create()
    if args.java_options:
        print(java_options(path))
    else:
        print(f"class archive: {path} ({path.stat().st_size / 2**20:.0f} MiB)", file=sys.stderr)
    return 0
