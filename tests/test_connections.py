"""Task <-> driver connections: a Unix socket on the driver's host, TCP otherwise; clients that
never answer the handshake, or answer it wrongly, do not keep tasks out."""

import os
import socket
import tempfile
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest

from sparknn.distributed.protocol import (
    ANSWER_BYTES,
    HELLO,
    NONCE_BYTES,
    STEP,
    Header,
    new_secret,
    recv_exact,
)
from sparknn.distributed.server import TaskServer
from sparknn.distributed.worker import connect
from sparknn.errors import SparknnError


class _Server(TaskServer):
    def connection(self, channel, hello):
        return SimpleNamespace(channel=channel, task=hello.step, attempt=hello.count)


@pytest.fixture
def server():
    server = _Server(n_tasks=1, secret=new_secret(), bind_host="127.0.0.1")
    yield server
    server.close()


def _round_trip(server, channel, task=0):
    """A frame each way between the server's end and the task's end of ``channel``."""
    server.wait_for_tasks(lambda: None, timeout=10)
    driver_end = server.tasks[task].channel
    payload = np.arange(300_000, dtype=np.float32)  # more than one socket buffer's worth
    driver_end.send(Header(STEP, step=7), payload)
    header = channel.recv_header()
    received = np.empty_like(payload)
    channel.recv_into(received)
    channel.send(Header(STEP, step=8), received * 2)
    assert driver_end.recv_header().step == 8
    back = np.empty_like(payload)
    driver_end.recv_into(back)
    assert header.step == 7
    np.testing.assert_array_equal(back, payload * 2)


def test_a_task_on_the_driver_host_uses_the_unix_socket(server):
    if server.unix_path is None:
        pytest.skip("$TMPDIR is too long for a Unix socket path here (TCP is used instead)")
    channel = connect(server.address, server.secret, Header(HELLO, 0, 0))
    assert channel.sock.family == socket.AF_UNIX
    _round_trip(server, channel)


@pytest.mark.parametrize("unix_path", [None, "/nonexistent/sparknn-test/driver.sock"])
def test_a_task_without_the_unix_socket_uses_tcp(server, unix_path):
    channel = connect(("127.0.0.1", server.port, unix_path), server.secret, Header(HELLO, 0, 0))
    assert channel.sock.family in (socket.AF_INET, socket.AF_INET6)
    _round_trip(server, channel)


def test_the_unix_socket_still_needs_the_secret(server):
    connect(server.address, b"not the secret", Header(HELLO, 0, 0))
    with pytest.raises(SparknnError, match="0 of 1 training tasks connected"):
        server.wait_for_tasks(lambda: None, timeout=1)


def test_closing_the_server_removes_its_unix_socket():
    server = _Server(n_tasks=1, secret=new_secret())
    if server.unix_path is None:
        server.close()
        pytest.skip("$TMPDIR is too long for a Unix socket path here (TCP is used instead)")
    folder = server.unix_folder
    assert os.stat(folder).st_mode & 0o777 == 0o700
    server.close()
    assert not os.path.exists(folder)


class _PatientServer(_Server):
    """Gives handshakes so long that a connection it closes during a test was displaced, not
    timed out, and lets few wait, so that few connections fill it."""

    handshake_timeout = 600.0
    spare_handshakes = 4


def _idle(server, unix=False):
    """A connection to ``server`` that never answers its challenge."""
    if unix:
        sock = socket.socket(socket.AF_UNIX)
        sock.connect(server.unix_path)
    else:
        sock = socket.create_connection(("127.0.0.1", server.port))
    sock.settimeout(10)  # far below the server's handshake_timeout
    return sock


def _challenged(sock):
    """``sock`` once the server has accepted it and sent its challenge."""
    recv_exact(sock, memoryview(bytearray(NONCE_BYTES)))
    return sock


def _still_open(sock) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(1) != b""
    except BlockingIOError:
        return True
    finally:
        sock.settimeout(10)


def _closes(sock) -> bool:
    return sock.recv(1) == b""


def test_idle_connections_do_not_delay_a_task():
    """Connections that never answer, on both listeners and opened first: a task still passes
    the handshake (its connect gives up long before the server gives up on them) and the idle
    ones were not closed to make way for it."""
    server = _PatientServer(n_tasks=2, secret=new_secret(), bind_host="127.0.0.1")
    idle = [_idle(server, unix=i % 2 == 1) for i in range(server.spare_handshakes)]
    try:
        by_unix = connect(server.address, server.secret, Header(HELLO, 0, 0))
        by_tcp = connect(("127.0.0.1", server.port, None), server.secret, Header(HELLO, 1, 0))
        _round_trip(server, by_unix, task=0)
        _round_trip(server, by_tcp, task=1)
        assert all(_still_open(_challenged(sock)) for sock in idle)
    finally:
        server.close()
        for sock in idle:
            sock.close()


def test_at_most_n_tasks_plus_spare_connections_wait_and_the_oldest_makes_way():
    server = _PatientServer(n_tasks=1, secret=new_secret(), bind_host="127.0.0.1")
    bound = 1 + _PatientServer.spare_handshakes
    idle = [_challenged(_idle(server, unix=i % 2 == 1)) for i in range(bound + 2)]
    try:
        assert _closes(idle[0]) and _closes(idle[1])  # displaced, in order
        assert all(_still_open(sock) for sock in idle[2:])
        # A task arriving with the bound reached displaces the oldest waiting connection.
        channel = connect(server.address, server.secret, Header(HELLO, 0, 0))
        _round_trip(server, channel)
        assert _closes(idle[2])
        assert all(_still_open(sock) for sock in idle[3:])
    finally:
        server.close()
        for sock in idle:
            sock.close()


