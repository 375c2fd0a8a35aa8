"""Bad input to every CLI and job: one line ``...: error: ...`` naming the problem, exit
status 2, no traceback, and before any training (the jobs' checks before Spark starts)."""

import importlib.util
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sparknn.charlm.model import build_charlm, save_charlm
from sparknn.cli import main as cli_main
from sparknn.corpus.chars import CharVocab, build_corpus
from sparknn.corpus.reader import read_text
from sparknn.errors import SparknnError
from sparknn.nn.model import load
from sparknn.word2vec.formats import save_model, save_word2vec_binary, save_word2vec_text
from sparknn.word2vec.vectors import load_vectors

REPO = Path(__file__).resolve().parents[1]
WORDS = ["king", "queen", "man", "woman"]
VECTORS = np.arange(12, dtype=np.float32).reshape(4, 3) / 5 + 0.1
# The start of an ELF executable (as /bin/ls): a binary file given as a corpus.
EXECUTABLE = b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 8


def assert_one_line_error(code, stderr, *expected):
    assert code == 2, stderr
    assert "Traceback" not in stderr
    assert stderr.count("\n") == 1 and stderr.endswith("\n"), stderr
    assert "error: " in stderr
    for text in expected:
        assert text in stderr, stderr


def run_cli(argv, capsys):
    """``sparknn ARGV`` in this process: (exit status, stderr)."""
    try:
        code = cli_main(argv)
    except SystemExit as exit:  # argparse's errors
        code = exit.code
    return code, capsys.readouterr().err


