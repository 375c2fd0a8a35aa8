"""Word vectors on disk: sparknn's output directory and the word2vec text/binary formats.

An output directory holds

* ``vectors.npy`` - float32 ``(V, d)``, row ``i`` for vocabulary word ``i``;
* ``vocab.tsv`` - ``word<TAB>count`` per line, most frequent first;
* ``metadata.json`` - hyperparameters, corpus statistics, training time;
* ``vectors.txt`` - word2vec text format (``V d`` header, then ``word x1 .. xd``);
* ``vectors.bin`` - word2vec binary format, when asked for (``V d`` header, then per word
  ``word<SPACE>`` followed by ``d`` little-endian float32 and a newline, as word2vec.c writes).

The directory is written into a fresh one beside it and renamed into place, so a crash
never leaves a half-written directory, nor new files beside old ones; a word2vec file alone is
written to a temporary name and moved into place.
"""

import json
from pathlib import Path

import numpy as np

from sparknn.errors import SparknnError
from sparknn.files import atomic_file, staged_directory

VECTORS, VOCAB, METADATA, TEXT, BINARY = (
    "vectors.npy",
    "vocab.tsv",
    "metadata.json",
    "vectors.txt",
    "vectors.bin",
)


def save_model(directory, words, counts, vectors, metadata, binary=False, overwrite=False):
    """Write an output directory (see module docstring); replace an existing one only with
    ``overwrite``."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    with staged_directory(directory, overwrite) as staging:
        with open(staging / VECTORS, "wb") as handle:
            np.save(handle, vectors, allow_pickle=False)
        with open(staging / VOCAB, "w", encoding="utf-8", newline="\n") as handle:
            handle.writelines(f"{w}\t{int(c)}\n" for w, c in zip(words, counts, strict=True))
        save_word2vec_text(staging / TEXT, words, vectors)
        if binary:
            save_word2vec_binary(staging / BINARY, words, vectors)
        with open(staging / METADATA, "w", encoding="utf-8", newline="\n") as handle:
            json.dump(metadata, handle, indent=2, default=_json_default)
            handle.write("\n")


def as_json(value):
    """``value`` (metadata: dicts, lists, numbers, numpy values) as plain JSON values."""
    return json.loads(json.dumps(value, default=_json_default))


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def save_word2vec_text(path, words, vectors):
    vectors = np.asarray(vectors, dtype=np.float32)
    with atomic_file(path) as handle:
        handle.write(f"{len(words)} {vectors.shape[1]}\n")
        row_format = " ".join(["%.6g"] * vectors.shape[1])
        for word, row in zip(words, vectors, strict=True):
            handle.write(f"{word} {row_format % tuple(row.tolist())}\n")


def save_word2vec_binary(path, words, vectors):
    vectors = np.asarray(vectors, dtype="<f4")
    with atomic_file(path, "wb") as handle:
        handle.write(f"{len(words)} {vectors.shape[1]}\n".encode())
        for word, row in zip(words, vectors, strict=True):
            handle.write(word.encode("utf-8") + b" " + row.tobytes() + b"\n")


def read_vectors(path):
    """``(words, vectors, counts)`` from a directory or a word2vec file (``counts`` None for
    a word2vec file); refuses vectors that are not finite."""
    path = Path(path)
    if path.is_dir():
        words, vectors, counts = load_model_dir(path)
    elif not path.is_file():
        raise SparknnError(
            f"vectors not found: {path} (expected a sparknn output directory or a word2vec file)"
        )
    elif _looks_binary(path):
        (words, vectors), counts = load_word2vec_binary(path), None
    else:
        (words, vectors), counts = load_word2vec_text(path), None
    _check_finite(path, words, vectors)
    return words, vectors, counts


def _check_finite(path, words, vectors) -> None:
    """Refuse vectors holding NaN or infinity: every similarity with them would be NaN."""
    # A float64 sum of float32 values cannot overflow, so a row's sum is finite exactly
    # when the row is: one pass, and no (V, d) mask.
    bad = np.flatnonzero(~np.isfinite(vectors.sum(axis=1, dtype=np.float64)))
    if len(bad):
        row = int(bad[0])
        raise SparknnError(
            f"{path}: the vector of {words[row]!r} (vector {row + 1} of {len(words)}) holds "
            f"NaN or infinity; {len(bad)} vector(s) do"
        )


def load_model_dir(directory):
    directory = Path(directory)
    if not (directory / VECTORS).is_file() or not (directory / VOCAB).is_file():
        if (directory / TEXT).is_file():
            return (*load_word2vec_text(directory / TEXT), None)
        raise SparknnError(f"{directory} is not a sparknn vectors directory (no {VECTORS}/{VOCAB})")
    try:
        vectors = np.load(directory / VECTORS, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise SparknnError(f"{directory / VECTORS} is not a valid .npy array: {error}") from None
    if vectors.dtype.kind not in "fiu":
        raise SparknnError(f"{directory / VECTORS} holds {vectors.dtype}, not numbers")
    words, counts = [], []
    try:
        with open(directory / VOCAB, encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                parts = line.rstrip("\n").split("\t")
                if len(parts) != 2 or not parts[1].isdigit():
                    raise SparknnError(f"{directory / VOCAB}:{number}: expected 'word<TAB>count'")
                words.append(parts[0])
                counts.append(int(parts[1]))
    except UnicodeDecodeError as error:
        raise SparknnError(
            f"{directory / VOCAB}: invalid UTF-8 after line {len(words)} ({error.reason})"
        ) from None
    if vectors.ndim != 2 or vectors.shape[0] != len(words):
        raise SparknnError(
            f"{directory}: {VECTORS} has shape {vectors.shape} but {VOCAB} lists {len(words)} words"
        )
    return words, vectors.astype(np.float32, copy=False), np.array(counts, dtype=np.int64)


def _read_header(handle, path):
    header = handle.readline()
    try:
        count, size = (int(x) for x in header.split())
    except ValueError:
        raise SparknnError(
            f"{path}: first line must be '<words> <dimensions>', got {header[:60]!r}"
        ) from None
    if count < 0 or size < 1:
        raise SparknnError(f"{path}: bad header {header.strip()!r}")
    return count, size


def _check_size(path, count: int, size: int, record_bytes: int) -> None:
    """Refuse a header that declares more vectors than the file can hold, before allocating
    them: each needs at least ``record_bytes``."""
    needed, present = count * record_bytes, Path(path).stat().st_size
    if needed > present:
        raise SparknnError(
            f"{path}: header declares {count:,} vectors of {size:,} dimensions, which need at "
            f"least {needed:,} bytes; the file has {present:,} (truncated, or a bad header?)"
        )


def _looks_binary(path) -> bool:
    """A text file's first vector line is UTF-8 with d+1 fields; a binary one is not."""
    with open(path, "rb") as handle:
        header = handle.readline()
        try:
            _, size = (int(x) for x in header.split())
        except ValueError:
            raise SparknnError(
                f"{path}: first line must be '<words> <dimensions>', got {header[:60]!r}"
            ) from None
        line = handle.readline(1 << 20)
    try:
        fields = line.decode("utf-8").split()
    except UnicodeDecodeError:
        return True
    return len(fields) != size + 1 and bool(line)