@pytest.mark.parametrize(
    "answer",
    [
        b"\xff" * ANSWER_BYTES,  # garbage
        Header(STEP, length=2**62).pack() + bytes(32),  # a huge frame, unsigned
        Header(HELLO).pack() + bytes(32),  # a HELLO with a wrong signature
    ],
    ids=["garbage", "huge-frame", "unsigned-hello"],
)
def test_a_wrong_answer_is_refused_and_a_task_still_connects(answer):
    server = _PatientServer(n_tasks=1, secret=new_secret(), bind_host="127.0.0.1")
    try:
        with _challenged(_idle(server)) as sock:
            sock.sendall(answer)
            assert _closes(sock)
        channel = connect(server.address, server.secret, Header(HELLO, 0, 0))
        _round_trip(server, channel)
    finally:
        server.close()


def test_close_ends_the_handshakes_in_progress_and_the_server_threads():
    before = set(threading.enumerate())
    server = _PatientServer(n_tasks=1, secret=new_secret(), bind_host="127.0.0.1")
    idle = [_challenged(_idle(server, unix=i % 2 == 1)) for i in range(3)]
    server.close()
    try:
        assert all(_closes(sock) for sock in idle)
        assert set(threading.enumerate()) <= before
    finally:
        for sock in idle:
            sock.close()


def test_a_temp_folder_too_long_for_a_unix_socket_leaves_tcp(tmp_path, monkeypatch):
    long_folder = tmp_path / ("x" * 120)
    long_folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(long_folder))
    server = _Server(n_tasks=1, secret=new_secret(), bind_host="127.0.0.1")
    try:
        assert server.unix_path is None
        channel = connect(server.address, server.secret, Header(HELLO, 0, 0))
        assert channel.sock.family in (socket.AF_INET, socket.AF_INET6)
        _round_trip(server, channel)
    finally:
        server.close()


def test_a_driver_that_cannot_be_reached_is_named_with_the_settings_to_fix():
    with socket.socket() as probe:  # a port nobody listens on: bound, never listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        with pytest.raises(SparknnError) as raised:
            connect(("127.0.0.1", port, None), new_secret(), Header(HELLO, 0, 0), timeout=1)
    message = str(raised.value)
    assert f"could not connect to the driver at 127.0.0.1:{port}" in message
    assert "spark.driver.host" in message and "spark.driver.bindAddress" in message


def test_the_server_listens_where_spark_says_the_driver_is(spark):
    from sparknn.distributed.sources import driver_address

    conf = spark.sparkContext.getConf()
    bind, advertise = driver_address(spark)
    assert advertise == conf.get("spark.driver.host")
    assert bind == conf.get("spark.driver.bindAddress", advertise)
    server = _Server(n_tasks=1, secret=new_secret(), bind_host=bind, advertise_host=advertise)
    try:
        channel = connect((advertise, server.port, None), server.secret, Header(HELLO, 0, 0))
        _round_trip(server, channel)
    finally:
        server.close()


def test_a_driver_address_that_is_not_this_machine_is_a_clear_error():
    expected = "cannot listen on 'no-such-host.invalid'.*spark.driver.host"
    with pytest.raises(SparknnError, match=expected):
        _Server(n_tasks=1, secret=new_secret(), bind_host="no-such-host.invalid")


def test_the_newest_attempt_of_each_task_is_kept_and_stragglers_are_refused():
    """Task attempt ids order stage attempts, and one attempt's ids are n_tasks apart at
    most: a connection shown older than a held one (same partition, or ids too far apart)
    is closed; after a failed exchange (drop_all) no id up to the failed attempt's largest
    gets in; tasks never let in are ended when the server closes."""
    server = _Server(n_tasks=2, secret=new_secret(), bind_host="127.0.0.1")
    ends = {}

    def hello(task, attempt):  # one at a time, in this order, into the server's queue
        queued = server.incoming.qsize()
        ends[attempt] = connect(server.address, server.secret, Header(HELLO, task, attempt))
        deadline = time.monotonic() + 10
        while server.incoming.qsize() == queued and time.monotonic() < deadline:
            time.sleep(0.01)

    def held():
        return {task: conn.attempt for task, conn in server.tasks.items()}

    try:
        hello(0, 10)
        hello(0, 12)  # partition 0 relaunched: attempt 10 is a straggler now
        hello(1, 13)  # 12's attempt-mate
        server.wait_for_tasks(lambda: None, timeout=10)
        assert held() == {0: 12, 1: 13} and server.floor == 10 and _closes(ends[10].sock)
        server.drop_all()  # an exchange broke: 12 and 13's attempt failed
        assert server.floor == 13 and _closes(ends[12].sock) and _closes(ends[13].sock)
        hello(1, 9)  # a straggler of an older attempt
        hello(0, 14)  # of an attempt that fails before its partition 1 connects ...
        hello(1, 17)  # ... as the next attempt's partition 1 shows: 17 - 14 >= 2 tasks
        hello(0, 16)
        hello(0, 18)  # still waiting in the queue when training ends
        server.wait_for_tasks(lambda: None, timeout=10)
        assert held() == {0: 16, 1: 17} and server.floor == 14
        assert _closes(ends[9].sock) and _closes(ends[14].sock)
    finally:
        server.close()
    assert _closes(ends[18].sock)
