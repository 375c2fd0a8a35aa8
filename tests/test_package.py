"""The installed package: console script, version, and the missing-Java message."""

import os
import subprocess
import sys
import tomllib
from pathlib import Path

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
