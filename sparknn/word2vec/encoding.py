"""The corpus on Spark, tokenized once: word counts for the vocabulary, then integer ids.

1. :func:`tokenize_lines` (``mapInArrow``): every Arrow batch of lines becomes one row: the
   batch's distinct words, how often each occurs, and for each line with tokens its
   ``line_id`` and its tokens as indices into those words. Arrow hands Python a batch's
   lines as one array, where ``DataFrame.rdd`` builds a ``Row`` per line (on Gutenberg-25M
   that conversion alone took longer than tokenizing). The rows are cached on local disk.
2. :func:`count_tokens`: each Spark partition adds up its batches' counts by word, and
   the driver adds up the partitions'. A batch with a line
   that is not text (U+FFFD, Spark's mark of invalid UTF-8, or a NUL byte: a binary file)
   also lists the word NUL (with count 0 if no token is one), so the driver learns of it
   from the counts, without another pass, and refuses the corpus before training.
3. :func:`encode_partitions`: each Spark partition looks its batches' distinct words (not
   every token) up in the vocabulary, in Arrow, numpy maps their tokens, out-of-vocabulary
   tokens are dropped and so are lines left with none, and line ``i`` goes to training
   partition ``line_id % partitions``. The result is what :func:`~sparknn.word2vec.spark.
   train_spark` trains on: a record ``(partition, tokens int32, sentence_starts int64)``
   per training partition, its lines in corpus order (several, cut between sentences,
   where one would pass :data:`BLOCK_BYTES`).

:func:`encode_lines` and :func:`split_lines` do the same in one process, for
:func:`~sparknn.word2vec.rounds.train_local`.
"""

import numpy as np

from sparknn.corpus.chars import NUL, NotText, describe_not_text, not_text_lines
from sparknn.errors import SparknnError
from sparknn.word2vec.vocab import Vocabulary

# The most bytes one block of data holds: an Arrow batch of word vectors (sparknn.ml.word2vec)
# or a pickled record of a training partition's tokens. Far below the 2^31-byte limits of Java
# arrays, of Arrow's int32 offsets and of PySpark's record frames, so that no vocabulary x
# vectorSize and no partition of the corpus meets them; read where the work is planned, on
# the driver.
BLOCK_BYTES = 256 << 20

TOKENIZED_SCHEMA = (
    "line_ids binary, lengths binary, ids binary, words array<string>, counts array<long>"
)


def tokenize_lines(lines, tokenizer):
    """``lines`` (a DataFrame with ``line``, ``line_id``) tokenized by ``tokenizer`` (a
    :class:`~sparknn.word2vec.tokenize.Tokenizer`) as tokenized batches (see above), with the
    columns of :data:`TOKENIZED_SCHEMA`.

    Binary columns hold raw numpy buffers: ``line_ids`` int64 and ``lengths`` int32 per line
    with tokens, ``ids`` int32 per token (an index into ``words``).
    """

    def tokenize(batches):
        import pyarrow.compute as pc

        for batch in batches:
            texts = batch.column("line")
            tokens = tokenizer.arrays(texts)
            not_text = bool(not_text_lines(texts).any())
            yield from _encoded_batch(
                batch.column("line_id"), tokens, pc.list_flatten(tokens), not_text
            )

    return lines.select("line", "line_id").mapInArrow(tokenize, TOKENIZED_SCHEMA)


def tokenized_lines_frame(frame, column: str, lines, tokenizer):
    """``frame`` (whose ``column`` is ``tokenizer`` applied to each row of ``lines``, a
    DataFrame of :func:`~sparknn.corpus.read_text`, with the mark NUL first on a line that is
    not text), marked so that :func:`tokenize_arrays` tokenizes ``lines`` itself, with
    :func:`tokenize_lines`: one pass of the corpus through Python instead of two (text to
    tokens, then tokens to ids), for the same tokenized batches. Returns ``frame``."""
    setattr(frame, _LINES_MARK, (column, lines, tokenizer))
    return frame


# The attribute a frame of tokenized_lines_frame carries: a DataFrame derived from it (select,
# filter, ...) is a new object without it, so only that frame itself takes the short cut.
_LINES_MARK = "_sparknn_tokenized_lines"


