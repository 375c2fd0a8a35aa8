"""The installed package: console script, version, the missing-Java message, and its public
names (what bench/ may import)."""

import ast
import importlib
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import sparknn

REPO = Path(__file__).resolve().parents[1]


def run(*args, env=None):
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=env, cwd=REPO, timeout=120
    )


def test_version_comes_from_the_package():
    done = run("-m", "sparknn", "--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"sparknn {sparknn.__version__}"
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["sparknn"] == "sparknn.cli:main"


def test_missing_java_is_one_line_not_a_py4j_trace(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"}
    env["PATH"] = str(tmp_path)  # no java on it
    for command in (
        ["-m", "sparknn.demo", "--output", str(tmp_path / "demo")],
        [str(REPO / "jobs" / "train_charlm.py"), "--output", str(tmp_path / "lm")],
    ):
        done = run(*command, env=env)
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "Java not found" in lines[0], done.stderr
        assert "openjdk-17" in lines[0] and "Traceback" not in done.stderr
    assert not (tmp_path / "lm").exists()


@pytest.mark.spark  # starts java
def test_spark_defaults_jvm_options_start_a_jvm():
    """conf/spark-defaults.conf's JVM flags are ones this Java accepts (a typo there would
    stop every job submitted with it)."""
    java = shutil.which("java")
    if java is None:
        pytest.skip("no java")
    lines = (REPO / "conf" / "spark-defaults.conf").read_text().splitlines()
    settings = dict(line.split(None, 1) for line in lines if line.strip() and line[0] != "#")
    options = [v for k, v in settings.items() if k.endswith("extraJavaOptions")]
    assert len(options) == 2
    for flags in options:
        done = subprocess.run([java, *flags.split(), "-version"], capture_output=True, timeout=60)
        assert done.returncode == 0, done.stderr
    bad = subprocess.run([java, "-XX:NoSuchFlag=1", "-version"], capture_output=True, timeout=60)
    assert bad.returncode != 0  # the check can fail


@pytest.mark.parametrize(
    ("master", "on_this_host"),
    [
        ("local", True),
        ("local[2]", True),
        ("local[*,4]", True),
        ("local-cluster[2,1,1024]", True),
        ("spark://127.0.0.1:7077", True),
        ("spark://localhost:7077,127.0.0.2:7078", True),
        ("spark://[::1]:7077", True),
        ("spark://10.0.0.5:7077", False),
        ("spark://master.example.org:7077", False),
        ("spark://127.0.0.1:7077,other:7077", False),
        ("yarn", False),
        ("k8s://https://kubernetes:443", False),
    ],
)
def test_only_a_driver_whose_executors_share_its_host_binds_to_loopback(master, on_this_host):
    from sparknn.spark.session import runs_on_this_host

    assert runs_on_this_host(master) is on_this_host


def test_what_the_user_configured_wins_over_sparknn_defaults(monkeypatch):
    from pyspark import SparkConf

    from sparknn.spark.session import spark_settings

    monkeypatch.setenv("PYSPARK_PYTHON", "/driver/python")
    fresh = spark_settings(SparkConf(loadDefaults=False), {})
    assert fresh["spark.executorEnv.PYSPARK_PYTHON"] == "/driver/python"
    assert fresh["spark.python.worker.reuse"] == "true"

    # spark-submit --conf ... (a packed venv on the executors, say) is left as the user set it
    submitted = SparkConf(loadDefaults=False)
    submitted.set("spark.executorEnv.PYSPARK_PYTHON", "./env/bin/python")
    submitted.set("spark.python.worker.reuse", "false")
    settings = spark_settings(submitted, {})
    assert "spark.executorEnv.PYSPARK_PYTHON" not in settings
    assert "spark.python.worker.reuse" not in settings
    assert settings["spark.executorEnv.OMP_NUM_THREADS"] == "1"

    chosen = spark_settings(SparkConf(loadDefaults=False), {"spark.pyspark.python": "/py"})
    assert chosen["spark.pyspark.python"] == "/py"
    assert "spark.executorEnv.PYSPARK_PYTHON" not in chosen


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_notebooks_starts_jupyter_as_root_too():
    """Jupyter exits at once for root ('Running as root is not recommended. Use
    --allow-root to bypass.'): make notebooks passes the flag for root, only for root."""

    def jupyter_command(user_id):
        done = subprocess.run(
            ["make", "-n", "notebooks", f"USER_ID={user_id}"],
            capture_output=True, text=True, cwd=REPO, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return next(line for line in done.stdout.splitlines() if "jupyter lab" in line)

    assert jupyter_command(0).split()[-1] == "--allow-root"
    assert "--allow-root" not in jupyter_command(1000)


def test_the_demo_corpus_is_package_data():
    """The demo and the char-LM job find Dubliners inside the installed package, not beside
    a checkout: it lies in sparknn/ and pyproject ships it."""
    from fnmatch import fnmatch

    from sparknn.charlm.settings import CharLMSettings
    from sparknn.corpus import SHIPPED_CORPUS
    from sparknn.demo import parse_args

    package = Path(sparknn.__file__).parent
    relative = SHIPPED_CORPUS.relative_to(package).as_posix()
    patterns = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert any(fnmatch(relative, p) for p in patterns["package-data"]["sparknn"]), relative
    assert SHIPPED_CORPUS.read_text(encoding="utf-8").count("Dubliners") > 0
    assert parse_args([]).corpus == SHIPPED_CORPUS
    assert CharLMSettings().corpus == str(SHIPPED_CORPUS)


def test_jobs_import_the_installed_package():
    for job in sorted((REPO / "jobs").glob("*.py")):
        text = job.read_text(encoding="utf-8")
        assert "sys.path" not in text and "E402" not in text, job.name


# Functions in sparknn/ that import sparknn modules inside themselves on purpose, and why:
# nothing else may (lazy imports of pyspark or pyopencl themselves are fine).
IMPORTS_INSIDE_ON_PURPOSE = {
    ("nn/model.py", "fit"): "sparknn.ml (pyspark) only when x is a DataFrame: the network core "
    "imports without pyspark, and sparknn.ml builds on it",
    ("backend/__init__.py", "_create"): "opencl_backend loads pyopencl: only when asked for",
    ("backend/__init__.py", "__getattr__"): "opencl_backend loads pyopencl: only when asked for",
}


def test_no_sparknn_module_is_imported_inside_a_function():
    """No import cycle in sparknn/ is dodged by importing inside a function."""
    import ast

    package = Path(sparknn.__file__).parent
    found = []
    for module in sorted(package.rglob("*.py")):
        where = module.relative_to(package).as_posix()
        for function in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            if (where, function.name) in IMPORTS_INSIDE_ON_PURPOSE:
                continue
            for node in ast.walk(function):
                names = (
                    [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level
                    else [alias.name for alias in node.names] if isinstance(node, ast.Import)
                    else []
                )  # fmt: skip
                if any(name.split(".")[0] == "sparknn" for name in names):
                    found.append(f"{where}: {function.name} imports {', '.join(names)}")
    assert not found, "\n".join(found)


# A bench script that reaches inside a module on purpose, and why: nothing else may.
INTERNAL_ON_PURPOSE = {
    ("sgns_variants.py", "sparknn.backend.opencl_backend"): "swaps the kernel sources",
    ("document_vectors.py", "sparknn.ml.word2vec"): "times transform's arithmetic alone",
    **{
        ("word2vec_breakdown.py", module): "wraps the functions that end each phase"
        for module in (
            "sparknn.spark.session",
            "sparknn.word2vec.exchange",
            "sparknn.word2vec.job",
            "sparknn.word2vec.spark",
        )
    },  # fmt: skip
}


def sparknn_imports(path: Path):
    """``(module, name or None)`` for each import of sparknn in ``path``, at any depth."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] == "sparknn":
                yield from ((node.module, alias.name) for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "sparknn":
                    yield alias.name, None


def test_bench_scripts_import_only_public_names():
    """Each ``from sparknn.X import Y`` in bench/ names a package and a name in its
    ``__all__``; each ``import sparknn.X`` a package: the benches use the API users get."""
    problems = []
    for path in sorted((REPO / "bench").glob("*.py")):
        for module_name, name in sparknn_imports(path):
            module = importlib.import_module(module_name)
            where = f"bench/{path.name}: {module_name}"
            if (path.name, module_name) in INTERNAL_ON_PURPOSE:
                continue
            if not hasattr(module, "__path__"):
                problems.append(f"{where} is a module, not a package")
            elif name is not None and name not in getattr(module, "__all__", ()):
                problems.append(f"{where}: {name} is not in its __all__")
    assert not problems, "\n".join(problems)


PACKAGES = [
    "sparknn", "sparknn.backend", "sparknn.charlm", "sparknn.corpus", "sparknn.distributed",
    "sparknn.ml", "sparknn.nn", "sparknn.spark", "sparknn.word2vec",
]  # fmt: skip


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_name_resolves_and_is_documented(package):
    """What ``__all__`` promises exists; the classes and functions say what they do."""
    module = importlib.import_module(package)
    for name in module.__all__:
        value = getattr(module, name)
        if callable(value) and not isinstance(value, type(module)):
            assert value.__doc__, f"{package}.{name} has no docstring"


def test_set_backend_is_what_get_backend_returns():
    from sparknn.backend import NumpyBackend, get_backend, set_backend

    before, mine = get_backend("auto"), NumpyBackend()
    try:
        set_backend("auto", mine)
        assert get_backend("auto") is mine
    finally:
        set_backend("auto", before)
    assert get_backend("auto") is before


def test_a_test_without_the_spark_marker_may_start_no_jvm(tmp_path):
    """conftest's guard: starting a JVM here fails the test, however the child is started."""
    launcher = tmp_path / "spark-submit"
    launcher.write_text("#!/bin/sh\n")
    launcher.chmod(0o755)
    for start in (subprocess.run, subprocess.Popen, subprocess.check_output):
        with pytest.raises(pytest.fail.Exception, match="starts a JVM .* no spark marker"):
            start([str(launcher), "--version"])
    with pytest.raises(pytest.fail.Exception, match="starts a JVM"):
        subprocess.run(f"{launcher} --version", shell=True)
    assert not Path(os.environ["JAVA_HOME"], "bin", "java").exists()  # for a child's JVM
