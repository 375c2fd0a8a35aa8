"""A local standalone Spark cluster: one master and N workers on 127.0.0.1.

``sparknn cluster start|stop|status`` and the matching Python API (``start``, ``stop``,
``status``) let notebooks and ``spark-submit`` run against a real standalone master
(``spark://127.0.0.1:PORT``) instead of ``local[N]``, on one machine.

The daemons are launched with Spark's own ``sbin/spark-daemon.sh`` (the pip package ships it
but not ``start-master.sh``); without it we run ``bin/spark-class`` under ``nohup``-like
detachment ourselves. Everything the cluster writes (PID files, logs, worker work dirs and a
small ``cluster.json`` naming the ports) goes to a state directory outside the installed
package: ``$SPARKNN_CLUSTER_DIR``, else ``$XDG_STATE_HOME/sparknn/cluster``, else
``~/.local/state/sparknn/cluster``. ``stop`` only ends the processes named by those PID files,
and only if they still are the Spark daemon they were started as (PIDs get reused).
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from importlib.util import find_spec
from pathlib import Path

from sparknn.config import Rule, argument_type, positive_float, positive_int
from sparknn.errors import SparknnError
from sparknn.spark.session import ONE_THREAD, check_java

HOST = "127.0.0.1"
MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
# spark-daemon.sh names PID and log files after this instead of $USER.
IDENT = "sparknn"
STATE_FILE = "cluster.json"
MEMORY_PATTERN = re.compile(r"[1-9][0-9]*[kmgt]?", re.IGNORECASE)


# --------------------------------------------------------------------------- locations


def state_dir(path: str | Path | None = None) -> Path:
    """Where PID files, logs and work dirs live (see the module docstring)."""
    if path is not None:
        return Path(path).expanduser().resolve()
    if os.environ.get("SPARKNN_CLUSTER_DIR"):
        return Path(os.environ["SPARKNN_CLUSTER_DIR"]).expanduser().resolve()
    base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(base, "sparknn", "cluster")


def spark_home() -> Path:
    """$SPARK_HOME if it holds a Spark distribution, else the pip-installed pyspark dir."""
    env_home = os.environ.get("SPARK_HOME")
    if env_home and Path(env_home, "bin", "spark-class").exists():
        return Path(env_home)
    spec = find_spec("pyspark")
    if spec is None or spec.origin is None:
        raise SparknnError("pyspark is not installed (pip install pyspark)")
    home = Path(spec.origin).parent
    if not (home / "bin" / "spark-class").exists():
        raise SparknnError(f"no bin/spark-class under {home}: the pyspark install looks broken")
    return home


def pid_file(directory: Path, daemon_class: str, instance: int) -> Path:
    # The same name spark-daemon.sh uses, so both launch paths agree.
    return directory / "pids" / f"spark-{IDENT}-{daemon_class}-{instance}.pid"


# --------------------------------------------------------------------------- processes


def _process_command(pid: int) -> str:
    """The command line of ``pid``, or '' if no such process."""
    result = subprocess.run(
        ["ps", "-ww", "-p", str(pid), "-o", "args="], capture_output=True, text=True, check=False
    )
    return result.stdout.strip()


def _is_daemon(pid: int, daemon_class: str) -> bool:
    """True if ``pid`` is alive and still the Spark daemon we started (not a reused PID)."""
    command = _process_command(pid)
    return "java" in command and daemon_class in command


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


def _free_port(preferred: int, taken: set[int]) -> int:
    """``preferred`` if nothing listens there, else a free port the OS picks."""
    if preferred and preferred not in taken and _port_is_free(preferred):
        return preferred
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((HOST, 0))
            port = probe.getsockname()[1]
        if port not in taken:
            return port


def _daemon_env(home: Path, directory: Path) -> dict:
    env = dict(os.environ)
    # The caller's PYTHONPATH would leak into executors and hide code-shipping bugs: on a real
    # cluster executors only see the installed package or what the job ships (--py-files).
    env.pop("PYTHONPATH", None)
    env.pop("SPARK_NO_DAEMONIZE", None)
    env.update(
        SPARK_HOME=str(home),
        SPARK_LOCAL_IP=HOST,
        SPARK_IDENT_STRING=IDENT,
        PYSPARK_PYTHON=sys.executable,
        SPARK_WORKER_DIR=str(directory / "work"),
        SPARK_LOG_DIR=str(directory / "logs"),
        SPARK_PID_DIR=str(directory / "pids"),
        **ONE_THREAD,
    )
    return env


def _launch(home: Path, directory: Path, daemon_class: str, instance: int, args: list[str]):
    """Start one daemon in the background; returns the launcher process to wait for."""
    env = _daemon_env(home, directory)
    daemon_script = home / "sbin" / "spark-daemon.sh"
    if daemon_script.exists():
        command = ["bash", str(daemon_script), "start", daemon_class, str(instance), *args]
        # A session of their own: daemons started from a notebook must outlive its kernel,
        # which Jupyter stops by signalling the kernel's whole process group.
        return subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
    # No sbin scripts: detach spark-class ourselves (it execs java, so its PID is the JVM's).
    log = directory / "logs" / f"spark-{IDENT}-{daemon_class}-{instance}.out"
    with open(log, "ab") as log_file:
        process = subprocess.Popen(
            [str(home / "bin" / "spark-class"), daemon_class, *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    pid_file(directory, daemon_class, instance).write_text(f"{process.pid}\n")
    return None


def _wait_for_launchers(launchers) -> None:
    for launcher in launchers:
        if launcher is None:
            continue
        output, _ = launcher.communicate()
        if "failed to launch" in output:
            raise SparknnError(" ".join(output.split()))


def _terminate(pid: int, daemon_class: str, timeout: float) -> None:
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _is_daemon(pid, daemon_class):
            return
        time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)


# --------------------------------------------------------------------------- state


@dataclass
class ClusterStatus:
    """What ``start`` and ``status`` report. ``running`` means the master answers."""

    state_dir: str
    running: bool = False
    master_url: str | None = None
    master_port: int | None = None
    webui_port: int | None = None
    worker_webui_ports: list[int] = field(default_factory=list)
    pids: dict[str, int] = field(default_factory=dict)  # daemon name -> live PID
    workers: list[dict] = field(default_factory=list)  # from the master's /json/
    notes: list[str] = field(default_factory=list)

    @property
    def webui_url(self) -> str | None:
        return f"http://{HOST}:{self.webui_port}" if self.webui_port else None

    @property
    def alive_workers(self) -> int:
        return sum(1 for worker in self.workers if worker.get("state") == "ALIVE")

    def describe(self) -> str:
        if not self.running and not self.pids:
            return f"no local cluster running (state dir {self.state_dir})"
        lines = [
            f"master   {self.master_url}   web UI {self.webui_url}   "
            f"(pid {self.pids.get('master', '-')})" + ("" if self.running else "   NOT ANSWERING"),
            f"workers  {self.alive_workers} alive",
        ]
        for worker in self.workers:
            lines.append(
                f"  {worker.get('id')}  {worker.get('state')}  {worker.get('cores')} cores  "
                f"{worker.get('memory')} MB  web UI {worker.get('webuiaddress')}"
            )
        for name, pid in sorted(self.pids.items()):
            if name != "master":
                lines.append(f"  {name} pid {pid}")
        lines.append(f"state, logs and work dirs: {self.state_dir}")
        lines.extend(self.notes)
        return "\n".join(lines)


def _read_state(directory: Path) -> dict | None:
    try:
        return json.loads((directory / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None


def _write_state(directory: Path, state: dict) -> None:
    tmp = directory / (STATE_FILE + ".tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    os.replace(tmp, directory / STATE_FILE)


def _master_json(webui_port: int) -> dict | None:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{webui_port}/json/", timeout=2) as reply:
            return json.loads(reply.read())
    except (OSError, ValueError):
        return None


def _live_daemons(directory: Path, state: dict) -> dict[str, int]:
    daemons = {"master": (MASTER_CLASS, 1)}
    for instance in range(1, state.get("workers", 0) + 1):
        daemons[f"worker-{instance}"] = (WORKER_CLASS, instance)
    live = {}
    for name, (daemon_class, instance) in daemons.items():
        pid = _read_pid(pid_file(directory, daemon_class, instance))
        if pid is not None and _is_daemon(pid, daemon_class):
            live[name] = pid
    return live


# --------------------------------------------------------------------------- API


def status(directory: str | Path | None = None) -> ClusterStatus:
    """Report the cluster recorded in ``directory`` (default: see :func:`state_dir`)."""
    directory = state_dir(directory)
    state = _read_state(directory)
    if state is None:
        return ClusterStatus(state_dir=str(directory))
    report = ClusterStatus(
        state_dir=str(directory),
        master_url=state["master_url"],
        master_port=state["master_port"],
        webui_port=state["webui_port"],
        worker_webui_ports=state["worker_webui_ports"],
        pids=_live_daemons(directory, state),
    )
    master = _master_json(state["webui_port"]) if "master" in report.pids else None
    if master is not None:
        report.running = True
        report.workers = [w for w in master.get("workers", []) if w.get("state") != "DEAD"]
    return report


def start(
    workers: int = 2,
    cores: int = 1,
    memory: str = "1g",
    master_port: int = 7077,
    webui_port: int = 8080,
    directory: str | Path | None = None,
    timeout: float = 90.0,
) -> ClusterStatus:
    """Start a master and ``workers`` workers, or return the one already running there.

    Returns once the master reports every worker ALIVE. Ports that are taken are replaced by
    free ones; the returned status (and ``sparknn cluster status``) names the ports used.
    """
    if not isinstance(workers, int) or workers < 1:
        raise SparknnError(f"workers must be an integer >= 1, got {workers!r}")
    if not isinstance(cores, int) or cores < 1:
        raise SparknnError(f"cores must be an integer >= 1, got {cores!r}")
    if not MEMORY_PATTERN.fullmatch(str(memory)):
        raise SparknnError(f"memory must look like 512m or 1g, got {memory!r}")
    check_java()
    directory = state_dir(directory)
    current = status(directory)
    if current.running:
        current.notes.append("(already running; 'sparknn cluster stop' first to change it)")
        return current
    if current.pids:  # a half-dead cluster from before: clear it away first
        stop(directory)

    home = spark_home()
    for sub in ("pids", "logs", "work"):
        (directory / sub).mkdir(parents=True, exist_ok=True)

    taken: set[int] = set()
    ports = {}
    for name, preferred in (("master_port", master_port), ("webui_port", webui_port)):
        ports[name] = _free_port(preferred, taken)
        taken.add(ports[name])
    worker_ports = []
    for instance in range(1, workers + 1):
        worker_ports.append(_free_port(ports["webui_port"] + instance, taken))
        taken.add(worker_ports[-1])
    master_url = f"spark://{HOST}:{ports['master_port']}"
    _write_state(
        directory,
        {
            "master_url": master_url,
            **ports,
            "worker_webui_ports": worker_ports,
            "workers": workers,
            "cores": cores,
            "memory": str(memory),
            "spark_home": str(home),
        },
    )
    notes = [
        f"(port {wanted} was taken; using {ports[name]})"
        for name, wanted in (("master_port", master_port), ("webui_port", webui_port))
        if wanted != ports[name]
    ]

    try:
        master_args = ["--host", HOST, "--port", str(ports["master_port"])]
        master_args += ["--webui-port", str(ports["webui_port"])]
        _wait_for_launchers([_launch(home, directory, MASTER_CLASS, 1, master_args)])
        _wait_until(directory, ports["webui_port"], lambda m: True, timeout, "master")
        launchers = []
        for instance, port in enumerate(worker_ports, start=1):
            worker_args = ["--host", HOST, "--cores", str(cores), "--memory", str(memory)]
            worker_args += ["--webui-port", str(port), "--work-dir", str(directory / "work")]
            launchers.append(
                _launch(home, directory, WORKER_CLASS, instance, [*worker_args, master_url])
            )
        _wait_for_launchers(launchers)
        _wait_until(
            directory,
            ports["webui_port"],
            lambda m: m.get("aliveworkers", 0) >= workers,
            timeout,
            f"{workers} workers",
        )
    except BaseException:
        stop(directory)
        raise
    report = status(directory)
    report.notes.extend(notes)
    return report


def _wait_until(directory: Path, webui_port: int, ready, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        master = _master_json(webui_port)
        if master is not None and ready(master):
            return
        time.sleep(0.5)
    raise SparknnError(
        f"the local cluster's {what} did not come up within {timeout:.0f} s; "
        f"see the logs in {directory / 'logs'}"
    )


def stop(directory: str | Path | None = None, timeout: float = 20.0) -> dict[str, int]:
    """Stop the daemons this state dir started (workers first); returns {name: pid} stopped."""
    directory = state_dir(directory)
    state = _read_state(directory)
    if state is None:
        return {}
    live = _live_daemons(directory, state)
    # Workers first so they do not spend their shutdown trying to reach a dead master.
    for name in sorted(live, key=lambda n: n == "master"):
        daemon_class = MASTER_CLASS if name == "master" else WORKER_CLASS
        try:
            _terminate(live[name], daemon_class, timeout)
        except ProcessLookupError:
            pass
    for stale in (directory / "pids").glob(f"spark-{IDENT}-*.pid"):
        stale.unlink(missing_ok=True)
    (directory / STATE_FILE).unlink(missing_ok=True)
    return live


# --------------------------------------------------------------------------- CLI


def add_arguments(parser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    start_parser = actions.add_parser("start", help="start a master and N workers")
    start_parser.add_argument("--workers", type=positive_int, default=2, help="(default: 2)")
    start_parser.add_argument(
        "--cores", type=positive_int, default=1, help="cores per worker (default: 1)"
    )
    start_parser.add_argument(
        "--memory", default="1g", help="memory per worker, e.g. 512m, 2g (default: 1g)"
    )
    port = argument_type(int, Rule("a port number, 1-65535", lambda value: 0 < value < 65536))
    start_parser.add_argument("--master-port", type=port, default=7077, help="(default: 7077)")
    start_parser.add_argument("--webui-port", type=port, default=8080, help="(default: 8080)")
    start_parser.add_argument(
        "--timeout", type=positive_float, default=90.0, help="seconds to wait"
    )
    actions.add_parser("stop", help="stop the daemons started by 'start'")
    status_parser = actions.add_parser("status", help="report master URL, ports and workers")
    status_parser.add_argument("--json", action="store_true", help="machine-readable output")
    for sub in actions.choices.values():
        sub.add_argument(
            "--dir",
            dest="directory",
            help="state dir (default: $SPARKNN_CLUSTER_DIR or ~/.local/state/sparknn/cluster)",
        )


def run(args) -> int:
    if args.action == "start":
        report = start(
            workers=args.workers,
            cores=args.cores,
            memory=args.memory,
            master_port=args.master_port,
            webui_port=args.webui_port,
            directory=args.directory,
            timeout=args.timeout,
        )
        print(report.describe())
        print(f"\nuse it: spark-submit --master {report.master_url} ...   or in Python:")
        print(f"        sparknn.session('{report.master_url}')")
        return 0
    if args.action == "stop":
        stopped = stop(args.directory)
        if not stopped:
            print(f"no local cluster running (state dir {state_dir(args.directory)})")
        for name, pid in stopped.items():
            print(f"stopped {name} (pid {pid})")
        return 0
    report = status(args.directory)
    if args.json:
        print(json.dumps({**asdict(report), "webui_url": report.webui_url}, indent=2))
    else:
        print(report.describe())
    return 0 if report.running else 1
