"""Synchronous data-parallel SGD on local-cluster: partition-count independence, equality with
the single-process path, and recovery from a task that dies mid-training, with a flood of idle
connections against the driver while Spark relaunches it."""

import selectors
import socket
import threading
from types import SimpleNamespace

import numpy as np
import pytest

from sparknn.charlm.model import CharLMReplica, build_charlm
from sparknn.corpus import read_text
from sparknn.corpus.chars import build_corpus
from sparknn.distributed import BatchSchedule, LocalGradients, SparkGradients
from sparknn.distributed.trainer import fit
from sparknn.testing import task_dies

STEPS = 50
FLOOD = 50  # idle connections held open against the driver during the relaunch


class IdleFlood:
    """``count`` connections to a task server's listeners at ``address`` (TCP and Unix socket
    by turns) that never answer its challenge, from the first task failure ``log``ged by the
    stage; each one the server closes is opened again, until ``stop()``."""

    def __init__(self, count):
        self.address = None
        self.opened = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(count,), daemon=True)

    def log(self, message):
        print(message)
        if self._thread.ident is None:  # not started yet
            self._thread.start()

    def _open(self, selector, index):
        host, port, unix_path = self.address
        try:
            if index % 2 and unix_path:
                sock = socket.socket(socket.AF_UNIX)
                sock.connect(unix_path)
            else:
                sock = socket.create_connection((host, port))
        except OSError:  # the server has closed
            return
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ, index)
        self.opened += 1

    def _run(self, count):
        with selectors.DefaultSelector() as selector:
            for index in range(count):
                self._open(selector, index)
            while not self._stop.is_set():
                for key, _ in selector.select(timeout=0.2):
                    try:
                        closed = key.fileobj.recv(64) == b""  # else: the challenge, ignored
                    except BlockingIOError:
                        continue
                    except OSError:
                        closed = True
                    if closed:
                        selector.unregister(key.fileobj)
                        key.fileobj.close()
                        self._open(selector, key.data)
            for key in list(selector.get_map().values()):
                key.fileobj.close()

    def stop(self):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


def tiny_model(vocab_size):
    return build_charlm(vocab_size, hidden=12, embedding_dim=6, seed=11, dtype="float64")


@pytest.fixture(scope="module")
def runs(spark, dubliners_path, tmp_path_factory):
    text = dubliners_path.read_text(encoding="utf-8")[:20000]
    path = tmp_path_factory.mktemp("dist") / "text.txt"
    path.write_text(text, encoding="utf-8")
    lines = read_text(spark, str(path))
    results = {}
    for partitions in (1, 2, 4):
        corpus = build_corpus(lines, seq_len=16, partitions=partitions, tasks=min(partitions, 2))
        with corpus:  # leaving it unpersists the shards
            train_on(spark, corpus, partitions, results)
        results[f"{partitions}/corpus"] = corpus
    return results


def train_on(spark, corpus, partitions, results):
    """The tiny char-LM trained on Spark over ``corpus`` (at 2 partitions also with a task
    dying at step 7; at 1 partition also in one process), into ``results``."""
    schedule = BatchSchedule(corpus.train_windows, batch_size=24, seed=7)
    faults = [None, 7] if partitions == 2 else [None]  # 7: a task dies at step 7
    for fail_at_step in faults:
        model = tiny_model(len(corpus.vocab))
        results.setdefault("initial", model.params.copy())
        replica = CharLMReplica.factory(model.get_config(), "numpy")
        flood = IdleFlood(FLOOD)
        with (
            task_dies(at_step=fail_at_step),
            SparkGradients(
                spark, corpus.shards, replica, model.params.size, model.dtype, log=flood.log
            ) as source,
        ):
            flood.address = source.server.address
            try:
                fit(model, source, schedule, STEPS)
            finally:
                flood.stop()
        key = partitions if fail_at_step is None else "fault"
        results[key] = model.params.copy()
        results[f"{key}/source"] = source
        results[f"{key}/flood"] = flood
    if partitions == 1:  # the single-process reference over the same batches
        model = tiny_model(len(corpus.vocab))
        local = CharLMReplica(model, corpus.shards.collect(), per_shard=False)
        with LocalGradients(local) as source:
            fit(model, source, schedule, STEPS)
        results["local"] = model.params.copy()


def test_leaving_with_stops_the_stage_and_unpersists_the_corpus(runs):
    for key in (1, 2, 4, "fault"):
        assert not runs[f"{key}/source"].stage._job.is_alive(), key
    for partitions in (1, 2, 4):
        assert not runs[f"{partitions}/corpus"].shards.is_cached, partitions


def test_training_moves_the_weights(runs):
    assert np.max(np.abs(runs[1] - runs["initial"])) > 1e-2


@pytest.mark.parametrize("partitions", [2, 4])
def test_same_weights_for_any_partition_count(runs, partitions):
    np.testing.assert_allclose(runs[partitions], runs[1], rtol=1e-4, atol=1e-9)


def test_spark_run_equals_single_process_run(runs):
    np.testing.assert_allclose(runs[1], runs["local"], rtol=1e-4, atol=1e-9)


