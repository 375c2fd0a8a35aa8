"""Character corpora on Spark: vocabulary, one-time encoding, and windows over the global stream.

The corpus is the stream of its lines, each followed by ``"\\n"``, in file order. Spark counts
the characters (:class:`CharVocab`; rare ones map to one unknown symbol), every partition is
encoded once into a compact integer array, and the arrays are redistributed into
``partitions`` contiguous ranges of that stream (:class:`WindowShard`), which is what stays
resident on executors for the whole training run.

A training example is window ``w``: characters ``[w*step, w*step + seq_len + 1)`` of the
global stream (inputs are the first ``seq_len``, targets the last ``seq_len``). Windows are
numbered over the whole corpus, so an example's identity never depends on how Spark split
the files. A window belongs to the validation set when a fixed hash of its index falls below
``val_fraction``: deterministic, independent of the partitioning, and spread evenly over
partitions.

Invalid UTF-8: Spark's text reader decodes invalid bytes as U+FFFD, which would silently
become a character of the vocabulary. We refuse such a corpus instead, naming the file and
the byte offset of the first invalid sequence (a literal U+FFFD in valid UTF-8 is refused
too, since the two cannot be told apart after Spark has read the text), and so a corpus
holding a NUL byte, which no text file does: a binary file given as a corpus.
"""

from __future__ import annotations

import bz2
import codecs
import gzip
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sparknn.corpus.reader import expand_paths
from sparknn.errors import SparknnError

UNKNOWN = "\ufffd"  # shown for characters too rare to get their own symbol (index 0)
REPLACEMENT = "\ufffd"  # what Spark decodes invalid UTF-8 bytes to
NUL = "\x00"  # in no text file: its presence marks a binary file given as a corpus


class NotText(SparknnError):
    """The corpus is not UTF-8 text: it holds invalid UTF-8 (read as U+FFFD), U+FFFD or NUL."""


def not_text_lines(lines):
    """Which of ``lines`` (an Arrow string array) are not text, holding U+FFFD or NUL: a
    numpy bool per line (False for a null)."""
    import pyarrow.compute as pc

    marked = pc.or_(pc.match_substring(lines, NUL), pc.match_substring(lines, REPLACEMENT))
    return pc.fill_null(marked, False).to_numpy(zero_copy_only=False)


@dataclass(frozen=True)
class CharVocab:
    """Characters sorted by code point; index 0 is the unknown symbol."""

    chars: tuple[str, ...]

    @classmethod
    def from_counts(cls, counts: dict, min_count: int = 1) -> CharVocab:
        kept = sorted(c for c, n in counts.items() if n >= min_count and c != UNKNOWN)
        return cls((UNKNOWN, *kept))

    def __len__(self) -> int:
        return len(self.chars)

    @property
    def dtype(self):
        """The narrowest unsigned type that holds every index: uint8 for most texts."""
        return np.uint8 if len(self) <= 256 else np.uint16 if len(self) <= 65536 else np.uint32

    def encode(self, text: str) -> np.ndarray:
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        known = np.array([ord(c) for c in self.chars[1:]], dtype=np.uint32)
        position = np.searchsorted(known, codes)
        found = known[np.minimum(position, len(known) - 1)] == codes if len(known) else False
        return np.where(found, position + 1, 0).astype(self.dtype)

    def decode(self, indices) -> str:
        return "".join(self.chars[i] for i in np.asarray(indices).ravel())

    def to_json(self) -> list[str]:
        return list(self.chars)

    @classmethod
    def from_json(cls, chars) -> CharVocab:
        return cls(tuple(chars))


@dataclass
class WindowShard:
    """One contiguous range of the global stream holding windows ``[first, stop)``."""

    first: int  # first window index held
    stop: int  # one past the last window index held
    offset: int  # global position of data[0]
    data: np.ndarray
    seq_len: int
    step: int

    def select(self, windows: np.ndarray) -> np.ndarray:
        """The window indices of ``windows`` (sorted) that this shard holds."""
        lo, hi = np.searchsorted(windows, [self.first, self.stop])
        return windows[lo:hi]

    def examples(self, windows: np.ndarray):
        """Inputs and targets ``(len(windows), seq_len)`` as int32 for windows this shard holds."""
        starts = np.asarray(windows, dtype=np.int64) * self.step - self.offset
        rows = self.data[starts[:, None] + np.arange(self.seq_len + 1)]
        rows = rows.astype(np.int32)
        return rows[:, :-1], rows[:, 1:]


