"""Task <-> driver connections: a Unix socket on the driver's host, TCP otherwise."""

import os
import socket
import tempfile
from types import SimpleNamespace

import numpy as np
import pytest

from sparknn.distributed.protocol import HELLO, STEP, Header, new_secret
from sparknn.distributed.server import TaskServer
from sparknn.distributed.worker import connect
from sparknn.errors import SparknnError


class _Server(TaskServer):
    def connection(self, channel, hello):
        return SimpleNamespace(channel=channel, task=hello.step, generation=hello.count)


@pytest.fixture
def server():
    server = _Server(n_tasks=1, secret=new_secret(), bind_host="127.0.0.1")
    yield server
    server.close()


def _round_trip(server, channel):
    """A frame each way between the server's end and the task's end of ``channel``."""
    server.wait_for_tasks(lambda: None, timeout=10)
    driver_end = server.tasks[0].channel
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