def test_task_failure_is_retried_and_changes_nothing(runs):
    """A task dies at step 7; while Spark relaunches the stage, idle connections flood the
    driver's listeners (reopened as the server drops them) until training ends."""
    source = runs["fault/source"]
    assert source.failures == 1  # the injected exit happened and was noticed
    assert runs["fault/flood"].opened >= FLOOD
    # Every report is from the relaunched attempt, whose tasks the driver let in: their
    # attempt ids are above every id of the failed attempt's tasks.
    assert min(report["task_attempt"] for report in source.reports) > source.server.floor >= 0
    assert all(report["steps"] == STEPS - 7 for report in source.reports)
    np.testing.assert_allclose(runs["fault"], runs[2], rtol=1e-4, atol=1e-9)


def test_a_diverging_run_stops_and_keeps_its_last_good_checkpoint(tmp_path):
    """A loss that explodes (finite, a million times the first) stops the loop before the
    update, naming the step; the checkpoint of the bad parameters is never written."""
    import sparknn
    from sparknn.distributed.checkpoint import checkpoints, load_checkpoint
    from sparknn.errors import SparknnError
    from sparknn.nn import layers, optimizers

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 3)), rng.normal(size=(64, 1))
    model = sparknn.Sequential([layers.Dense(1, input_dim=3)], seed=0)
    lr = optimizers.PiecewiseConstantDecay(boundaries=[2], values=[0.01, 1e10])
    model.compile("mse", optimizers.SGD(lr))  # the 4th update is the first with lr 1e10

    class Replica:
        params = model.params

        def gradient(self, windows):
            return model.loss_and_gradient(x[windows], y[windows])

    good = {}

    def keep(stats):
        good[stats.step] = model.params.copy()

    schedule = BatchSchedule(np.arange(64), batch_size=16, seed=0)
    with pytest.raises(SparknnError, match=r"^loss became \S+ at step 5: training diverged"):
        fit(
            model, LocalGradients(Replica()), schedule, 20, on_step=keep,
            checkpoint_dir=tmp_path, checkpoint_every=2,
        )  # fmt: skip
    assert np.isfinite(good[4]).all() and np.abs(good[4]).max() > 1e6  # finite, exploded
    assert [path.name for path in checkpoints(tmp_path)] == ["step-00000002.npz"]
    step, params, _, _ = load_checkpoint(checkpoints(tmp_path)[0])
    assert step == 2
    np.testing.assert_array_equal(params, good[2])


def test_a_checkpoint_in_an_unsupported_zip_method_is_one_error_naming_it(tmp_path):
    """Damage that zipfile reports as NotImplementedError (a compression method it lacks) is
    refused like a truncated checkpoint, with the same one line as a damaged model file."""
    from sparknn.distributed.checkpoint import load_checkpoint, save_checkpoint
    from sparknn.errors import SparknnError

    save_checkpoint(tmp_path, 3, np.zeros(4), {}, {})
    path = tmp_path / "step-00000003.npz"
    data = bytearray(path.read_bytes())
    entry = data.find(b"PK\x01\x02")  # the central directory names each member's method
    data[entry + 10 : entry + 12] = (99).to_bytes(2, "little")
    path.write_bytes(data)
    with pytest.raises(SparknnError, match=f"^cannot read checkpoint {path}: .*not supported"):
        load_checkpoint(path)


@pytest.mark.parametrize("in_block", [None, KeyboardInterrupt, ValueError])
def test_leaving_a_failed_stage_raises_what_left_the_block(in_block):
    """The stage's own error is raised only when the block ended normally: it must not
    replace an exception leaving the block (a Ctrl-C that cancelled the job, say)."""
    from sparknn.distributed.sources import BarrierStage
    from sparknn.errors import SparknnError

    def job_fails():
        raise RuntimeError("SparkContext was shut down")

    ignore = lambda *args: None  # noqa: E731
    spark = SimpleNamespace(sparkContext=SimpleNamespace(setJobGroup=ignore, cancelJobGroup=ignore))
    shards, server = SimpleNamespace(barrier=job_fails), SimpleNamespace(close=ignore)
    with pytest.raises(in_block or SparknnError) as raised:
        with BarrierStage(spark, shards, server, None, "a stage whose job fails") as stage:
            stage._job.join()
            if in_block is not None:
                raise in_block("from the block")
    if in_block is None:
        assert "stage failed: SparkContext was shut down" in str(raised.value)


def test_leaving_word2vecs_failed_stage_raises_what_left_the_block():
    """The same for word2vec's rounds, which close the same kind of stage."""
    from sparknn.distributed.sources import BarrierStage
    from sparknn.word2vec.exchange import SparkRounds

    def job_fails():
        raise RuntimeError("SparkContext was shut down")

    ignore = lambda *args: None  # noqa: E731
    spark = SimpleNamespace(sparkContext=SimpleNamespace(setJobGroup=ignore, cancelJobGroup=ignore))
    shards, server = SimpleNamespace(barrier=job_fails), SimpleNamespace(close=ignore)
    rounds = SparkRounds.__new__(SparkRounds)  # its stage only: no Spark, no server
    rounds.stage = BarrierStage(spark, shards, server, None, "a stage whose job fails")
    with pytest.raises(ValueError, match="from the block"):
        with rounds:
            rounds.stage._job.join()
            raise ValueError("from the block")
