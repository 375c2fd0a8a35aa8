"""The executor side: a barrier task that keeps its shards resident and serves gradient requests.

The task builds a *replica* from its shards once (for the char-LM: the model plus the encoded
windows), connects to the driver's :class:`~sparknn.distributed.server.GradientServer`, and
then loops: receive a step's window indices (and the parameters, when they changed) straight
into preallocated buffers, compute the gradient sum over the windows it holds, send it back.

A replica is any object with:

* ``params``: a contiguous float vector the task receives parameters into;
* ``gradient(windows) -> (loss_sum, grad_sum, n)``: sums over the windows it holds
  (``grad_sum`` may be None when ``n`` is 0);
* ``evaluate(windows) -> (loss_sum, n)``;

each may return one more value, the summed accuracy of its examples
(:class:`~sparknn.distributed.Replica`), which the reply carries as ``correct``.
"""

import os
import socket
import time

import numpy as np

from sparknn.distributed.protocol import (
    DTYPE_CODES,
    EVAL,
    FLAG_DIE,
    GRAD,
    HELLO,
    LOSS,
    STEP,
    STOP,
    Channel,
    Header,
    client_handshake,
)
from sparknn.errors import SparknnError

# The driver listens before it launches the stage, so a task that cannot connect within
# this many seconds never will: it fails at once (and with it, after Spark's retries, the
# job) instead of after minutes.
CONNECT_TIMEOUT = 10.0


def connect(address, secret: bytes, hello: Header, timeout: float = CONNECT_TIMEOUT) -> Channel:
    """Connect to the driver's server at ``address`` = ``(host, port, unix socket path)``
    and pass its handshake: over the Unix socket when this task runs on the driver's host
    (the path exists here and accepts us), else over TCP.

    Raises SparknnError naming the address and the Spark settings behind it when the
    driver cannot be reached within ``timeout`` seconds.
    """
    host, port, unix_path = address
    if unix_path and os.path.exists(unix_path):
        sock = socket.socket(socket.AF_UNIX)
        try:
            sock.settimeout(timeout)
            sock.connect(unix_path)
            return _handshake(sock, secret, hello)
        except OSError:
            sock.close()  # e.g. another host's folder of the same name: use TCP
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        try:
            sock = socket.create_connection((host, port), timeout=max(remaining, 0.1))
            break
        except OSError as error:
            if time.monotonic() + 0.2 >= deadline:
                raise SparknnError(
                    f"a training task on {socket.gethostname()} could not connect to the driver "
                    f"at {host}:{port} ({error}); executors reach the driver at "
                    "spark.driver.host, and it listens on spark.driver.bindAddress: set them to "
                    "an address of the driver's machine that executors can route to"
                ) from None
            time.sleep(0.2)
    sock.settimeout(timeout)  # the handshake's own, as over the Unix socket
    return _handshake(sock, secret, hello)


def _handshake(sock: socket.socket, secret: bytes, hello: Header) -> Channel:
    channel = Channel(sock)
    client_handshake(channel, secret, hello)
    sock.settimeout(None)
    return channel


def reported_accuracy(extra) -> float:
    """The optional ``correct`` a replica returned after its usual values (0.0 without)."""
    return float(extra[0]) if extra else 0.0


def serve(channel: Channel, replica) -> dict:
    """Answer the driver's requests until it says STOP; return counters for the task report."""
    dtype_code = DTYPE_CODES[np.dtype(replica.params.dtype)]
    steps = 0
    compute_seconds = 0.0
    while True:
        request = channel.recv_header()
        if request.kind == STOP:
            break
        windows = np.empty(request.count, dtype=np.int64)
        channel.recv_into(windows)
        if request.length:
            if request.length != replica.params.size or request.dtype != dtype_code:
                raise ConnectionError("parameter frame does not match this task's model")
            channel.recv_into(replica.params)
        if request.flags & FLAG_DIE:
            os._exit(17)  # fault injection (tests): this Python worker dies mid-training
        start = time.perf_counter()
        if request.kind == STEP:
            loss, grad, n, *accuracy = replica.gradient(windows)
            seconds = time.perf_counter() - start
            payload = grad if n else None
            length = payload.size if payload is not None else 0
            reply = Header(GRAD, request.step, n, length, loss, seconds, dtype_code,
                           correct=reported_accuracy(accuracy))  # fmt: skip
            channel.send(reply, payload)
            steps += 1
        elif request.kind == EVAL:
            loss, n, *accuracy = replica.evaluate(windows)
            seconds = time.perf_counter() - start
            reply = Header(LOSS, request.step, n, 0, loss, seconds, dtype_code,
                           correct=reported_accuracy(accuracy))  # fmt: skip
            channel.send(reply)
        else:
            raise ConnectionError(f"unexpected message kind {request.kind}")
        compute_seconds += seconds
    return {"steps": steps, "compute_seconds": compute_seconds}


def barrier_task(address, secret: bytes, make_replica, serve_loop=serve):
    """The function a barrier stage maps over its partitions of shards.

    ``serve_loop(channel, replica) -> dict`` answers the driver until it says STOP (default:
    the gradient exchange above; word2vec has its own).
    """

    def run(shards):
        from pyspark import BarrierTaskContext

        context = BarrierTaskContext.get()
        replica = make_replica(list(shards))
        # A relaunched stage attempt's tasks are launched after every task of the attempts
        # before it, so their task attempt ids are larger: the driver tells stragglers from
        # their replacements by it (server.py). No allGather to agree on one number per
        # attempt: every barrier call is slow (docs/DESIGN-NOTES.md, "No `allGather` before a
        # barrier task connects").
        attempt = context.taskAttemptId()
        hello = Header(HELLO, context.partitionId(), attempt)
        channel = connect(address, secret, hello)
        transport = "unix" if channel.sock.family == socket.AF_UNIX else "tcp"
        try:
            report = serve_loop(channel, replica)
        finally:
            channel.close()
        report.update(
            task=context.partitionId(),
            task_attempt=attempt,
            host=socket.gethostname(),
            pid=os.getpid(),
            transport=transport,
        )
        yield report

    return run
