"""The driver-side gradient server: one connection per barrier task, one exchange per step.

Tasks connect over TCP, or over a Unix socket when they run on the driver's host (a
local cluster, a notebook), which moves large frames faster than loopback TCP (word2vec
exchanges tens of MB every round; docs/DESIGN-NOTES.md, "Unix socket on one host").

An accept thread authenticates incoming tasks at any time, so a retried barrier stage can
reconnect while the driver waits. It waits on every listener and every unauthenticated
connection at once, so a connection that does not answer the challenge delays no other. Each
has ``handshake_timeout`` seconds to pass the handshake; at most ``n_tasks +
spare_handshakes`` wait at a time, and one more displaces the oldest waiting. Idle or hostile
connections thus hold bounded resources and cannot lock out a task, which answers as soon as
it is challenged.

A task says its task attempt id; a relaunched stage attempt's are all larger than those of
the attempts before it. A step is all-or-nothing: if any connection fails during an exchange,
the driver closes them all (every task of that attempt was connected: ids up to the largest
of them are now refused), waits for Spark to relaunch the stage and sends the same step again,
so a task failure never changes the result. Two connections seen to be of different attempts
(one partition, or ids too far apart for one attempt: ``_admit``) close the older attempt's.
"""

import os
import queue
import selectors
import shutil
import socket
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from sparknn.distributed.protocol import (
    ANSWER_BYTES,
    DTYPE_CODES,
    EVAL,
    FLAG_DIE,
    NONCE_BYTES,
    STEP,
    STOP,
    Channel,
    Header,
    check_hello,
)
from sparknn.errors import SparknnError
from sparknn.files import owned_prefix


class TaskFailed(Exception):
    """A connection to a task broke during an exchange; the step must be retried."""


class TaskConnection:
    def __init__(self, channel: Channel, hello: Header, n_params: int, dtype):
        self.channel = channel
        self.task = hello.step
        self.attempt = hello.count
        self.grad = np.empty(n_params, dtype=dtype)  # preallocated receive buffer
        self.params_version = -1  # which parameter vector this task holds

    def exchange(self, request: Header, windows, params, into: np.ndarray) -> Header:
        self.channel.send(request, windows, params)
        reply = self.channel.recv_header()
        if reply.length:
            if reply.length != into.size:
                raise ConnectionError(f"gradient of {reply.length} values, expected {into.size}")
            self.channel.recv_into(into)
        return reply