def load_word2vec_text(path):
    with open(path, encoding="utf-8", errors="strict") as handle:
        count, size = _read_header(handle, path)
        _check_size(path, count, size, record_bytes=2 * size)  # " x" per number, at least
        words, vectors = [], np.empty((count, size), dtype=np.float32)
        try:
            for i, line in enumerate(handle):
                if i >= count:
                    if line.strip():
                        raise SparknnError(
                            f"{path}: more than the {count} vectors the header declares"
                        )
                    continue
                parts = line.rstrip("\n").rstrip(" ").split(" ")
                if len(parts) != size + 1:
                    raise SparknnError(
                        f"{path}:{i + 2}: expected a word and {size} numbers, got {len(parts) - 1}"
                    )
                try:
                    vectors[i] = [float(x) for x in parts[1:]]
                except ValueError:
                    raise SparknnError(
                        f"{path}:{i + 2}: not a number in {parts[0]!r}'s vector"
                    ) from None
                words.append(parts[0])
        except UnicodeDecodeError:
            raise SparknnError(
                f"{path}: not UTF-8 text (a binary file needs the .bin format)"
            ) from None
    if len(words) != count:
        raise SparknnError(f"{path}: header declares {count} vectors, file has {len(words)}")
    return words, vectors


def load_word2vec_binary(path):
    with open(path, "rb") as handle:
        count, size = _read_header(handle, path)
        _check_size(path, count, size, record_bytes=4 * size + 1)  # " " and the float32s
        data = handle.read()
    words, vectors, offset, width = [], np.empty((count, size), dtype=np.float32), 0, 4 * size
    for i in range(count):
        while offset < len(data) and data[offset : offset + 1] in (b"\n", b"\r"):
            offset += 1  # word2vec.c ends each vector with a newline; gensim does not
        space = data.find(b" ", offset)
        if space < 0 or space + 1 + width > len(data):
            raise SparknnError(f"{path}: truncated at vector {i + 1} of {count}")
        try:
            words.append(data[offset:space].decode("utf-8"))
        except UnicodeDecodeError:
            raise SparknnError(f"{path}: vector {i + 1}'s word is not UTF-8") from None
        vectors[i] = np.frombuffer(data, dtype="<f4", count=size, offset=space + 1)
        offset = space + 1 + width
    return words, vectors
