"""What jobs write: outputs checked before training, written whole or not at all, with the
modes the umask asks for; temporary files removed at exit and swept after a SIGKILL."""

import importlib
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from sparknn.errors import SparknnError
from sparknn.files import check_output, staged_directory, sweep_stale
from sparknn.word2vec import formats
from sparknn.word2vec.formats import save_model
from sparknn.word2vec.vectors import load_vectors

REPO = Path(__file__).resolve().parents[1]
WORDS = ["king", "queen", "man"]


def run_python(code: str, tmpdir: Path, check=True) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "TMPDIR": str(tmpdir)}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert not check or done.returncode == 0, done.stderr
    return done


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def load_job(name):
    spec = importlib.util.spec_from_file_location(name, REPO / "jobs" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------ temporary artifacts


def test_a_sigkilled_drivers_zip_socket_folder_and_shared_model_are_swept(tmp_path):
    tmp, shm = tmp_path / "tmp", tmp_path / "shm"
    tmp.mkdir()
    shm.mkdir()
    # A driver that made all three, then was killed without a chance to remove them.
    run_python(
        f"""
import os, signal
import numpy as np
from sparknn.distributed.server import _unix_listener
from sparknn.spark.session import package_zip
from sparknn.word2vec import shared_model
shared_model.SHARED_MEMORY = {str(shm)!r}
package_zip()
_unix_listener()
shared_model.SharedModel(np.zeros((3, 2), np.float32), np.zeros((3, 2), np.float32))
os.kill(os.getpid(), signal.SIGKILL)
""",
        tmp,
        check=False,
    )
    left = sorted(p.name for p in [*tmp.iterdir(), *shm.iterdir()])
    assert [name.split("-")[1] for name in left] == ["sock", "w2v", "zip"], left

    # A running job's artifacts, and files sparknn did not name, stay.
    with subprocess.Popen([sys.executable, "-c", "input()"], stdin=subprocess.PIPE) as live:
        kept = [
            tmp / f"sparknn-zip-{live.pid}-abc.zip",
            shm / f"sparknn-w2v-{live.pid}-abc",
            tmp / "sparknn-bench-abc",
            tmp / "sparknn-x1y2z3.zip",
        ]
        for path in kept:
            path.mkdir() if path.suffix != ".zip" else path.write_bytes(b"")
        removed = sweep_stale([tmp, shm])
        live.communicate(b"\n")
    assert sorted(p.name for p in removed) == left
    assert sorted(p for p in [*tmp.iterdir(), *shm.iterdir()]) == sorted(kept)


def test_session_sweeps_at_start(spark, tmp_path, monkeypatch):
    from sparknn.spark.session import session

    stale = tmp_path / f"sparknn-sock-{dead_pid()}-abcd1234"
    stale.mkdir()
    (stale / "driver.sock").write_bytes(b"")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert session() is spark
    assert not stale.exists()


@pytest.mark.parametrize("ending", ["raise SystemExit(3)", "os.kill(os.getpid(), signal.SIGTERM)"])
def test_the_package_zip_is_made_once_and_removed_at_exit(tmp_path, ending):
    done = run_python(
        f"""
import os, signal, time
from sparknn.files import exit_on_sigterm
from sparknn.spark.session import package_zip
exit_on_sigterm()
path = package_zip()
assert package_zip() == path and os.path.isfile(path)
print(path, flush=True)
{ending}
time.sleep(30)
""",
        tmp_path,
        check=False,
    )
    assert done.returncode in (3, 128 + signal.SIGTERM), done.stderr
    assert Path(done.stdout.strip()).parent == tmp_path
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ output directories


def save(path, scale, **kwargs):
    vectors = np.arange(6, dtype=np.float32).reshape(3, 2) * scale
    save_model(path, WORDS, [3, 2, 1], vectors, {"scale": scale}, **kwargs)
    return vectors


def test_a_failure_mid_write_leaves_the_old_directory_whole(tmp_path, monkeypatch):
    out = tmp_path / "model"
    old = save(out, 1.0)

    def fail_half_way(path, words, vectors):
        Path(path).write_text("3 2\nking 0")
        raise OSError("disk full")

    monkeypatch.setattr(formats, "save_word2vec_text", fail_half_way)
    with pytest.raises(OSError, match="disk full"):
        save(out, 2.0, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # nothing left beside it
    assert sorted(p.name for p in out.iterdir()) == [
        "metadata.json", "vectors.npy", "vectors.txt", "vocab.tsv",
    ]  # fmt: skip
    for path in (out, out / "vectors.txt"):  # both load paths answer the old model
        np.testing.assert_allclose(load_vectors(path).vectors, old, rtol=1e-6)
    assert json.loads((out / "metadata.json").read_text())["scale"] == 1.0


def test_an_existing_directory_is_replaced_only_with_overwrite(tmp_path):
    out = tmp_path / "model"
    save(out, 1.0)
    (out / "stale.txt").write_text("from the old model")
    with pytest.raises(SparknnError, match="already exists; pass --overwrite"):
        save(out, 2.0)
    new = save(out, 2.0, overwrite=True)
    np.testing.assert_allclose(load_vectors(out).vectors, new)
    assert not (out / "stale.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_a_killed_writers_staged_directory_is_swept_by_the_next(tmp_path):
    out = tmp_path / "model"
    leftovers = [tmp_path / f".model.sparknn-{kind}-{dead_pid()}-x1" for kind in ("tmp", "old")]
    for path in leftovers:
        path.mkdir()
        (path / "vectors.npy").write_bytes(b"half")
    live = tmp_path / f".model.sparknn-tmp-{os.getpid()}-x1"  # this process: still writing
    live.mkdir()
    with staged_directory(out) as staging:
        (staging / "a.txt").write_text("a")
    assert sorted(tmp_path.iterdir()) == sorted([live, out])


@pytest.mark.parametrize("umask", [0o022, 0o027], ids=oct)
def test_outputs_of_every_job_get_the_umasks_modes(tmp_path, umask):
    from sparknn.charlm.model import build_charlm, save_charlm
    from sparknn.charlm.train import MetricsFile
    from sparknn.corpus.chars import CharVocab
    from sparknn.distributed.checkpoint import save_checkpoint

    previous = os.umask(umask)
    try:
        save(tmp_path / "word2vec", 1.0)
        model = build_charlm(4, hidden=4, embedding_dim=2)
        save_charlm(model, CharVocab.from_json(["a", "b", "c", "d"]), tmp_path / "charlm")
        save_checkpoint(tmp_path / "charlm" / "checkpoints", 4, model.params, {}, {})
        MetricsFile(tmp_path / "charlm" / "metrics.csv", None).close()
    finally:
        os.umask(previous)
    for path in [tmp_path / "word2vec", *tmp_path.rglob("*")]:
        expected = (0o777 if path.is_dir() else 0o666) & ~umask
        assert oct(path.stat().st_mode & 0o777) == oct(expected), path


# ------------------------------------------------------------------ checking outputs


@pytest.mark.parametrize(
    "output, inputs, message",
    [
        ("model", ["model"], "--output model is the input model"),
        ("model/nn", ["model"], "lies inside the input model"),
        (".", ["model"], "contains the input model"),
        ("out", ["books/*.txt"], None),
        ("books/out", ["books/*.txt"], None),
        ("books/out.txt", ["books/*.txt"], "matches the input books/*.txt"),
        ("books/a.txt/out", ["books/*.txt"], "lies inside the input .*books/a.txt"),
        ("books", ["books/*.txt"], "contains the input .*books/a.txt"),
        ("out", ["hdfs:///out"], None),
        ("file.txt", [], "is an existing file"),
        ("file.txt/out", [], "file.txt is a file, not a directory"),
        ("full", [], "full already exists; pass --overwrite to replace it"),
        ("empty", [], None),
        ("new/deeper", [], None),
    ],
)
def test_check_output(tmp_path, monkeypatch, output, inputs, message):
    monkeypatch.chdir(tmp_path)
    for folder in ("model", "books", "full", "empty"):
        Path(folder).mkdir()
    Path("full/vectors.npy").write_bytes(b"")
    Path("books/a.txt").mkdir()  # a folder of text files, read through the glob
    Path("file.txt").write_text("x")
    if message is None:
        assert check_output(output, inputs) == Path(output)
    else:
        with pytest.raises(SparknnError, match=message.replace("/*", r"/\*")):
            check_output(output, inputs)
    assert check_output("full", overwrite=True) == Path("full")


@pytest.fixture
def traversable_dir(tmp_path):
    """A folder every user can reach: root's tests check as another user, and pytest's
    temporary folders are root's alone."""
    if os.geteuid() != 0:
        yield tmp_path
        return
    folder = Path(tempfile.mkdtemp())
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder)


def test_an_output_in_a_folder_it_cannot_write_is_refused(traversable_dir):
    locked = traversable_dir / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # root may write anywhere: check as an unprivileged user
        try:
            os.close(read)
            if os.geteuid() == 0:
                os.setgid(65534)
                os.setuid(65534)
            try:
                check_output(locked / "out")
                message = "accepted"
            except SparknnError as error:
                message = str(error)
            os.write(write, message.encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        message = pipe.read()
    os.waitpid(child, 0)
    assert message == f"--output {locked / 'out'}: cannot write in {locked} (Permission denied)"


# ------------------------------------------------------------------ the jobs refuse bad outputs


@pytest.fixture
def no_spark(monkeypatch):
    """Any start of Spark fails the test: outputs are checked before."""

    def fail(*args, **kwargs):
        raise AssertionError("Spark was started before the output was checked")

    monkeypatch.setattr(importlib.import_module("sparknn.spark.session"), "session", fail)


def one_line_error(capsys, job: str) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{job}: error: "), captured.err
    return lines[0]


def test_neighbors_job_refuses_to_write_over_its_model(tmp_path, no_spark, capsys):
    model = tmp_path / "model"
    save(model, 1.0)
    job = load_job("neighbors")
    assert job.main([str(model), "--output", str(model), "--overwrite"]) == 2
    assert "is the input" in one_line_error(capsys, "neighbors")
    assert job.main([str(model), "--output", str(model / "nn")]) == 2
    assert "lies inside the input" in one_line_error(capsys, "neighbors")
    assert load_vectors(model).words == WORDS
    (tmp_path / "nn").mkdir()
    (tmp_path / "nn" / "part-0.parquet").write_bytes(b"")
    assert job.main([str(model), "--output", str(tmp_path / "nn")]) == 2
    assert "pass --overwrite" in one_line_error(capsys, "neighbors")


def test_word2vec_job_checks_its_output_before_training(tmp_path, no_spark, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("a b c\n")
    (tmp_path / "file").write_text("x")
    save(tmp_path / "old", 1.0)
    job = load_job("train_word2vec")
    for output, message in [
        ("file", "is an existing file"),
        ("old", "already exists; pass --overwrite"),
        ("corpus.txt", "is the input"),
        ("file/out", "is a file, not a directory"),
    ]:
        assert job.main(["--corpus", str(corpus), "--output", str(tmp_path / output)]) == 2
        assert message in one_line_error(capsys, "train_word2vec")


def test_charlm_job_checks_its_output_before_training(tmp_path, no_spark, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("some text\n")
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "model.npz").write_bytes(b"")
    (tmp_path / "file").write_text("x")
    job = load_job("train_charlm")
    for flags, message in [
        (["--output", str(tmp_path / "old")], "already exists; pass --overwrite"),
        (["--output", str(tmp_path / "file"), "--overwrite"], "is an existing file"),
        (["--output", str(tmp_path)], "contains the input"),
        (["--output", str(tmp_path / "old"), "--resume", "--overwrite"], "not both"),
    ]:
        assert job.main(["--corpus", str(corpus), *flags]) == 2
        assert message in one_line_error(capsys, "train_charlm")