class TaskServer:
    """Listens for the tasks of a barrier stage and keeps the newest attempt's connections.

    Subclasses define the exchanges; ``connection(channel, hello)`` makes the per-task object
    (it must have ``channel``, ``task`` and ``attempt``, the task attempt id).
    """

    handshake_timeout = 5.0  # seconds a new connection has to authenticate
    spare_handshakes = 64  # unauthenticated connections allowed to wait beyond n_tasks

    def __init__(self, n_tasks, secret, bind_host="", advertise_host=None):
        self.n_tasks = n_tasks
        self.secret = secret
        self.listener = _tcp_listener(bind_host)
        self.host = advertise_host or bind_host or socket.gethostname()
        self.port = self.listener.getsockname()[1]
        self.unix_folder, self.unix_path, self.unix_listener = _unix_listener()
        self.incoming: queue.Queue = queue.Queue()
        self.tasks: dict = {}
        self.floor = -1  # task attempt ids up to this one are of failed stage attempts
        self.reconnects = 0
        self.pool = ThreadPoolExecutor(max_workers=max(1, n_tasks), thread_name_prefix="sparknn")
        self._closed = threading.Event()
        self.max_pending = n_tasks + self.spare_handshakes
        self._pending: dict[socket.socket, _Handshake] = {}  # oldest first; accept thread only
        self._selector = selectors.DefaultSelector()
        for listener in (self.listener, self.unix_listener):
            if listener is not None:
                listener.setblocking(False)
                self._selector.register(listener, selectors.EVENT_READ)
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)
        self._acceptor.start()

    def connection(self, channel: Channel, hello: Header):
        raise NotImplementedError

    @property
    def address(self) -> tuple[str, int, str]:
        """``(host, port, unix socket path)``: what :func:`~sparknn.distributed.worker.connect`
        takes."""
        return self.host, self.port, self.unix_path

    def _accept_loop(self) -> None:
        """Accept connections and read their handshake answers, all without blocking."""
        try:
            while not self._closed.is_set():
                for key, _ in self._selector.select(timeout=0.2):
                    if key.data is None:
                        self._accept(key.fileobj)
                    elif key.fileobj in self._pending:  # not displaced earlier in this batch
                        self._read_answer(key.data)
                now = time.monotonic()
                for handshake in [h for h in self._pending.values() if h.deadline < now]:
                    self._drop(handshake)
        finally:
            for handshake in list(self._pending.values()):
                self._drop(handshake)
            self._selector.close()

    def _accept(self, listener: socket.socket) -> None:
        try:
            sock, _ = listener.accept()
        except OSError:  # the listener closed, or the peer left before we got to it
            return
        nonce = os.urandom(NONCE_BYTES)
        try:
            channel = Channel(sock)
            sock.setblocking(False)
            if sock.send(nonce) != NONCE_BYTES:  # an empty send buffer takes it whole
                raise ConnectionError("challenge not sent")
        except OSError:
            sock.close()
            return
        if len(self._pending) >= self.max_pending:
            self._drop(next(iter(self._pending.values())))
        handshake = _Handshake(channel, nonce, time.monotonic() + self.handshake_timeout)
        self._pending[sock] = handshake
        self._selector.register(sock, selectors.EVENT_READ, handshake)

    def _read_answer(self, handshake: "_Handshake") -> None:
        view = memoryview(handshake.answer)[handshake.received :]
        try:
            received = handshake.channel.sock.recv_into(view)
        except BlockingIOError:
            return
        except OSError:
            received = 0
        if received == 0:  # the peer left
            self._drop(handshake)
            return
        handshake.received += received
        if handshake.received < ANSWER_BYTES:
            return
        self._forget(handshake)
        try:
            hello = check_hello(self.secret, handshake.nonce, bytes(handshake.answer))
        except (PermissionError, ConnectionError):
            handshake.channel.close()
            return
        handshake.channel.sock.settimeout(None)  # blocking from here on
        self.incoming.put(self.connection(handshake.channel, hello))

    def _forget(self, handshake: "_Handshake") -> None:
        sock = handshake.channel.sock
        self._selector.unregister(sock)
        del self._pending[sock]

    def _drop(self, handshake: "_Handshake") -> None:
        self._forget(handshake)
        handshake.channel.close()

    def wait_for_tasks(self, job_failed, timeout: float) -> None:
        """Block until every task of the newest stage attempt is connected."""
        deadline = time.monotonic() + timeout
        while len(self.tasks) < self.n_tasks:
            error = job_failed()
            if error is not None:
                raise SparknnError(f"the Spark training stage failed: {error}")
            if time.monotonic() > deadline:
                raise SparknnError(
                    f"only {len(self.tasks)} of {self.n_tasks} training tasks connected to "
                    f"{self.host}:{self.port} within {timeout:.0f} s (executors must be able to "
                    "reach the driver; set spark.driver.host to an address they can route to)"
                )
            try:
                conn = self.incoming.get(timeout=0.2)
            except queue.Empty:
                continue
            self._admit(conn)

    def _admit(self, conn) -> None:
        """Let ``conn`` in unless it is of an older stage attempt than a held connection;
        close the held connections it shows to be of older attempts."""
        # Two connections are of different stage attempts when they are for one partition
        # (an attempt has one task per partition) or their ids are n_tasks or more apart
        # (Spark launches an attempt's tasks together, numbering them one after another).
        # The older attempt has failed: ids up to its connection's are refused from then on.
        # A wrong guess costs a relaunch of the stage, never a result: exchanges are
        # all-or-nothing, and new connections are sent the whole model.
        for held in self.tasks.values():
            if held.task == conn.task or abs(held.attempt - conn.attempt) >= self.n_tasks:
                self.floor = max(self.floor, min(held.attempt, conn.attempt))
        for task, held in list(self.tasks.items()):
            if held.attempt <= self.floor:
                del self.tasks[task]
                held.channel.close()
        if conn.attempt <= self.floor:
            conn.channel.close()  # a straggler from a failed attempt
        else:
            self.tasks[conn.task] = conn

    def drop_all(self) -> None:
        """Close every connection: their stage attempt failed (an exchange broke, and every
        task of it was connected), so no later task of it or an older one is let in."""
        self.floor = max([self.floor, *(conn.attempt for conn in self.tasks.values())])
        for conn in self.tasks.values():
            conn.channel.close()
        if self.tasks:
            self.reconnects += 1
        self.tasks.clear()

    def close(self) -> None:
        """Tell connected tasks to finish, then stop listening."""
        for conn in self.tasks.values():
            try:
                conn.channel.send(Header(STOP))
            except OSError:
                pass
        self._closed.set()
        self._acceptor.join()  # it closes the connections still in their handshake
        while not self.incoming.empty():  # tasks never let in (stragglers): end them too
            self.incoming.get_nowait().channel.close()
        self.listener.close()
        if self.unix_listener is not None:
            self.unix_listener.close()
            shutil.rmtree(self.unix_folder, ignore_errors=True)
        for conn in self.tasks.values():
            conn.channel.close()
        self.tasks.clear()
        self.pool.shutdown(wait=False)


