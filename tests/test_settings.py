"""Every default once: each job's settings dataclass is what its flags, its TOML file, its
--help and the Python API (``train_local``, ``train_spark``, ``train``) all derive from."""

import importlib.util
import io
import re
from collections import Counter
from contextlib import redirect_stdout
from dataclasses import asdict, fields
from pathlib import Path

import pytest

from sparknn.charlm.settings import CharLMSettings
from sparknn.config import load_toml
from sparknn.errors import SparknnError
from sparknn.word2vec.encoding import encode_lines, split_lines
from sparknn.word2vec.rounds import train_local
from sparknn.word2vec.settings import Settings
from sparknn.word2vec.vocab import build_vocabulary

REPO = Path(__file__).resolve().parents[1]
JOBS = {"word2vec": Settings, "charlm": CharLMSettings}


def load_job(name):
    spec = importlib.util.spec_from_file_location(name, REPO / "jobs" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def job_settings(job: str, argv=()):
    """The settings the job resolves from ``argv`` (its required arguments added)."""
    if job == "word2vec":
        module = load_job("train_word2vec")
        args = module.parse_args(["--corpus", "c.txt", "--output", "out", *argv])
        return module.resolve(args, Settings)
    return load_job("train_charlm").parse_config(list(argv))


def squeezed(text: str) -> str:
    """``text`` lowercased without whitespace: the same words however a tool wraps them."""
    return "".join(text.lower().split())


@pytest.mark.parametrize("job", JOBS)
def test_the_jobs_defaults_are_the_dataclass_defaults(job):
    assert job_settings(job) == JOBS[job]()


def test_the_word2vec_job_hands_train_spark_the_python_apis_settings(monkeypatch, tmp_path):
    """What the job trains with, given no settings (through ``Word2Vec.fromSettings``), is
    what ``train_spark`` and ``train_local`` get from ``Settings()`` (once their backends
    differed)."""
    import sparknn.spark.session
    import sparknn.word2vec.job
    from sparknn.ml import Word2Vec

    class Handed(Exception):
        pass

    def fit(estimator, frame):
        raise Handed(estimator._job_settings())

    monkeypatch.setattr(sparknn.spark.session, "session", lambda *args, **kwargs: None)
    monkeypatch.setattr(sparknn.word2vec.job, "read_tokens", lambda *args: "the tokens")
    monkeypatch.setattr(Word2Vec, "_fit", fit)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("a b c\n")
    with pytest.raises(Handed) as handed:
        load_job("train_word2vec").main(["--corpus", str(corpus), "--output", str(tmp_path / "o")])
    assert handed.value.args[0] == Settings()

    lines = ["a b a c", "b a c a"]
    vocab = build_vocabulary(Counter(w for line in lines for w in line.split()), min_count=1)
    parts = [encode_lines(chunk, vocab, str.split) for chunk in split_lines(lines, 2)]
    local = train_local(vocab, parts, Settings(vector_size=4, epochs=1))
    assert local.metadata["settings"] == {**asdict(Settings()), "vector_size": 4, "epochs": 1}
    assert local.metadata["settings"]["backend"] == handed.value.args[0].backend


@pytest.mark.parametrize("job", JOBS)
def test_the_shipped_config_holds_the_defaults_and_says_each_fields_doc(job):
    """conf/JOB.toml names only fields, each set to its default (a key left out is shown in
    a comment); its comments say each field's doc, as --help does."""
    settings_class = JOBS[job]
    path = REPO / "conf" / f"{job}.toml"
    shipped = load_toml(path, settings_class)
    defaults = asdict(settings_class())
    assert shipped == {key: defaults[key] for key in shipped}
    text = path.read_text(encoding="utf-8")
    for key in set(defaults) - set(shipped):
        assert re.search(rf"^# {key} = ", text, re.M), f"{key} is neither set nor shown"
    comments = squeezed(" ".join(re.findall(r"#(.*)$", text, re.M)))
    for item in fields(settings_class):
        assert squeezed(item.metadata["help"]) in comments, item.name
    assert job_settings(job, ["--config", str(path)]) == settings_class()


@pytest.mark.parametrize("job", JOBS)
def test_help_shows_each_fields_doc_and_default(job):
    printed = io.StringIO()
    with redirect_stdout(printed), pytest.raises(SystemExit):
        job_settings(job, ["--help"])
    shown = squeezed(printed.getvalue())
    for item in fields(JOBS[job]):
        flag = "--" + item.name.replace("_", "-")
        assert squeezed(flag) in shown, item.name
        assert squeezed(f"{item.metadata['help']} (default: {item.default!r})") in shown


@pytest.mark.parametrize("job", JOBS)
def test_a_bad_value_is_refused_whether_from_python_toml_or_a_flag(job, tmp_path):
    settings_class = JOBS[job]
    with pytest.raises(SparknnError, match=r"^partitions must be >= 1, got 0$"):
        settings_class(partitions=0)
    with pytest.raises(SparknnError, match=r"^seed must be an integer, got '1'$"):
        settings_class(seed="1")
    config = tmp_path / "job.toml"
    config.write_text("partitions = 0\n")
    with pytest.raises(SparknnError, match=r"job.toml: partitions must be >= 1, got 0$"):
        job_settings(job, ["--config", str(config)])
    with pytest.raises(SystemExit):
        job_settings(job, ["--partitions", "0"])


def test_settings_are_frozen_and_floats_take_integers():
    settings = Settings(sample=0, alpha=1)
    assert (settings.sample, settings.alpha) == (0.0, 1.0)
    assert isinstance(settings.sample, float) and isinstance(settings.alpha, float)
    with pytest.raises(AttributeError):
        settings.window = 3


def test_charlm_checks_across_fields():
    with pytest.raises(SparknnError, match="--resume .* or --overwrite, not both"):
        CharLMSettings(resume=True, overwrite=True)
    with pytest.raises(SparknnError, match="need --epochs >= 1 or --max-steps >= 1"):
        CharLMSettings(epochs=0)
    assert CharLMSettings(epochs=0, max_steps=3).max_steps == 3
