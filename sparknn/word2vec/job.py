"""The word2vec job's own steps around :class:`sparknn.ml.Word2Vec`, which trains: text files
in (:func:`read_tokens`), an output directory out (:func:`save_output`), and the estimator's
errors in the job's words (:func:`in_job_terms`). ``jobs/train_word2vec.py`` and the demo are
these steps in order::

    frame = read_tokens(spark, corpus, settings)
    with in_job_terms(corpus):
        model = Word2Vec.fromSettings(settings, inputCol=TOKENS).fit(frame)
    save_output(output, model, settings, corpus)
"""

import os
from contextlib import contextmanager
from dataclasses import asdict

from sparknn.corpus import read_text
from sparknn.corpus.chars import NUL, REPLACEMENT, NotText, describe_not_text, not_text_lines
from sparknn.word2vec.encoding import tokenized_lines_frame
from sparknn.word2vec.formats import save_model
from sparknn.word2vec.settings import Settings
from sparknn.word2vec.tokenize import get_tokenizer
from sparknn.word2vec.vocab import EmptyVocabulary

TOKENS = "tokens"  # the column read_tokens makes


def read_tokens(spark, corpus, settings: Settings):
    """``corpus`` (files, directories, globs: :func:`sparknn.corpus.read_text`) as a DataFrame
    of one column, ``tokens`` (``array<string>``): a row per line, empty lines too, in corpus
    order and in read_text's partitions, so the estimator numbers the rows as the job numbered
    its lines. Tokens come from ``settings.tokenizer``, ``lowercase`` and
    ``strip_gutenberg_headers``. A line that is not UTF-8 text (U+FFFD, Spark's mark of invalid
    UTF-8, or NUL: a binary file) starts with the token NUL, which training refuses
    (:class:`~sparknn.corpus.chars.NotText`) before it starts."""
    tokenizer = get_tokenizer(settings.tokenizer, settings.lowercase)

    def tokenize(batches):
        import pyarrow as pa

        for batch in batches:
            lines = batch.column("line")
            if not_text_lines(lines).any():  # rare: the corpus is refused before training
                token_lists = []
                for text in lines.to_pylist():
                    tokens = tokenizer(text) if text else []
                    if text and (NUL in text or REPLACEMENT in text):
                        tokens = [NUL, *tokens]
                    token_lists.append(tokens)
                tokens = pa.array(token_lists, pa.list_(pa.string()))
            else:
                tokens = tokenizer.arrays(lines)
            yield pa.RecordBatch.from_arrays([tokens], names=[TOKENS])

    lines = read_text(spark, corpus, settings.strip_gutenberg_headers)
    frame = lines.select("line").mapInArrow(tokenize, f"{TOKENS} array<string>")
    # The estimator fed this very frame tokenizes the lines once, not the lines then the
    # tokens (the same batches: tokenize_lines marks a line that is not text with NUL too).
    return tokenized_lines_frame(frame, TOKENS, lines, tokenizer)


@contextmanager
def in_job_terms(corpus):
    """The estimator's errors about its input column, said of ``corpus`` and the job's flags:
    an empty vocabulary names --min-count, text that is not UTF-8 the file and offset."""
    try:
        yield
    except EmptyVocabulary as error:
        raise error.named("the corpus", "--min-count") from None
    except NotText:
        raise NotText(describe_not_text(corpus)) from None


def save_output(directory, model, settings: Settings, corpus, overwrite=False):
    """``model``'s vectors as the job's output directory (:func:`~sparknn.word2vec.formats.
    save_model`: vectors.npy, vocab.tsv, vectors.txt, vectors.bin with ``export_binary``,
    metadata.json), written whole or not at all; replaces ``directory`` only with
    ``overwrite``. The metadata is the model's ``trainingMetadata`` with the job's
    ``settings`` (its tokenizer's too) and ``corpus``."""
    vectors = model.wordVectors
    paths = [corpus] if isinstance(corpus, (str, os.PathLike)) else corpus
    metadata = {
        **model.trainingMetadata,
        "settings": asdict(settings),
        "corpus": [str(path) for path in paths],
    }
    save_model(
        directory, vectors.words, vectors.counts, vectors.vectors, metadata,
        binary=settings.export_binary, overwrite=overwrite,
    )  # fmt: skip
