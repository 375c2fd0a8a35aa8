"""word2vec's settings, each declared once: :class:`Settings`, whose every field holds its
default, its doc (the job flag's help; conf/word2vec.toml says the same) and the values it may
take. The job's flags and TOML keys, :func:`~sparknn.word2vec.spark.train_spark`,
:func:`~sparknn.word2vec.rounds.train_local` and ``sparknn.ml.Word2Vec``'s Params (one per
training setting: ``Word2Vec.fromSettings``) all read it."""

from dataclasses import dataclass

from sparknn.backend import BACKENDS
from sparknn.config import (
    AT_LEAST_ONE,
    NON_NEGATIVE,
    OPEN_UNIT,
    POSITIVE,
    JobSettings,
    one_of,
    setting,
)
from sparknn.word2vec.tokenize import TOKENIZERS

MERGES = ("adaptive", "sum", "mean")


@dataclass(frozen=True)
class Settings(JobSettings):
    """Every setting of a word2vec run (names as in the job's flags and TOML keys).
    ``train_local`` trains as many partitions as it is given parts; the corpus settings
    (``min_count`` ... ``strip_gutenberg_headers``) and ``export_binary`` are read by
    ``train_spark`` and the job."""

    vector_size: int = setting(100, "dimensions of each word vector", AT_LEAST_ONE)
    window: int = setting(
        5, "max context distance; each centre draws its window from 1..window", AT_LEAST_ONE
    )
    negative: int = setting(5, "negative samples per (context, centre) pair", AT_LEAST_ONE)
    shared_negatives: bool = setting(
        False,
        "true: draw them once per centre for all its pairs (faster on a large vocabulary, "
        "less accurate); false: per pair, as word2vec.c",
    )
    sample: float = setting(
        1e-3, "frequent-word subsampling threshold (0 disables subsampling)", NON_NEGATIVE
    )
    min_count: int = setting(5, "drop words seen fewer times than this", NON_NEGATIVE)
    max_vocab: int = setting(
        0, "keep only the most frequent N words after min_count (0 = no limit)", NON_NEGATIVE
    )
    epochs: int = setting(5, "passes over the corpus", AT_LEAST_ONE)
    alpha: float = setting(0.025, "initial learning rate, decayed linearly ...", POSITIVE)
    min_alpha: float = setting(0.0001, "... to this over all epochs", NON_NEGATIVE)
    partitions: int = setting(
        2,
        "parallel trainers (replicas merged every round; one task slot each)",
        AT_LEAST_ONE,
    )
    backend: str = setting(
        "auto",
        'training kernel: "numpy", "opencl" or "auto" (OpenCL where found)',
        one_of(BACKENDS),
    )
    seed: int = setting(
        1, "fixes initialisation and every random draw (per partition count)", NON_NEGATIVE
    )
    lowercase: bool = setting(True, "lowercase text before tokenizing")
    tokenizer: str = setting(
        "whitespace",
        '"whitespace" (split on spaces) or "unicode" (words, punctuation dropped)',
        one_of(TOKENIZERS),
    )
    strip_gutenberg_headers: bool = setting(
        False, "cut Project Gutenberg license header/footer from each file"
    )
    sync_words: int = setting(
        50_000,
        "tokens each partition trains per round before deltas are merged ...",
        AT_LEAST_ONE,
    )
    sync_start_words: int = setting(
        15_000,
        "... growing to it by half-way from rounds of sync_start_words; both divided by "
        '(partitions-1)^2 (docs/word2vec-design.md, "Rounds")',
        AT_LEAST_ONE,
    )
    warmup_words: int = setting(
        1000, "first round's tokens; rounds double from it (symmetry breaking)", NON_NEGATIVE
    )
    chunk_words: int = setting(
        10_000,
        "numpy backend: tokens per pair-generation chunk (constant learning rate)",
        AT_LEAST_ONE,
    )
    merge: str = setting(
        "adaptive",
        'merging partitions\' row deltas: "adaptive", "sum" or "mean" '
        '(see docs/word2vec-design.md, "Merge")',
        one_of(MERGES),
    )
    merge_eta: float = setting(
        0.002, "adaptive merge: modelled per-update contraction of a row (0 < eta < 1)", OPEN_UNIT
    )
    send_min_updates: int = setting(
        8,
        "a syn1neg row is sent once updated this often / (partitions-1)^2 since last sent "
        "(1: every changed row, every round)",
        AT_LEAST_ONE,
    )
    hogwild: bool = setting(
        False,
        "true: the tasks on the driver's host train one model in shared memory, lock-free, "
        "as gensim's threads do: no exchange, faster on a large vocabulary, but vectors vary "
        "run to run; needs every task on the driver's host and a CPU "
        'backend (see docs/word2vec-design.md, "Hogwild on one host")',
    )
    export_binary: bool = setting(False, "also write vectors.bin in word2vec's binary format")
