"""word2vec's settings: every job setting with its default (``DEFAULTS``), the values each may
take (``RULES``), and :class:`Settings`, the training hyperparameters the replicas and the
driver loop read."""

from dataclasses import dataclass

from sparknn.backend import BACKENDS
from sparknn.config import AT_LEAST_ONE, NON_NEGATIVE, OPEN_UNIT, POSITIVE, one_of
from sparknn.errors import SparknnError
from sparknn.word2vec.tokenize import TOKENIZERS

MERGES = ("adaptive", "sum", "mean")

# Every job setting with its default; conf/word2vec.toml documents each key.
DEFAULTS = {
    "vector_size": 100,
    "window": 5,
    "negative": 5,
    "sample": 1e-3,
    "min_count": 5,
    "max_vocab": 0,
    "epochs": 5,
    "alpha": 0.025,
    "min_alpha": 0.0001,
    "partitions": 2,
    "backend": "auto",
    "seed": 1,
    "lowercase": True,
    "tokenizer": "whitespace",
    "strip_gutenberg_headers": False,
    "sync_words": 50_000,
    "sync_start_words": 15_000,
    "warmup_words": 1000,
    "chunk_words": 10_000,
    "merge": "adaptive",
    "merge_eta": 0.002,
    "send_min_updates": 8,
    "shared_negatives": False,
    "hogwild": False,
    "export_binary": False,
}
# The values each number or choice may take, checked as the job's config is read.
RULES = {
    "vector_size": AT_LEAST_ONE, "window": AT_LEAST_ONE, "negative": AT_LEAST_ONE,
    "sample": NON_NEGATIVE, "min_count": NON_NEGATIVE, "max_vocab": NON_NEGATIVE,
    "epochs": AT_LEAST_ONE, "alpha": POSITIVE, "min_alpha": NON_NEGATIVE,
    "partitions": AT_LEAST_ONE, "backend": one_of(BACKENDS), "seed": NON_NEGATIVE,
    "tokenizer": one_of(TOKENIZERS), "sync_words": AT_LEAST_ONE,
    "sync_start_words": AT_LEAST_ONE, "warmup_words": NON_NEGATIVE, "chunk_words": AT_LEAST_ONE,
    "merge": one_of(MERGES), "merge_eta": OPEN_UNIT, "send_min_updates": AT_LEAST_ONE,
}  # fmt: skip


@dataclass
class Settings:
    """Training hyperparameters (names as in the job flags; see DEFAULTS)."""

    vector_size: int = 100
    window: int = 5
    negative: int = 5
    sample: float = 1e-3
    epochs: int = 5
    alpha: float = 0.025
    min_alpha: float = 0.0001
    seed: int = 1
    backend: str = "numpy"
    sync_words: int = 50_000
    sync_start_words: int = 15_000
    warmup_words: int = 1000
    chunk_words: int = 10_000
    merge: str = "adaptive"
    merge_eta: float = 0.002
    send_min_updates: int = 8
    shared_negatives: bool = False
    hogwild: bool = False

    def __post_init__(self):
        for name in (
            "vector_size", "window", "epochs", "sync_words", "sync_start_words", "chunk_words",
            "send_min_updates",
        ):  # fmt: skip
            if int(getattr(self, name)) < 1:
                raise SparknnError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if self.negative < 1:
            raise SparknnError(f"negative must be >= 1, got {self.negative!r}")
        if not 0 < self.alpha or self.min_alpha < 0:
            raise SparknnError(
                f"need alpha > 0 and min_alpha >= 0, got {self.alpha}, {self.min_alpha}"
            )
        if not 0 < self.merge_eta < 1:
            raise SparknnError(f"merge_eta must be in (0, 1), got {self.merge_eta!r}")
        if self.merge not in MERGES:
            raise SparknnError(f"unknown merge {self.merge!r}; choose one of {', '.join(MERGES)}")

    @classmethod
    def from_config(cls, config: dict) -> "Settings":
        return cls(**{k: config[k] for k in cls.__dataclass_fields__ if k in config})