def tokenize_arrays(frame, column: str):
    """``frame``'s ``column`` (``array<string>``: a line's tokens, taken as they are) as
    tokenized batches, like :func:`tokenize_lines`; lines are numbered in the frame's order.
    A null row or word fails the task with a SparknnError naming ``column``. A frame of
    :func:`tokenized_lines_frame` is tokenized from its lines.

    Arrow does the work (no Python string per token): a batch's tokens are dictionary-encoded
    into its distinct words, in order of first occurrence (:func:`_encoded_batch`)."""
    from pyspark.sql import functions as F

    marked_column, lines, tokenizer = getattr(frame, _LINES_MARK, (None, None, None))
    if marked_column == column:
        return tokenize_lines(lines, tokenizer)

    def tokenize(batches):
        import pyarrow.compute as pc

        for batch in batches:
            tokens = batch.column("tokens")
            if tokens.null_count:
                raise SparknnError(
                    f"column {column!r} holds a null row: drop or fill nulls first "
                    f"(df.dropna(subset=[{column!r}]))"
                )
            flat = pc.list_flatten(tokens)
            if flat.null_count:
                raise SparknnError(f"column {column!r} holds a null word in a row")
            yield from _encoded_batch(batch.column("line_id"), tokens, flat)

    rows = frame.select(
        F.col(column).alias("tokens"), F.monotonically_increasing_id().alias("line_id")
    )
    return rows.mapInArrow(tokenize, TOKENIZED_SCHEMA)


