"""Driver <-> task throughput on one host: loopback TCP against a Unix socket.

A child process echoes frames back over a :class:`~sparknn.distributed.protocol.Channel`
(the same socket options as training); the parent times send + receive of one frame each
way. The transports alternate within each repeat, since the machine is shared and noisy.
Prints the median round trip and GB/s (both directions' bytes over the round trip time).

Run: ``PYTHONPATH=. python bench/transport.py [--mb 10] [--repeats 30]``
"""

import argparse
import os
import shutil
import socket
import statistics
import tempfile
import time

import numpy as np

from sparknn.distributed import Channel


def echo_pair(family):
    """``(parent channel, child pid)``: a forked child echoes every frame back until EOF."""
    if family == socket.AF_UNIX:
        path = os.path.join(tempfile.mkdtemp(prefix="sparknn-bench-"), "echo.sock")
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(path)
        address = path
    else:
        listener = socket.create_server(("127.0.0.1", 0))
        address = listener.getsockname()
    listener.listen(1)
    pid = os.fork()
    if pid == 0:
        sock = socket.socket(family)
        sock.connect(address)
        channel = Channel(sock)
        size = np.empty(1, np.int64)
        try:
            while True:
                channel.recv_into(size)
                frame = np.empty(int(size[0]), np.uint8)
                channel.recv_into(frame)
                channel.sock.sendall(memoryview(frame))
        except ConnectionError:
            os._exit(0)
    sock, _ = listener.accept()
    listener.close()
    if family == socket.AF_UNIX:
        shutil.rmtree(os.path.dirname(address))  # the connection outlives the path
    return Channel(sock), pid


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=10.0, help="frame size in MiB")
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    frame = np.ones(int(args.mb * 2**20), np.uint8)
    size = np.array([frame.size], np.int64)
    pairs = {"loopback TCP": echo_pair(socket.AF_INET), "Unix socket": echo_pair(socket.AF_UNIX)}
    times = {name: [] for name in pairs}
    for _ in range(args.repeats):
        for name, (channel, _) in pairs.items():
            started = time.perf_counter()
            channel.sock.sendall(memoryview(size).cast("B"))
            channel.sock.sendall(memoryview(frame))
            channel.recv_into(frame)
            times[name].append(time.perf_counter() - started)
    for name, (channel, pid) in pairs.items():
        channel.close()
        os.waitpid(pid, 0)
        median = statistics.median(times[name])
        gbps = 2 * frame.size / median / 1e9
        print(f"{name:>12}: {args.mb:g} MiB each way in {1000 * median:.1f} ms, {gbps:.2f} GB/s")
    tcp, unix = (statistics.median(times[name]) for name in pairs)
    print(f"Unix socket / loopback TCP throughput: {tcp / unix:.2f}x")


if __name__ == "__main__":
    main()
