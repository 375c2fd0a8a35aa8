# Two entry points (see README): `make demo` and `make test`. Both create the venv if needed.
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
export SPARK_LOCAL_IP ?= 127.0.0.1
export PYSPARK_PYTHON := $(abspath $(PY))
export PYSPARK_DRIVER_PYTHON := $(abspath $(PY))

.PHONY: demo test test-fast setup notebooks bench clean

$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found; install Python 3.11 (e.g. 'apt install python3.11 python3.11-venv')" >&2; exit 1; }
	@command -v java >/dev/null 2>&1 || { echo "error: Java 17 not found; install it (e.g. 'apt install openjdk-17-jre-headless') and retry" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

# Spark's JVMs start from a class archive of this Java and Spark (sparknn/spark/class_archive.py):
# made once, by a small job; without it they only start slower.
setup: $(VENV)/.installed
	@$(VENV)/bin/sparknn class-archive || echo "note: Spark's JVMs will start without a class archive" >&2

demo: setup
	$(PY) -m sparknn.demo

test: setup
	$(PY) -m ruff check .
	$(PY) -m pytest -q

# The tests that start no JVM (see tests/conftest.py), for while editing.
test-fast: setup
	$(PY) -m pytest -q -m "not spark"

# Jupyter refuses to start as root (in containers, often the only user) without --allow-root.
USER_ID ?= $(shell id -u)
notebooks: setup
	$(PY) -m pip install -q -e '.[notebooks]'
	$(VENV)/bin/jupyter lab notebooks/ $(if $(filter 0,$(USER_ID)),--allow-root)

bench: setup
	# The CPU build from PyTorch's index; where that index cannot be reached, from PyPI.
	$(PY) -m pip install -q --retries 1 --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 \
	  || $(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[bench]'

clean:
	rm -rf $(VENV) runs .pytest_cache
