"""word2vec rounds on Spark: one long-lived barrier stage, row exchanges with the driver.

Each barrier task holds one or more partitions (a :class:`~sparknn.word2vec.train.PartitionTrainer`
each: the encoded tokens and the partition's own copy of both matrices) for the whole run, so
the corpus and the model cross the network once, not every round. A round is one exchange:

* driver -> task, ``ROUND``: ``int64[4]`` (epoch, round index, n0, n1), ``float64[2]`` (the
  fraction of each partition to train), then the rows merged last round and their new
  values: ``int32[n0]``, ``float32[n0, d]`` for syn0, the same for syn1neg. A task that
  connected after training started (a relaunched stage, whose replicas are new) is sent
  every row; changes the lost replicas had not sent yet are lost with them.
* task -> driver, one ``ROWS`` frame per partition it holds (``count`` = frames still to
  come): ``int64[4]`` (n0, n1, pairs, words), ``float64[3]`` (loss, alpha, seconds), then
  the rows it sends (those it changed; see "Deferred rows" in train.py), their deltas and
  update counts, for syn0 then syn1neg.

The driver merges the rows (:func:`~sparknn.word2vec.train.merge_rows`) and sends the merged
rows with the next round. Frames are raw numpy buffers after the fixed header, never pickle.
The stage, its retries and authentication are the char-LM trainer's
(:mod:`sparknn.distributed`).
"""

import os

import numpy as np

from sparknn.distributed.protocol import FLAG_DIE, ROUND, ROWS, STOP, Channel, Header
from sparknn.distributed.server import TaskFailed, TaskServer


def send_round(channel, epoch, round_index, start, stop, update, flags=0) -> None:
    rows0, values0, rows1, values1 = update
    meta = np.array([epoch, round_index, len(rows0), len(rows1)], dtype=np.int64)
    fractions = np.array([start, stop], dtype=np.float64)
    channel.send(
        Header(ROUND, flags=flags), meta, fractions, _i32(rows0), _f32(values0), _i32(rows1),
        _f32(values1),
    )  # fmt: skip


def send_result(channel, result, remaining: int) -> None:
    meta = np.array([len(result.rows0), len(result.rows1), result.pairs, result.words], np.int64)
    stats = np.array([result.loss, result.alpha, result.seconds], dtype=np.float64)
    channel.send(
        Header(ROWS, step=result.partition, count=remaining), meta, stats,
        _i32(result.rows0), _f32(result.deltas0), _i32(result.counts0),
        _i32(result.rows1), _f32(result.deltas1), _i32(result.counts1),
    )  # fmt: skip


def recv_result(channel, header, dim: int):
    from sparknn.word2vec.train import RoundResult

    meta, stats = _recv(channel, np.int64, 4), _recv(channel, np.float64, 3)
    n0, n1, pairs, words = (int(x) for x in meta)
    rows0, deltas0, counts0 = (
        _recv(channel, np.int32, n0), _recv(channel, np.float32, (n0, dim)),
        _recv(channel, np.int32, n0),
    )  # fmt: skip
    rows1, deltas1, counts1 = (
        _recv(channel, np.int32, n1), _recv(channel, np.float32, (n1, dim)),
        _recv(channel, np.int32, n1),
    )  # fmt: skip
    loss, alpha, seconds = (float(x) for x in stats)
    return RoundResult(
        header.step, rows0, deltas0, counts0, rows1, deltas1, counts1, loss, pairs, words, alpha,
        seconds,
    )  # fmt: skip


