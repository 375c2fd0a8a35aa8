"""The binary frames driver and executor tasks exchange (over TCP, or a Unix socket on one host).

Every message is a fixed 56-byte header, optionally followed by a window-index array (int64)
and a vector payload (the parameter or gradient vector, float32 or float64, raw bytes). No
pickle, no strings: the payload goes from a numpy buffer straight to ``sendall`` and comes
back with ``recv_into`` a preallocated buffer.

Authentication: the driver sends a random nonce; the task answers with
``HMAC-SHA256(secret, nonce + hello header)``. The per-job secret travels to executors inside
the Spark task closure, never over this socket. The driver reads the answers of many
connections at once (:mod:`sparknn.distributed.server`), so checking one is separate from
reading it.
"""

import hashlib
import hmac
import os
import socket
import struct
from dataclasses import dataclass

import numpy as np

MAGIC = b"SNN1"
# magic, kind, dtype code, flags, step, count, length, loss, seconds, correct
HEADER = struct.Struct("<4sBBHqqqddd")
NONCE_BYTES = 32
ANSWER_BYTES = HEADER.size + hashlib.sha256().digest_size  # a task's HELLO header and its HMAC
SOCKET_BUFFER = 8 << 20

# Message kinds. Driver -> task: STEP, EVAL, STOP. Task -> driver: HELLO, GRAD, LOSS.
HELLO, STEP, EVAL, STOP, GRAD, LOSS = 1, 2, 3, 4, 5, 6
# word2vec rounds (sparknn.word2vec.exchange): driver -> task ROUND, task -> driver ROWS.
ROUND, ROWS = 7, 8
DTYPE_CODES = {np.dtype(np.float32): 0, np.dtype(np.float64): 1}
CODE_DTYPES = {code: dtype for dtype, code in DTYPE_CODES.items()}
# Header flag: the task must exit abruptly on receipt (fault-injection tests only).
FLAG_DIE = 1


@dataclass
class Header:
    """One frame header. Field meaning by kind:

    * HELLO: step = task index, count = the task's attempt id (the tasks of a retried stage
      attempt have larger ids than any before them).
    * STEP/EVAL: count = number of window indices that follow, length = number of parameter
      values that follow (0 when the task's copy is already current).
    * GRAD: count = examples summed, length = gradient values that follow (0 when count is 0),
      loss = summed loss, seconds = compute time, correct = summed accuracy of the examples
      (0 when the replica reports none). LOSS: like GRAD without a payload.
    """

    kind: int
    step: int = 0
    count: int = 0
    length: int = 0
    loss: float = 0.0
    seconds: float = 0.0
    dtype: int = 0
    flags: int = 0
    correct: float = 0.0

    def pack(self) -> bytes:
        return HEADER.pack(
            MAGIC, self.kind, self.dtype, self.flags, self.step, self.count, self.length, self.loss,
            self.seconds, self.correct,
        )  # fmt: skip

    @classmethod
    def unpack(cls, raw) -> "Header":
        magic, kind, dtype, flags, step, count, length, loss, seconds, correct = HEADER.unpack(raw)
        if magic != MAGIC:
            raise ConnectionError(f"bad frame magic {magic!r}")
        return cls(kind, step, count, length, loss, seconds, dtype, flags, correct)


def tune(sock: socket.socket) -> socket.socket:
    """Small frames must not wait for Nagle (TCP); big ones want big kernel buffers."""
    if sock.family != socket.AF_UNIX:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_BUFFER)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SOCKET_BUFFER)
    return sock


def as_bytes(array: np.ndarray) -> memoryview:
    return memoryview(np.ascontiguousarray(array)).cast("B")


def recv_exact(sock: socket.socket, view: memoryview) -> None:
    """Fill ``view`` completely or raise ConnectionError."""
    view = view.cast("B") if view.format != "B" else view
    while len(view):
        got = sock.recv_into(view)
        if got == 0:
            raise ConnectionError("peer closed the connection")
        view = view[got:]


class Channel:
    """A framed, authenticated connection (either end)."""

    def __init__(self, sock: socket.socket):
        self.sock = tune(sock)
        self._header = bytearray(HEADER.size)

    def send(self, header: Header, *arrays) -> None:
        self.sock.sendall(header.pack())
        for array in arrays:
            if array is not None and array.size:
                self.sock.sendall(as_bytes(array))

    def recv_header(self) -> Header:
        recv_exact(self.sock, memoryview(self._header))
        return Header.unpack(self._header)

    def recv_into(self, array: np.ndarray) -> None:
        recv_exact(self.sock, memoryview(array).cast("B"))

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def new_secret() -> bytes:
    return os.urandom(32)


def sign(secret: bytes, nonce: bytes, hello: bytes) -> bytes:
    return hmac.new(secret, nonce + hello, hashlib.sha256).digest()


def client_handshake(channel: Channel, secret: bytes, hello: Header) -> None:
    nonce = bytearray(NONCE_BYTES)
    recv_exact(channel.sock, memoryview(nonce))
    packed = hello.pack()
    channel.sock.sendall(packed + sign(secret, bytes(nonce), packed))


def check_hello(secret: bytes, nonce: bytes, answer: bytes) -> Header:
    """The HELLO header of a task's ``answer`` (:data:`ANSWER_BYTES`) to ``nonce``; raises
    PermissionError unless it is signed with ``secret``."""
    packed, digest = answer[: HEADER.size], answer[HEADER.size :]
    if not hmac.compare_digest(digest, sign(secret, nonce, packed)):
        raise PermissionError("worker failed authentication")
    hello = Header.unpack(packed)
    if hello.kind != HELLO:
        raise PermissionError(f"expected HELLO, got message kind {hello.kind}")
    return hello
