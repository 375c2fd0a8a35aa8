"""Where a step's gradient comes from: this process, or the executors of a barrier stage.

Both sources answer ``gradient(step, windows, params, version)`` with
``(loss_sum, grad_sum, n, compute_seconds)`` and ``evaluate(windows, params, version)`` with
``(loss_sum, n)``, and then hold in ``correct`` the summed accuracy of those examples where
the replicas report one (:class:`~sparknn.distributed.Replica`; else 0), so the driver loop
in :mod:`sparknn.distributed.trainer` is the same for a single-process run and a Spark run.
``version`` identifies the parameter vector (the number of updates applied): tasks are sent
the parameters only when their copy is older.
"""

import logging
import re
import socket
import threading
import time
import uuid

import numpy as np

from sparknn.distributed.protocol import new_secret
from sparknn.distributed.server import GradientServer, TaskFailed
from sparknn.distributed.worker import barrier_task, reported_accuracy
from sparknn.errors import SparknnError
from sparknn.testing import faults

logger = logging.getLogger(__name__)


class LocalGradients:
    """The single-process reference: one replica over every shard, on the driver."""

    def __init__(self, replica):
        self.replica = replica
        self.failures = 0
        self.correct = 0.0

    def _load(self, params):
        if self.replica.params is not params:
            np.copyto(self.replica.params, params)

    def gradient(self, step, windows, params, version):
        self._load(params)
        start = time.perf_counter()
        loss, grad, n, *accuracy = self.replica.gradient(windows)
        seconds = time.perf_counter() - start
        self.correct = reported_accuracy(accuracy)
        return loss, grad, n, seconds

    def evaluate(self, windows, params, version):
        self._load(params)
        loss, n, *accuracy = self.replica.evaluate(windows)
        self.correct = reported_accuracy(accuracy)
        return loss, n

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def close(self):
        pass


def driver_address(spark) -> tuple[str, str]:
    """``(address to listen on, address executors connect to)``, as Spark's own driver does.

    Executors reach the driver at ``spark.driver.host`` (Spark sets it when the context
    starts: the host's address, or what the user or ``SPARK_LOCAL_IP`` chose); the driver
    listens on ``spark.driver.bindAddress``, which defaults to that same address. Only the
    JVM's configuration counts: this process's environment may differ from the JVM's (under
    spark-submit the JVM started first).
    """
    conf = spark.sparkContext.getConf()
    advertise = conf.get("spark.driver.host", None) or socket.gethostname()
    return conf.get("spark.driver.bindAddress", None) or advertise, advertise


def _concurrent_tasks(spark) -> int | None:
    """Task slots of the executors registered now, or None where the JVM will not say."""
    try:
        jsc = spark.sparkContext._jsc.sc()
        profile = jsc.resourceProfileManager().defaultResourceProfile()
        return int(jsc.maxNumConcurrentTasks(profile))
    except Exception:  # an internal API; a Spark without it gets the public estimate
        return None


def executor_slots(spark, wanted: int, timeout: float = 120.0, settle: float = 3.0) -> int:
    """How many tasks a barrier stage can run at once, at most ``wanted``.

    A barrier stage needs all its tasks running together, and Spark's ``defaultParallelism``
    overstates a small standalone cluster (it is never below 2). Executors register a few
    seconds after the session starts, so wait up to ``timeout`` for the first slot, then until
    there are ``wanted`` slots or the count has not grown for ``settle`` seconds.
    """
    if _concurrent_tasks(spark) is None:
        return max(1, min(wanted, spark.sparkContext.defaultParallelism))
    deadline = time.monotonic() + timeout
    slots, changed = 0, time.monotonic()
    while True:
        now_slots = _concurrent_tasks(spark) or 0
        if now_slots != slots:
            slots, changed = now_slots, time.monotonic()
        if slots >= wanted:
            return wanted
        if slots and time.monotonic() - changed >= settle:
            return slots
        if time.monotonic() > deadline:
            raise SparknnError(
                f"no executor registered with master {spark.sparkContext.master!r} within "
                f"{timeout:.0f} s (is a worker running, with enough free cores and memory?)"
            )
        time.sleep(0.2)


def first_error_line(error) -> str:
    """The Python exception inside a Py4J/Spark error, e.g. 'ValueError: ...'."""
    lines = [line.strip() for line in str(error).splitlines()]
    python = [line for line in lines if re.match(r"^[A-Za-z_.]*(Error|Exception): ", line)]
    python = [line for line in python if not line.startswith(("py4j", "org.", "java."))]
    return (python or lines or [repr(error)])[-1]