@dataclass
class CharCorpus:
    """Driver-side description of an encoded corpus; ``shards`` is the resident RDD. A context
    manager: leaving the ``with`` block unpersists ``shards``."""

    vocab: CharVocab
    seq_len: int
    step: int
    n_chars: int
    n_windows: int
    train_windows: np.ndarray
    val_windows: np.ndarray
    seed_text: str
    shards: object = field(repr=False, default=None)  # RDD[WindowShard], persisted
    partitions: int = 1  # data shards
    tasks: int = 1  # Spark partitions of ``shards`` (shards grouped in order)

    def unpersist(self) -> None:
        if self.shards is not None:
            self.shards.unpersist()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.unpersist()


def count_windows(n_chars: int, seq_len: int, step: int) -> int:
    return (n_chars - seq_len - 1) // step + 1 if n_chars >= seq_len + 1 else 0


def validation_mask(windows: np.ndarray, val_fraction: float) -> np.ndarray:
    """True for validation windows: splitmix64(w) / 2**64 < val_fraction (fixed, seed-free)."""
    z = np.asarray(windows, dtype=np.uint64) + np.uint64(0x9E3779B97F4A7C15)
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(1 << 53) < val_fraction


def count_chars(lines) -> Counter:
    counts = Counter()
    n_lines = 0
    for line in lines:
        counts.update(line)
        n_lines += 1
    counts["\n"] += n_lines
    return counts