def _encoded_batch(line_ids, tokens, flat, not_text: bool = False):
    """One batch of token lists (Arrow ``tokens``, ``flat`` its words in order) as at most one
    row of :data:`TOKENIZED_SCHEMA`: its distinct words in order of first occurrence, each
    token an index into them. ``not_text``: a line of the batch is not text, so its words
    include the mark NUL (see above)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not len(flat) and not not_text:
        return
    encoded = pc.dictionary_encode(flat)
    words = encoded.dictionary.cast(pa.string())
    ids = encoded.indices.to_numpy().astype(np.int32, copy=False)
    counts = np.bincount(ids, minlength=len(words)).astype(np.int64)
    if not_text and not pc.any(pc.equal(words, NUL)).as_py():
        words = pa.concat_arrays([words, pa.array([NUL])])
        counts = np.append(counts, 0)  # the mark count_tokens looks for (see above)
    lengths = pc.list_value_length(tokens).to_numpy(zero_copy_only=False).astype(np.int32)
    kept = lengths > 0
    line_ids = line_ids.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)[kept]
    one_list = pa.array([0, len(words)], pa.int32())  # offsets: one row holding every word
    yield pa.RecordBatch.from_arrays(
        [
            pa.array([line_ids.tobytes()], pa.binary()),
            pa.array([lengths[kept].tobytes()], pa.binary()),
            pa.array([ids.tobytes()], pa.binary()),
            pa.ListArray.from_arrays(one_list, words),
            pa.ListArray.from_arrays(one_list, pa.array(counts)),
        ],
        names=["line_ids", "lengths", "ids", "words", "counts"],
    )


def count_tokens(tokenized, paths=None) -> dict:
    """Word -> number of occurrences over all batches of ``tokenized``; a corpus that is not
    text (the word NUL among them) is :class:`NotText`, naming the file and offset (``paths``:
    the corpus).

    Each Spark partition adds up its own batches' counts (:func:`sum_counts`) and sends one
    table of its distinct words, which the driver adds up again: no shuffle."""

    max_bytes = BLOCK_BYTES  # read here, on the driver (see above)

    def summed(batches):
        import pyarrow as pa
        import pyarrow.compute as pc

        tables = [
            pa.table({"word": pc.list_flatten(b.column("words")),
                      "count": pc.list_flatten(b.column("counts"))})
            for b in batches
        ]  # fmt: skip
        if tables:
            yield from byte_limited_batches(sum_counts(pa.concat_tables(tables)), max_bytes)

    table = sum_counts(tokenized.select("words", "counts").mapInArrow(summed, COUNTS).toArrow())
    words, counts = table.column("word").to_pylist(), table.column("count").to_pylist()
    counts = dict(zip(words, counts, strict=True))
    if NUL in counts:
        raise NotText(describe_not_text(paths))
    return counts


COUNTS = "word string, count long"


def sum_counts(table):
    """``table`` (``word``, ``count``) with one row per distinct word, its counts added up."""
    summed = table.group_by("word").aggregate([("count", "sum")])
    return summed.select(["word", "count_sum"]).rename_columns(["word", "count"])


def byte_limited_batches(table, max_bytes: int):
    """``table`` (``word``, ``count``) as record batches whose words hold at most
    ``max_bytes`` bytes each (a batch of one word may hold more): Spark's Arrow string arrays
    have 32-bit offsets."""
    import pyarrow.compute as pc

    ends = np.cumsum(pc.binary_length(table.column("word")).to_numpy(), dtype=np.int64)
    first, before = 0, 0
    while first < len(ends):
        last = max(int(np.searchsorted(ends, before + max_bytes, side="right")), first + 1)
        yield from table.slice(first, last - first).combine_chunks().to_batches()
        first, before = last, int(ends[last - 1])


def encode_batch(lookup, ids, lengths, line_ids, partitions: int):
    """One tokenized batch (``ids`` int32 per token, indices into its words; ``lengths`` int32
    and ``line_ids`` int64 per line), its words' vocabulary ids ``lookup`` (-1: not in it), as
    ``(partition, (first_line, tokens int32, lengths int64))`` blocks, one per training
    partition that gets any of its lines."""
    tokens = lookup[ids]
    line_of_token = np.repeat(np.arange(len(lengths)), lengths)
    known = tokens >= 0
    kept = np.bincount(line_of_token[known], minlength=len(lengths))  # tokens a line keeps
    target = line_ids % partitions
    for partition in range(partitions):
        lines = (target == partition) & (kept > 0)
        if lines.any():
            mine = known & lines[line_of_token]
            yield partition, (int(line_ids[lines][0]), tokens[mine], kept[lines].astype(np.int64))


ENCODED_SCHEMA = "partition int, first_line long, tokens binary, lengths binary"


def encode_tokenized(batches, vocabulary, partitions: int):
    """The Arrow ``batches`` of one Spark partition of tokenized rows as blocks (see
    :func:`encode_batch`), one record batch of :data:`ENCODED_SCHEMA` each. ``vocabulary``:
    the words in id order. The partition's words are looked up all at once (one hash table of
    the vocabulary, built in Arrow), so its batches are held until then: a partition's
    tokens, 4 bytes each, and its batches' distinct words."""
    import pyarrow as pa
    import pyarrow.compute as pc

    batches = list(batches)
    if not batches:
        return
    flat = pa.chunked_array(
        [pc.list_flatten(batch.column("words")) for batch in batches], pa.string()
    ).cast(pa.large_string())  # 64-bit offsets: the words of a partition may pass 2^31 bytes
    value_set = pa.array(vocabulary, pa.large_string())
    lookup = pc.fill_null(pc.index_in(flat, value_set=value_set), -1)
    lookup = lookup.to_numpy().astype(np.int32, copy=False)
    first_word = 0
    for batch in batches:
        counts = pc.list_value_length(batch.column("words")).to_numpy(zero_copy_only=False)
        columns = [batch.column(name) for name in ("ids", "lengths", "line_ids")]
        for row, count in enumerate(counts):
            ids, lengths, line_ids = (column[row].as_py() for column in columns)
            row_lookup = lookup[first_word : first_word + count]
            first_word += count
            blocks = encode_batch(
                row_lookup, np.frombuffer(ids, np.int32), np.frombuffer(lengths, np.int32),
                np.frombuffer(line_ids, np.int64), partitions,
            )  # fmt: skip
            for partition, (first_line, tokens, kept) in blocks:
                yield pa.RecordBatch.from_arrays(
                    [
                        pa.array([partition], pa.int32()),
                        pa.array([first_line], pa.int64()),
                        pa.array([tokens.tobytes()], pa.binary()),
                        pa.array([kept.tobytes()], pa.binary()),
                    ],
                    names=["partition", "first_line", "tokens", "lengths"],
                )


