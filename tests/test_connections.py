"""Task <-> driver connections: a Unix socket on the driver's host, TCP otherwise."""

import os
import socket
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
    folder = server.unix_folder
    assert os.stat(folder).st_mode & 0o777 == 0o700
    server.close()
    assert not os.path.exists(folder)