def build_corpus(
    lines_df,
    seq_len: int = 100,
    partitions: int = 2,
    val_fraction: float = 0.05,
    min_char_count: int = 1,
    step: int | None = None,
    vocab: CharVocab | None = None,
    paths=None,
    tasks: int | None = None,
) -> CharCorpus:
    """Count, encode and lay out a corpus read by :func:`sparknn.corpus.read_text`.

    ``step`` is the distance between consecutive window starts (default ``seq_len``: windows
    tile the stream and share one character). Pass ``vocab`` to reuse a trained model's
    vocabulary. ``paths`` only improves the invalid-UTF-8 error message.

    The ``partitions`` shards are grouped, in order, into ``tasks`` Spark partitions (default:
    one each). A barrier stage needs all its tasks running at once, so a job with more data
    partitions than executor slots runs several shards per task; each shard still computes its
    own gradient sum, exactly as it would in a task of its own.
    """
    if seq_len < 1:
        raise SparknnError(f"seq_len must be >= 1, got {seq_len}")
    if partitions < 1:
        raise SparknnError(f"partitions must be >= 1, got {partitions}")
    if not 0.0 <= val_fraction < 1.0:
        raise SparknnError(f"val_fraction must be in [0, 1), got {val_fraction}")
    step = step or seq_len
    if not 1 <= step <= seq_len:
        raise SparknnError(f"window step must be in [1, seq_len={seq_len}], got {step}")
    lines = lines_df.select("line").rdd.map(lambda row: row[0] or "")

    counts = lines.mapPartitions(lambda it: [count_chars(it)]).treeAggregate(
        Counter(), lambda a, b: a + b, lambda a, b: a + b
    )
    if counts.get(REPLACEMENT) or counts.get(NUL):
        raise NotText(describe_not_text(paths))
    if sum(counts.values()) == 0:
        raise SparknnError(f"corpus is empty: {_names(paths)}")
    vocab = vocab or CharVocab.from_counts(counts, min_char_count)

    # Encode each source partition once; keep it until the resident layout is built.
    encoded = lines.mapPartitionsWithIndex(
        lambda index, it: [(index, vocab.encode("".join(line + "\n" for line in it)))]
    ).persist()
    try:
        heads = encoded.map(lambda pair: (pair[0], len(pair[1]), pair[1][:4096])).collect()
        heads.sort()
        lengths = np.array([n for _, n, _ in heads], dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(lengths)])
        n_chars = int(starts[-1])
        n_windows = count_windows(n_chars, seq_len, step)
        if n_windows == 0:
            raise SparknnError(
                f"corpus has {n_chars} characters, fewer than one window of seq_len + 1 = "
                f"{seq_len + 1}: {_names(paths)}"
            )
        partitions = min(partitions, n_windows)
        tasks = min(tasks or partitions, partitions)
        bounds = [n_windows * p // partitions for p in range(partitions + 1)]
        ranges = [
            (bounds[p] * step, (bounds[p + 1] - 1) * step + seq_len + 1) for p in range(partitions)
        ]

        def pieces(pair):
            index, array = pair
            lo, hi = int(starts[index]), int(starts[index + 1])
            for target, (begin, end) in enumerate(ranges):
                a, b = max(lo, begin), min(hi, end)
                if a < b:
                    yield target, (a, array[a - lo : b - lo])

        def build_shards(keyed_pieces):
            by_target = {}
            for target, piece in keyed_pieces:
                by_target.setdefault(target, []).append(piece)
            for target in sorted(by_target):
                yield _shard(target, by_target[target], bounds, ranges, seq_len, step)

        shards = (
            encoded.flatMap(pieces)
            .partitionBy(tasks, lambda target: target * tasks // partitions)
            .mapPartitions(build_shards)
            .persist()
        )
        shards.count()  # materialise the resident layout now, once
    finally:
        encoded.unpersist()

    windows = np.arange(n_windows, dtype=np.int64)
    is_val = validation_mask(windows, val_fraction)
    head = vocab.decode(np.concatenate([h for _, _, h in heads])[:4096])
    return CharCorpus(
        vocab=vocab,
        seq_len=seq_len,
        step=step,
        n_chars=n_chars,
        n_windows=n_windows,
        train_windows=windows[~is_val],
        val_windows=windows[is_val],
        seed_text=pick_seed_text(head),
        shards=shards,
        partitions=partitions,
        tasks=tasks,
    )


def _shard(target, pieces, bounds, ranges, seq_len, step) -> WindowShard:
    pieces = sorted(pieces, key=lambda piece: piece[0])
    begin, end = ranges[target]
    data = np.concatenate([array for _, array in pieces])
    assert len(data) == end - begin, (target, len(data), begin, end)
    return WindowShard(bounds[target], bounds[target + 1], begin, data, seq_len, step)


def pick_seed_text(head: str, length: int = 40) -> str:
    """A generation prompt from the corpus: the start of its first line of prose (long, with
    lowercase letters: not a title or a table of contents)."""
    for line in head.splitlines():
        if len(line.strip()) >= length and any(c.islower() for c in line):
            return line.strip()[:length]
    return head[:length] or "\n"


def _names(paths) -> str:
    if paths is None:
        return "(input)"
    return ", ".join(map(str, [paths] if isinstance(paths, (str, Path)) else paths))


# What can make a corpus not UTF-8 text (first_non_text finds them), and what to tell the user.
NOT_TEXT = {
    "invalid UTF-8": "convert the file to UTF-8, e.g. with iconv",
    "U+FFFD": "a replacement character: after Spark's decoding it is invalid UTF-8's mark",
    "NUL byte": "a binary file, not text",
}


def describe_not_text(paths) -> str:
    """Locate what makes the corpus not UTF-8 text (see :data:`NOT_TEXT`) in its local
    files, for a precise error message."""

    try:
        files = expand_paths(paths) if paths is not None else []
    except SparknnError:
        files = []
    for name in files:
        path = Path(name)
        for file in sorted(path.rglob("*")) if path.is_dir() else [path]:
            if not file.is_file() or file.suffix == ".parquet" or file.name.startswith((".", "_")):
                continue
            opener = {".gz": gzip.open, ".bz2": bz2.open}.get(file.suffix, open)
            with opener(file, "rb") as handle:
                found = first_non_text(handle)
            if found:
                offset, what = found
                return f"{file}: {what} at byte offset {offset} ({NOT_TEXT[what]})"
    return (
        f"corpus {_names(paths)} is not UTF-8 text: it holds invalid UTF-8 (decoded as U+FFFD) "
        "or NUL bytes; convert it to UTF-8, e.g. with iconv"
    )


def first_non_text(handle, chunk_bytes: int = 1 << 20):
    """``(byte offset, what)`` of the first invalid UTF-8, U+FFFD or NUL byte (the keys of
    :data:`NOT_TEXT`) in the binary stream ``handle``, or None; reads it in chunks."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    start = 0  # stream offset of ``data``: the decoder's pending bytes, then the new chunk
    while True:
        chunk = handle.read(chunk_bytes)
        data = decoder.getstate()[0] + chunk
        found = []
        try:
            decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as error:  # its offsets count from the pending bytes
            found.append((error.start, "invalid UTF-8"))
        for what, char in (("U+FFFD", REPLACEMENT), ("NUL byte", NUL)):
            if char.encode() in data:
                found.append((data.index(char.encode()), what))
        if found:
            offset, what = min(found)
            return start + offset, what
        if not chunk:
            return None
        start += len(data) - len(decoder.getstate()[0])


def gather_examples(shards, windows: np.ndarray):
    """Inputs and targets for sorted ``windows`` from whichever of ``shards`` hold them."""
    parts = [shard.examples(shard.select(windows)) for shard in shards]
    parts = [(x, y) for x, y in parts if len(x)]
    return np.concatenate([x for x, _ in parts]), np.concatenate([y for _, y in parts])