def run_job(script, *args):
    """``python jobs/SCRIPT ARGS`` as a user runs it: (exit status, stderr)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, str(REPO / "jobs" / script), *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode, done.stderr


def load_job(name):
    spec = importlib.util.spec_from_file_location(name, REPO / "jobs" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def charlm_dir(tmp_path_factory):
    vocab = CharVocab.from_counts({c: 1 for c in "abc de"})
    directory = tmp_path_factory.mktemp("charlm")
    save_charlm(build_charlm(len(vocab), hidden=4, embedding_dim=3), vocab, directory)
    return directory


@pytest.fixture(scope="module")
def vectors_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("vectors") / "v.txt"
    save_word2vec_text(path, WORDS, VECTORS)
    return path


# ------------------------------------------------------------------ job configs


@pytest.mark.parametrize(
    "script, toml, expected",
    [
        ("train_word2vec.py", 'vector_size = "32"', 'vector_size must be an integer, got "32"'),
        ("train_word2vec.py", "hogwild = 1", "hogwild must be a boolean, got 1"),
        ("train_word2vec.py", "window = 2.5", "window must be an integer, got 2.5"),
        ("train_word2vec.py", "merge_eta = 1.5", "merge_eta must be in (0, 1), got 1.5"),
        ("train_charlm.py", "epochs = true", "epochs must be an integer, got true"),
        ("train_charlm.py", "lr = nan", "lr must be a finite number > 0"),
        ("train_charlm.py", "seq_len = 0", "seq_len must be >= 1, got 0"),
        ("train_charlm.py", "log_every = 0", "log_every must be >= 1, got 0"),
        ("train_charlm.py", 'dtype = "float16"', "dtype must be one of float32, float64"),
    ],
)
def test_config_values_are_checked_against_the_defaults_types_and_rules(
    tmp_path, script, toml, expected
):
    config = tmp_path / "job.toml"
    config.write_text(toml + "\n")
    # The corpus does not exist: the config is refused first, before Spark starts (no log).
    args = ["--config", config, "--corpus", tmp_path / "missing.txt", "--output", tmp_path / "o"]
    code, stderr = run_job(script, *args)
    assert_one_line_error(code, stderr, str(config), expected)


@pytest.mark.parametrize(
    "script, flags, expected",
    [
        ("train_word2vec.py", ["--vector-size", "0"], "--vector-size: must be >= 1, got '0'"),
        ("train_word2vec.py", ["--alpha", "nan"], "--alpha: must be a finite number > 0"),
        ("train_word2vec.py", ["--epochs", "x"], "--epochs: expected an integer, got 'x'"),
        ("train_charlm.py", ["--log-every", "0"], "--log-every: must be >= 1, got '0'"),
        ("train_charlm.py", ["--backend", "cuda"], "--backend: must be one of numpy, opencl"),
        ("neighbors.py", ["model", "--partitions", "0"], "--partitions: must be >= 1, got '0'"),
    ],
)
def test_job_flags_are_range_checked(tmp_path, script, flags, expected):
    corpus = [] if script == "neighbors.py" else ["--corpus", tmp_path / "missing.txt"]
    code, stderr = run_job(script, *corpus, "--output", tmp_path / "o", *flags)
    assert_one_line_error(code, stderr, expected)


def test_a_float_setting_takes_an_integer_from_toml(tmp_path):
    config = tmp_path / "job.toml"
    config.write_text("lr = 1\nclipnorm = 0\n")
    resolved = load_job("train_charlm").parse_config(["--config", str(config)])
    assert (resolved.lr, resolved.clipnorm) == (1.0, 0.0)
    assert isinstance(resolved.lr, float) and isinstance(resolved.clipnorm, float)


# ------------------------------------------------------------------ sparknn CLIs


@pytest.mark.parametrize(
    "command, expected",
    [
        ("generate {m} --temperature nan", "--temperature: must be a finite number > 0, got 'nan'"),
        ("generate {m} --temperature inf", "--temperature: must be a finite number > 0, got 'inf'"),
        ("generate {m} --length -5", "--length: must be >= 1, got '-5'"),
        ("generate {m} --length 0", "--length: must be >= 1, got '0'"),
        ("generate {m} --length ten", "--length: expected an integer, got 'ten'"),
        ("generate {m} --seed -1", "--seed: must be >= 0, got '-1'"),
        ("neighbors {v} king --topn 0", "--topn: must be >= 1, got '0'"),
        ("analogy {v} man king woman --topn -1", "--topn: must be >= 1, got '-1'"),
        ("evaluate {v} --pairs p --restrict-vocab -3", "--restrict-vocab: must be >= 0, got '-3'"),
        # Refused while parsing: a bad value must not get as far as starting daemons.
        ("cluster start --workers 0", "--workers: must be >= 1, got '0'"),
        ("cluster start --master-port 0", "--master-port: must be a port number, 1-65535, got '0'"),
        ("cluster start --webui-port 65536", "--webui-port: must be a port number, 1-65535"),
        ("cluster start --timeout nan", "--timeout: must be a finite number > 0, got 'nan'"),
    ],
)
def test_cli_commands_check_their_numbers(charlm_dir, vectors_file, capsys, command, expected):
    argv = [arg.format(m=charlm_dir, v=vectors_file) for arg in command.split()]
    code, stderr = run_cli(argv, capsys)
    assert_one_line_error(code, stderr, "error: argument " + expected)
    assert stderr.startswith(f"sparknn {argv[0]}"), stderr


def test_truncated_model_is_an_error_naming_the_file(charlm_dir, tmp_path, capsys):
    data = (charlm_dir / "model.npz").read_bytes()
    (tmp_path / "vocab.json").write_bytes((charlm_dir / "vocab.json").read_bytes())
    model = tmp_path / "model.npz"
    model.write_bytes(data[: len(data) // 2])
    code, stderr = run_cli(["generate", str(tmp_path)], capsys)
    assert_one_line_error(code, stderr, f"{model} is not a sparknn model file")
    for cut in range(0, len(data), max(1, len(data) // 97)):  # wherever the file ends
        model.write_bytes(data[:cut])
        with pytest.raises(SparknnError, match="truncated or damaged"):
            load(model)


def test_vector_headers_larger_than_the_file_are_refused_before_allocating(tmp_path, capsys):
    # 10**14 vectors of 3 floats would be 1.2 PB: more than any address space.
    text = tmp_path / "huge.txt"
    text.write_bytes(b"100000000000000 3\nking 1 2 3\n")
    binary = tmp_path / "huge.bin"
    binary.write_bytes(b"100000000000000 3\nking " + np.ones(3, "<f4").tobytes())
    for path in (text, binary):
        code, stderr = run_cli(["neighbors", str(path), "king"], capsys)
        assert_one_line_error(code, stderr, str(path), "header declares 100,000,000,000,000")
    wide = tmp_path / "wide.txt"
    wide.write_bytes(b"1 99999999999999\nking 1\n")
    with pytest.raises(SparknnError, match="header declares 1 vectors of 99,999,999,999,999"):
        load_vectors(wide)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("form", ["text", "binary", "directory"])
def test_nan_or_infinity_in_vectors_names_the_word(tmp_path, capsys, bad, form):
    vectors = VECTORS.copy()
    vectors[2, 1] = bad
    path = {"text": tmp_path / "v.txt", "binary": tmp_path / "v.bin", "directory": tmp_path}[form]
    if form == "text":
        save_word2vec_text(path, WORDS, vectors)
    elif form == "binary":
        save_word2vec_binary(path, WORDS, vectors)
    else:
        save_model(path, WORDS, [4, 3, 2, 1], vectors, {})
    code, stderr = run_cli(["neighbors", str(path), "king"], capsys)
    assert_one_line_error(code, stderr, "the vector of 'man' (vector 3 of 4) holds NaN or inf")


# ------------------------------------------------------------------ corpora that are not text


def reference_first_non_text(data: bytes):
    found = []
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        found.append((error.start, "invalid UTF-8"))
    for what, pattern in (("U+FFFD", "\ufffd".encode()), ("NUL byte", b"\0")):
        if pattern in data:
            found.append((data.index(pattern), what))
    return min(found) if found else None


def test_first_non_text_finds_the_first_bad_byte_whatever_the_chunks():
    from sparknn.corpus.chars import first_non_text

    rng = np.random.default_rng(0)
    text = "Dear café, ½ € 𝄞 and plain words. ".encode() * 40
    faults = [b"\xff", b"\0", "\ufffd".encode(), b"\xe2\x82", b"\xf0\x9d", b"\xc3("]
    for _ in range(300):
        data = bytearray(text)
        for _ in range(rng.integers(0, 3)):
            at = int(rng.integers(0, len(data)))
            data[at:at] = faults[rng.integers(len(faults))]
        data = bytes(data)
        for chunk_bytes in (1, 2, 3, 5, 64, 1 << 20):
            assert first_non_text(io.BytesIO(data), chunk_bytes) == reference_first_non_text(data)


@pytest.fixture
def bad_corpora(tmp_path):
    """Files that are not text, by kind: (path, the error it must give)."""
    text = "This is a line of plain English text, long enough for a window.\n" * 20
    invalid = tmp_path / "invalid.txt"
    invalid.write_bytes(text.encode() + b"broken \xff byte\n" + text.encode())
    nul = tmp_path / "nul.txt"
    nul.write_bytes(text.encode() + b"a NUL\x00 byte\n")
    executable = tmp_path / "program"
    executable.write_bytes(EXECUTABLE)
    offset = len(text.encode())
    return {
        "invalid": (invalid, f"{invalid}: invalid UTF-8 at byte offset {offset + len('broken ')}"),
        "nul": (nul, f"{nul}: NUL byte at byte offset {offset + len('a NUL')}"),
        "executable": (executable, f"{executable}: NUL byte at byte offset 7"),
    }


# Each case is a Spark job or two: the kinds are spread over the settings, not crossed.
@pytest.mark.parametrize("kind, strip", [("nul", False), ("invalid", True), ("executable", True)])
def test_charlm_corpus_that_is_not_text_is_refused_with_file_and_offset(
    spark, bad_corpora, kind, strip
):
    # With Gutenberg stripping the file went to a Python UDF as a string, and invalid UTF-8
    # failed the task four times and ended in a Py4J traceback.
    path, expected = bad_corpora[kind]
    lines = read_text(spark, str(path), strip_gutenberg_headers=strip)
    with pytest.raises(SparknnError) as raised:
        build_corpus(lines, seq_len=10, paths=str(path))
    assert expected in str(raised.value)


def test_charlm_job_with_gutenberg_stripping_gives_one_line(spark, bad_corpora, tmp_path, capsys):
    path, expected = bad_corpora["invalid"]
    argv = ["--corpus", str(path), "--output", str(tmp_path / "run"), "--strip-gutenberg"]
    code = load_job("train_charlm").main(argv)
    assert_one_line_error(code, capsys.readouterr().err, expected)


@pytest.mark.parametrize(
    "kind, settings",
    [
        ("invalid", {"tokenizer": "whitespace", "strip_gutenberg_headers": False}),
        # The unicode tokenizer drops NUL and U+FFFD from its words.
        ("nul", {"tokenizer": "unicode", "strip_gutenberg_headers": False}),
        ("executable", {"tokenizer": "whitespace", "strip_gutenberg_headers": True}),
    ],
)
def test_word2vec_corpus_that_is_not_text_is_refused_before_training(
    spark, bad_corpora, kind, settings
):
    from sparknn.corpus.chars import NotText
    from sparknn.ml import Word2Vec
    from sparknn.word2vec.job import TOKENS, in_job_terms, read_tokens
    from sparknn.word2vec.settings import Settings
    from sparknn.word2vec.spark import train_spark

    path, expected = bad_corpora[kind]
    settings = Settings(
        **settings, min_count=1, epochs=1, vector_size=4, backend="numpy", partitions=1
    )
    with pytest.raises(NotText) as raised:
        train_spark(spark, [str(path)], settings, verbose=False)
    assert expected in str(raised.value)
    # the job's path: its tokens to the estimator, whose error the job says of the corpus
    frame = read_tokens(spark, [str(path)], settings)
    with pytest.raises(NotText) as raised, in_job_terms([str(path)]):
        Word2Vec.fromSettings(settings, inputCol=TOKENS).fit(frame)
    assert expected in str(raised.value)


def test_word2vec_job_on_too_few_words_names_its_flag(spark, tmp_path, capsys):
    small = tmp_path / "small.txt"
    small.write_text("a b c\n")
    argv = ["--corpus", str(small), "--output", str(tmp_path / "out"), "--min-count", "5"]
    code = load_job("train_word2vec").main(argv + ["--backend", "numpy"])
    assert_one_line_error(
        code, capsys.readouterr().err, "the vocabulary is empty", "min_count=5", "--min-count"
    )
    assert not (tmp_path / "out").exists()