def _tcp_listener(bind_host: str) -> socket.socket:
    """A listening TCP socket on ``bind_host`` ("" or "0.0.0.0": every interface)."""
    try:
        return socket.create_server((bind_host, 0), backlog=64)
    except OSError as error:
        raise SparknnError(
            f"the driver cannot listen on {bind_host!r} for its training tasks ({error}); it "
            "listens on spark.driver.bindAddress, else spark.driver.host: set them to an "
            "address of this machine that executors can reach"
        ) from None


@dataclass
class _Handshake:
    """A connection that has been sent ``nonce`` and must answer by ``deadline``."""

    channel: Channel
    nonce: bytes
    deadline: float
    answer: bytearray = field(default_factory=lambda: bytearray(ANSWER_BYTES))
    received: int = 0  # bytes of the answer read so far


def _unix_listener():
    """``(folder, path, listening socket)`` of a Unix socket in a fresh 0700 folder, which
    only this user's processes on this host can reach (they must still pass the handshake);
    ``(None, None, None)`` where there is none to be had (TCP only, then). The folder's name
    carries this process's id, so that a later job removes it if this one is killed."""
    folder = tempfile.mkdtemp(prefix=owned_prefix("sock"))
    path = os.path.join(folder, "driver.sock")
    listener = socket.socket(socket.AF_UNIX)
    try:
        listener.bind(path)  # fails on a path over ~107 bytes (a long $TMPDIR)
        listener.listen(64)
    except OSError:
        listener.close()
        shutil.rmtree(folder, ignore_errors=True)
        return None, None, None
    return folder, path, listener


class GradientServer(TaskServer):
    """Runs synchronous gradient exchanges with the tasks of a barrier stage."""

    def __init__(self, n_tasks, n_params, dtype, secret, bind_host="", advertise_host=None):
        super().__init__(n_tasks, secret, bind_host, advertise_host)
        self.n_params = n_params
        self.dtype = np.dtype(dtype)
        self.die_at_step = None  # fault injection: (step, task) that must die, once
        self.accumulator = np.zeros(n_params, dtype=self.dtype)
        self.correct = 0.0  # summed accuracy the tasks reported in the last exchange

    def connection(self, channel: Channel, hello: Header) -> TaskConnection:
        return TaskConnection(channel, hello, self.n_params, self.dtype)

    def run(self, kind: int, step: int, windows: np.ndarray, params: np.ndarray, version: int):
        """One synchronous exchange with every task.

        ``version`` names ``params`` (e.g. the number of updates applied); a task is sent the
        vector only when it holds an older one. Returns
        ``(loss_sum, grad_sum or None, n, max_compute_seconds)``; ``grad_sum`` is the server's
        accumulator (valid until the next call), and :attr:`correct` the summed accuracy the
        tasks reported (0 where their replicas report none). Raises :class:`TaskFailed`.
        """
        windows = np.ascontiguousarray(windows, dtype=np.int64)

        def one(conn: TaskConnection, into: np.ndarray) -> Header:
            fresh = conn.params_version != version
            die = kind == STEP and self.die_at_step == (step, conn.task) and not self.reconnects
            request = Header(
                kind, step, len(windows), params.size if fresh else 0,
                dtype=DTYPE_CODES[self.dtype], flags=FLAG_DIE if die else 0,
            )  # fmt: skip
            reply = conn.exchange(request, windows, params if fresh else None, into)
            conn.params_version = version
            return reply

        # The first task's gradient lands directly in the accumulator (saves a copy); the
        # others are added to it as they arrive, while later tasks are still sending.
        conns = list(self.tasks.values())
        targets = [self.accumulator] + [conn.grad for conn in conns[1:]]
        futures = [self.pool.submit(one, c, t) for c, t in zip(conns, targets, strict=True)]
        loss, n, seconds, correct = 0.0, 0, 0.0, 0.0
        failure = None
        replies = []
        for future in futures:
            try:
                replies.append(future.result())
            except (OSError, ConnectionError) as error:
                failure = failure or error
                replies.append(None)
        if failure is not None:
            self.drop_all()
            raise TaskFailed(str(failure))
        with_grad = [t for t, r in zip(targets, replies, strict=True) if kind == STEP and r.length]
        if with_grad and with_grad[0] is not self.accumulator:
            np.copyto(self.accumulator, with_grad[0])
        for grad in with_grad[1:]:
            np.add(self.accumulator, grad, out=self.accumulator)
        for reply in replies:
            loss += reply.loss
            n += reply.count
            seconds = max(seconds, reply.seconds)
            correct += reply.correct
        self.correct = correct
        return loss, (self.accumulator if with_grad else None), n, seconds

    def run_step(self, step: int, windows, params, version: int):
        return self.run(STEP, step, windows, params, version)

    def run_eval(self, windows, params, version: int):
        loss, _, n, _ = self.run(EVAL, -1, windows, params, version)
        return loss, n