def task_error(error, context: str) -> str:
    """One line for a failed Spark task: the message of the SparknnError it raised, else
    ``context`` and the task's Python error."""
    line = first_error_line(error)
    marker = "SparknnError: "
    return line.split(marker, 1)[1] if marker in line else f"{context}: {line}"


class BarrierStage:
    """A long-lived barrier stage whose tasks connect to ``server`` and serve its exchanges.

    The stage runs in a background thread (its job ends when the server says STOP). A task
    failure makes Spark relaunch the whole stage; :meth:`retrying` then waits for the new
    attempt's tasks and repeats the exchange, so a failure never changes the result. A context
    manager: leaving the ``with`` block closes it (:meth:`close`).
    """

    def __init__(self, spark, shards, server, task, description, connect_timeout=300.0, log=None):
        self.spark = spark
        self.server = server
        self.connect_timeout = connect_timeout
        self.log = log or logger.info  # a failed task, waiting for its relaunch
        self.failures = 0
        self.reports = None
        self.error = None
        self._group = f"sparknn-{uuid.uuid4().hex[:8]}"
        self._description = description
        self._job = threading.Thread(target=self._run, args=(shards, task), daemon=True)
        self._job.start()

    def _run(self, shards, task):
        sc = self.spark.sparkContext
        sc.setJobGroup(self._group, self._description, True)
        try:
            # The barrier stage must end in a shuffle: Spark retries a failed barrier
            # *shuffle-map* stage as a whole, but gives up on a failed barrier result stage.
            reports = shards.barrier().mapPartitions(task).map(lambda report: (0, report))
            self.reports = reports.partitionBy(1).values().collect()
        except Exception as error:  # reported to the driver loop, which raises SparknnError
            self.error = error

    def _job_failed(self):
        if self.error is not None:
            return first_error_line(self.error)
        if not self._job.is_alive():
            return "the barrier stage ended before training finished"
        return None

    def retrying(self, call):
        """``call()`` once every task is connected; again after a task failure."""
        while True:
            try:
                return self.once(call)
            except TaskFailed:
                pass

    def once(self, call):
        """``call()`` once every task is connected; a task failure is counted, logged and
        raised (:class:`TaskFailed`), for a caller that must do more than repeat the call."""
        self.server.wait_for_tasks(self._job_failed, self.connect_timeout)
        try:
            return call()
        except TaskFailed as error:
            self.failures += 1
            self.log(f"a training task failed ({error}); waiting for Spark to relaunch it")
            raise

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *rest):
        try:
            self.close()
        except SparknnError:
            if exc_type is None:
                raise
            # else the exception leaving the block stands: the stage's failure follows from
            # it (an interrupt cancels the job) or was raised already (wait_for_tasks)

    def close(self):
        """Stop the stage; raise SparknnError if its Spark job failed and no task failure
        seen by the driver accounts for it."""
        self.server.close()
        self._job.join(timeout=60)
        if self._job.is_alive():
            self.spark.sparkContext.cancelJobGroup(self._group)
            self._job.join(timeout=30)
        if self.error is not None and self.reports is None and self.failures == 0:
            raise SparknnError(f"the Spark training stage failed: {self._job_failed()}")


class SparkGradients:
    """Runs one long-lived barrier stage over ``shards`` and exchanges gradients with the driver.

    A context manager: leaving the ``with`` block stops the stage (:meth:`close`)."""

    def __init__(
        self,
        spark,
        shards,
        make_replica,
        n_params: int,
        dtype,
        connect_timeout: float = 300.0,
        log=None,
    ):
        bind, advertise = driver_address(spark)
        self.server = GradientServer(
            shards.getNumPartitions(), n_params, dtype, new_secret(), bind_host=bind,
            advertise_host=advertise,
        )  # fmt: skip
        if faults.step is not None:  # tests only: see sparknn.testing
            self.server.die_at_step = (faults.step, 0)
        task = barrier_task(self.server.address, self.server.secret, make_replica)
        self.stage = BarrierStage(
            spark, shards, self.server, task, "sparknn synchronous SGD (barrier stage)",
            connect_timeout, log,
        )  # fmt: skip

    @property
    def failures(self) -> int:
        return self.stage.failures

    @property
    def reports(self):
        return self.stage.reports

    @property
    def correct(self) -> float:
        return self.server.correct

    def gradient(self, step, windows, params, version):
        return self.stage.retrying(lambda: self.server.run_step(step, windows, params, version))

    def evaluate(self, windows, params, version):
        return self.stage.retrying(lambda: self.server.run_eval(windows, params, version))

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.stage.__exit__(*exc_info)

    def close(self):
        self.stage.close()
