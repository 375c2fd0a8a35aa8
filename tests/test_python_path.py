"""A spark-submit driver imports pip's pyspark rather than spark-submit's zip of the same
release (sparknn.spark.python_path): only then, and only before pyspark is imported."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from sparknn.spark.python_path import prefer_installed_pyspark

REPO = Path(__file__).resolve().parents[1]


def spark_layout(root: Path, zipped="__version__ = '4.3.0'\n", installed="__version__ = '4.3.0'\n"):
    """sys.path as spark-submit makes it: the script's folder, the zips, then site-packages."""
    lib = root / "spark" / "python" / "lib"
    lib.mkdir(parents=True)
    with zipfile.ZipFile(lib / "pyspark.zip", "w") as archive:
        archive.writestr("pyspark/version.py", zipped)
    with zipfile.ZipFile(lib / "py4j-0.10.9.9-src.zip", "w") as archive:
        archive.writestr("py4j/__init__.py", "")
    site = root / "site-packages"
    if installed is not None:
        (site / "pyspark").mkdir(parents=True)
        (site / "pyspark" / "version.py").write_text(installed)
        (site / "py4j").mkdir()
        (site / "py4j" / "__init__.py").write_text("")
    return [
        str(root / "job"), str(lib / "pyspark.zip"), str(lib / "py4j-0.10.9.9-src.zip"),
        str(site),
    ]  # fmt: skip


def test_the_zips_go_last_when_pip_installed_the_same_release(tmp_path):
    path = spark_layout(tmp_path)
    script, pyspark_zip, py4j_zip, site = path
    assert prefer_installed_pyspark(path, loaded={})
    assert path == [script, site, pyspark_zip, py4j_zip]


@pytest.mark.parametrize(
    "installed", ["__version__ = '4.2.0'\n", None], ids=["another release", "none installed"]
)
def test_the_zips_stay_first_otherwise(tmp_path, installed):
    path = spark_layout(tmp_path, installed=installed)
    before = list(path)
    assert not prefer_installed_pyspark(path, loaded={})
    assert path == before


def test_nothing_moves_once_pyspark_is_imported_or_without_spark_submit(tmp_path):
    path = spark_layout(tmp_path)
    before = list(path)
    assert not prefer_installed_pyspark(path, loaded={"pyspark": object()})
    assert path == before
    plain = [str(tmp_path / "site-packages")]
    assert not prefer_installed_pyspark(plain, loaded={}) and plain == [
        str(tmp_path / "site-packages")
    ]


@pytest.mark.spark
def test_a_spark_submit_driver_imports_the_installed_pyspark(tmp_path):
    script = tmp_path / "where.py"
    script.write_text("import sparknn, pyspark\nprint(pyspark.__file__)\n")
    from pyspark.find_spark_home import _find_spark_home

    submit = Path(_find_spark_home(), "bin", "spark-submit")
    env = dict(os.environ, PYTHONPATH=f"{REPO}:{os.environ.get('PYTHONPATH', '')}")
    env.setdefault("PYSPARK_PYTHON", sys.executable)
    env["PYSPARK_DRIVER_PYTHON"] = sys.executable
    done = subprocess.run(
        [str(submit), "--master", "local[1]", str(script)],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    import pyspark

    assert done.stdout.strip() == pyspark.__file__  # this venv's, not spark-submit's zip