def encode_partitions(tokenized, vocabulary_bc, partitions: int, tasks: int):
    """The training records (see above) from ``tokenized``, in ``tasks`` Spark partitions:
    training partition ``p`` in Spark partition ``p % tasks``, as one record or, past
    :data:`BLOCK_BYTES`, as several in order (:func:`split_record`; :func:`join_pieces`
    joins them). ``vocabulary_bc``: a broadcast list of the vocabulary's words in id order.

    Encoding runs on Arrow batches (:func:`encode_tokenized`); only its blocks, a few per
    batch, become Python rows for the shuffle that routes them."""

    def encode(batches):
        return encode_tokenized(batches, vocabulary_bc.value, partitions)

    def block(row):
        tokens, lengths = np.frombuffer(row.tokens, np.int32), np.frombuffer(row.lengths, np.int64)
        return row.partition, (row.first_line, tokens, lengths)

    max_bytes = BLOCK_BYTES

    def assemble(blocks):
        # One record per training partition routed here, its lines in corpus order: a
        # block holds the lines of one batch, and batches do not interleave.
        by_partition = {}
        for partition, block in blocks:
            by_partition.setdefault(partition, []).append(block)
        for partition in sorted(by_partition):
            found = sorted(by_partition[partition], key=lambda block: block[0])
            tokens = np.concatenate([b[1] for b in found])
            lengths = np.concatenate([b[2] for b in found])
            starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
            for piece in split_record(tokens, starts, max_bytes):
                yield partition, *piece

    return (
        tokenized.select("line_ids", "lengths", "ids", "words")
        .mapInArrow(encode, ENCODED_SCHEMA)
        .rdd.map(block)
        .partitionBy(tasks, lambda partition: partition % tasks)
        .mapPartitions(assemble, preservesPartitioning=True)
    )


def split_record(tokens, starts, max_bytes: int):
    """A training partition's ``tokens`` and sentence ``starts`` as pieces ``(tokens,
    starts)`` of at most ``max_bytes`` each, cut between sentences (a sentence longer than
    that is a piece alone); each piece's starts count from its first token."""
    if len(tokens) * tokens.itemsize + len(starts) * starts.itemsize <= max_bytes:
        yield tokens, starts
        return
    ends = np.append(starts[1:], len(tokens))
    # Bytes of sentences 0..i, with their starts: a piece is a run of sentences whose
    # cumulative cost grows by at most max_bytes.
    cost = ends * tokens.itemsize + np.arange(1, len(starts) + 1) * starts.itemsize
    first, before = 0, 0
    while first < len(starts):
        last = max(int(np.searchsorted(cost, before + max_bytes, side="right")), first + 1)
        begin, end = starts[first], ends[last - 1]
        yield tokens[begin:end], starts[first:last] - begin
        first, before = last, int(cost[last - 1])


def join_pieces(pieces):
    """``(tokens, starts)`` of a training partition from its :func:`split_record` pieces, in
    order."""
    if len(pieces) == 1:
        return pieces[0]
    offsets = np.cumsum([0] + [len(tokens) for tokens, _ in pieces[:-1]])
    tokens = np.concatenate([tokens for tokens, _ in pieces])
    starts = np.concatenate([s + o for (_, s), o in zip(pieces, offsets, strict=True)])
    return tokens, starts.astype(np.int64, copy=False)


def cut_sentences(starts, n_tokens: int, max_length: int):
    """Sentence starts after cutting each sentence of ``starts`` (over ``n_tokens`` tokens)
    into pieces of at most ``max_length`` tokens."""
    ends = np.append(starts[1:], n_tokens)
    pieces = -(-(ends - starts) // max_length)  # ceil(length / max_length)
    first_piece = np.repeat(np.cumsum(pieces) - pieces, pieces)
    offsets = np.arange(int(pieces.sum()), dtype=np.int64) - first_piece
    return np.repeat(starts, pieces) + offsets * max_length


def encode_lines(lines, vocab: Vocabulary, tokenizer):
    """Encode text lines to ``(tokens int32, sentence_starts int64)``, OOV words dropped."""
    index = vocab.index
    ids, lengths = [], []
    for line in lines:
        encoded = [index[t] for t in tokenizer(line) if t in index]
        if encoded:
            ids.extend(encoded)
            lengths.append(len(encoded))
    tokens = np.array(ids, dtype=np.int32)
    starts = (
        np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        if lengths
        else np.zeros(0, np.int64)
    )
    return tokens, starts


def split_lines(lines, partitions: int):
    """Line ``i`` goes to partition ``i % partitions`` (the Spark job's assignment)."""
    return [lines[p::partitions] for p in range(partitions)]
