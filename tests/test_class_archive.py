"""The class archive Spark's JVMs start from (sparknn.spark.class_archive): named after the
Java and the jars that made it, written whole or not at all, used by sparknn.session and
by spark-submit's driver, never instead of the user's own JVM options."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pyspark import SparkConf

from sparknn.errors import SparknnError
from sparknn.spark import class_archive
from sparknn.spark.class_archive import (
    CACHE_ENV,
    DRIVER_OPTIONS,
    EXECUTOR_OPTIONS,
    archive_path,
    create,
    java_options,
    with_archive,
)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV, str(folder))
    return folder


def fake_install(root: Path):
    """A Spark home with two jars and a java binary, as archive_path reads them."""
    (root / "spark" / "jars").mkdir(parents=True)
    for name in ("spark-core.jar", "scala-library.jar"):
        (root / "spark" / "jars" / name).write_bytes(b"jar")
    java = root / "jdk" / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_bytes(b"java")
    return root / "spark", java


def touch_later(path: Path):
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))


def test_the_archive_is_named_after_the_java_and_the_jars(tmp_path, cache):
    home, java = fake_install(tmp_path)
    first = archive_path(home, java)
    assert first.parent == cache and first.suffix == ".jsa"
    assert archive_path(home, java) == first  # nothing changed: the same name
    touch_later(home / "jars" / "spark-core.jar")
    second = archive_path(home, java)
    assert second != first  # a jar replaced
    (home / "jars" / "extra.jar").write_bytes(b"jar")
    third = archive_path(home, java)
    assert third not in (first, second)  # a jar added
    touch_later(java)
    assert archive_path(home, java) not in (first, second, third)  # another Java
    assert archive_path(home, tmp_path / "no-java") is None


def test_options_only_once_an_archive_exists(tmp_path, cache):
    home, java = fake_install(tmp_path)
    path = archive_path(home, java)
    assert java_options(path) is None
    path.parent.mkdir(parents=True)
    path.write_bytes(b"an archive")
    options = java_options(path)
    assert f"-XX:SharedArchiveFile={path}" in options.split()
    assert "-Xlog:cds=off" in options.split()  # a mismatch after an upgrade stays silent


def test_sessions_use_the_archive_but_not_over_the_users_options(tmp_path, cache, monkeypatch):
    home, java = fake_install(tmp_path)
    monkeypatch.setattr(class_archive, "spark_home", lambda: home)
    monkeypatch.setattr(class_archive, "java_binary", lambda: java)
    empty = SparkConf(loadDefaults=False)
    assert with_archive(empty, {"a": "1"}) == {"a": "1"}  # no archive yet: nothing added
    path = archive_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(b"an archive")
    options = java_options()
    assert with_archive(empty, {}) == {DRIVER_OPTIONS: options, EXECUTOR_OPTIONS: options}
    mine = with_archive(empty, {DRIVER_OPTIONS: "-Dmine=1"})
    assert mine == {DRIVER_OPTIONS: "-Dmine=1", EXECUTOR_OPTIONS: options}
    submitted = SparkConf(loadDefaults=False).set(EXECUTOR_OPTIONS, "-Dtheirs=1")
    assert with_archive(submitted, {}) == {DRIVER_OPTIONS: options}


@pytest.mark.spark  # runs a (fake) spark-submit, which the fast tests refuse to start
def test_a_failed_warm_up_leaves_no_archive(tmp_path, cache, monkeypatch):
    """A JVM that dies while writing leaves a partial file; only a whole one is renamed."""
    home, java = fake_install(tmp_path)
    submit = home / "bin" / "spark-submit"
    submit.parent.mkdir()
    # Writes half an archive where -XX:ArchiveClassesAtExit says, then fails.
    submit.write_text(
        textwrap.dedent(
            """\
            #!/bin/sh
            for arg in "$@"; do
              case "$arg" in *ArchiveClassesAtExit=*)
                file=${arg#*ArchiveClassesAtExit=}; echo half > "${file%% *}";;
              esac
            done
            echo "java.lang.OutOfMemoryError: the warm-up died" >&2
            exit 1
            """
        )
    )
    submit.chmod(0o755)
    monkeypatch.setattr(class_archive, "spark_home", lambda: home)
    path = archive_path(home, java)
    with pytest.raises(SparknnError, match="the warm-up died") as error:
        create(path)
    assert "\n" not in str(error.value)
    assert not path.exists() and list(cache.iterdir()) == []


@pytest.mark.spark
@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads /proc/PID/maps")
def test_spark_drivers_map_the_archive(cache, tmp_path):
    """Made once (a small word2vec job under spark-submit), the archive is mapped by the
    JVM sparknn.session starts and by spark-submit's driver given the printed options."""
    env = dict(os.environ, PYTHONPATH=f"{REPO}:{os.environ.get('PYTHONPATH', '')}")
    made = subprocess.run(
        [sys.executable, "-m", "sparknn", "class-archive", "--java-options"],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    path = archive_path()
    assert path.is_file() and made.stdout.strip() == java_options(path)
    before = path.stat().st_mtime_ns
    # From plain Python: the session's JVM is this script's child.
    script = tmp_path / "maps.py"
    script.write_text(
        textwrap.dedent(
            f"""\
            import os, sys
            if os.environ.get("PYSPARK_GATEWAY_PORT"):  # under spark-submit: the JVM is our parent
                jvm_pid = os.getppid()
            else:
                from sparknn import session
                spark = session("local[1]")
                jvm_pid = spark.sparkContext._jvm.ProcessHandle.current().pid()
            maps = open(f"/proc/{{jvm_pid}}/maps").read()
            print("mapped" if {str(path)!r} in maps else "not mapped")
            """
        )
    )
    from_python = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300
    )
    assert from_python.stdout.strip() == "mapped", from_python.stderr[-2000:]
    submit = Path(sys.executable).parent / "spark-submit"
    if not submit.exists():
        from pyspark.find_spark_home import _find_spark_home

        submit = Path(_find_spark_home(), "bin", "spark-submit")
    submitted = subprocess.run(
        [str(submit), "--master", "local[1]",
         "--conf", f"{DRIVER_OPTIONS}={made.stdout.strip()}", str(script)],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert submitted.stdout.strip() == "mapped", submitted.stderr[-2000:]
    create()  # there is one: nothing is remade
    assert path.stat().st_mtime_ns == before