def serve_rounds(channel: Channel, trainers) -> dict:
    """The task side: answer ROUND requests for the partitions ``trainers`` hold, until STOP."""
    from sparknn.word2vec.train import keep_freed_memory

    keep_freed_memory()
    dim = trainers[0].syn0.shape[1] if trainers else 0
    rounds, compute_seconds = 0, 0.0
    while True:
        request = channel.recv_header()
        if request.kind == STOP:
            break
        if request.kind != ROUND:
            raise ConnectionError(f"unexpected message kind {request.kind}")
        epoch, round_index, n0, n1 = (int(x) for x in _recv(channel, np.int64, 4))
        start, stop = (float(x) for x in _recv(channel, np.float64, 2))
        update = (
            _recv(channel, np.int32, n0), _recv(channel, np.float32, (n0, dim)),
            _recv(channel, np.int32, n1), _recv(channel, np.float32, (n1, dim)),
        )  # fmt: skip
        if request.flags & FLAG_DIE:
            os._exit(17)  # fault injection (tests): this Python worker dies mid-training
        for index, trainer in enumerate(trainers):
            trainer.apply(*update)
            result = trainer.train(epoch, round_index, start, stop)
            compute_seconds += result.seconds
            send_result(channel, result, remaining=len(trainers) - 1 - index)
        rounds += 1
    return {"rounds": rounds, "compute_seconds": compute_seconds}


class RoundServer(TaskServer):
    """The driver side: one ROUND exchange with every connected task per round."""

    def __init__(self, n_tasks, dim, secret, bind_host="", advertise_host=None):
        super().__init__(n_tasks, secret, bind_host, advertise_host)
        self.dim = dim
        self.rounds_done = 0
        self.die_at_round = None  # fault injection: (round, task) that must die, once

    def connection(self, channel, hello):
        return _RoundConnection(channel, hello, synced=self.rounds_done == 0)

    def run_round(self, epoch, round_index, start, stop, update, model):
        if all(conn.synced for conn in self.tasks.values()):
            full = None
        else:  # a relaunched task is sent every row's value
            syn0, syn1neg = model
            everything = np.arange(len(syn0), dtype=np.int32)
            full = (everything, syn0, everything, syn1neg)

        def one(conn):
            die = self.die_at_round == (self.rounds_done, conn.task) and not self.reconnects
            send_round(
                conn.channel, epoch, round_index, start, stop, update if conn.synced else full,
                FLAG_DIE if die else 0,
            )  # fmt: skip
            results = []
            while True:
                header = conn.channel.recv_header()
                if header.kind != ROWS:
                    raise ConnectionError(f"expected ROWS, got message kind {header.kind}")
                results.append(recv_result(conn.channel, header, self.dim))
                if header.count == 0:
                    return results

        futures = [self.pool.submit(one, conn) for conn in self.tasks.values()]
        results, failure = [], None
        for future in futures:
            try:
                results.extend(future.result())
            except (OSError, ConnectionError) as error:
                failure = failure or error
        if failure is not None:
            self.drop_all()
            raise TaskFailed(str(failure))
        for conn in self.tasks.values():
            conn.synced = True
        self.rounds_done += 1
        return sorted(results, key=lambda result: result.partition)


class SparkRounds:
    """The round source of :func:`~sparknn.word2vec.train._run_rounds` on a barrier stage."""

    def __init__(self, spark, shards, make_trainers, dim, connect_timeout=300.0, log=print):
        from sparknn.distributed.protocol import new_secret
        from sparknn.distributed.sources import BarrierStage, driver_address
        from sparknn.distributed.worker import barrier_task

        bind, advertise = driver_address(spark)
        self.server = RoundServer(
            shards.getNumPartitions(), dim, new_secret(), bind_host=bind, advertise_host=advertise
        )
        task = barrier_task(self.server.address, self.server.secret, make_trainers, serve_rounds)
        self.stage = BarrierStage(
            spark, shards, self.server, task, "sparknn word2vec rounds (barrier stage)",
            connect_timeout, log,
        )  # fmt: skip

    def run_round(self, epoch, round_index, start, stop, update, model):
        return self.stage.retrying(
            lambda: self.server.run_round(epoch, round_index, start, stop, update, model)
        )

    def close(self):
        self.stage.close()


class _RoundConnection:
    def __init__(self, channel, hello, synced: bool):
        self.channel, self.task, self.generation = channel, hello.step, hello.count
        self.synced = synced  # holds the driver's model as of the last round


def _recv(channel, dtype, shape):
    array = np.empty(shape, dtype=dtype)
    if array.size:
        channel.recv_into(array)
    return array


def _i32(array):
    return np.ascontiguousarray(array, dtype=np.int32)


def _f32(array):
    return np.ascontiguousarray(array, dtype=np.float32)
