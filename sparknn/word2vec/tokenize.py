"""Split a line of text into tokens: by whitespace (default) or a Unicode word pattern.

Both tokenizers are plain Python line by line, so that counting and encoding (on executors),
the single-process trainer and the benchmarks all see exactly the same tokens.
:meth:`Tokenizer.arrays` gives the same tokens for an Arrow array of lines; for the
whitespace tokenizer it splits in Arrow every line on which Arrow's ASCII functions agree
with Python's ``str.lower``/``str.split`` (see :func:`_arrow_splits`).
"""

import re

import numpy as np

from sparknn.errors import SparknnError

TOKENIZERS = ("whitespace", "unicode")
# Letters/digits, keeping inner apostrophes and hyphens ("don't", "well-known").
_UNICODE_WORD = re.compile(r"\w+(?:['’\-]\w+)*")
# ASCII characters that Python's str.split takes for whitespace and Arrow's
# ascii_split_whitespace does not (the information separators); Arrow's other whitespace
# (\t \n \v \f \r and space) is Python's too.
_SEPARATORS_ONLY_PYTHON_SPLITS = "[\x1c-\x1f]"


class Tokenizer:
    """A function ``line -> list[str]``; :meth:`arrays` applies it to an Arrow array of
    lines."""

    def __init__(self, split, whitespace: bool = False, lowercase: bool = False):
        self.split = split
        self.whitespace = whitespace  # ``split`` is str.split, after str.lower if lowercase
        self.lowercase = lowercase

    def __call__(self, line: str) -> list[str]:
        return self.split(line)

    def arrays(self, lines):
        """``lines`` (an Arrow string array; a null is an empty line) as an Arrow
        ``list<string>`` array: each line's tokens, exactly as calling this tokenizer on it
        gives them."""
        import pyarrow as pa
        import pyarrow.compute as pc

        lines = pc.fill_null(lines, "")
        if self.whitespace:
            plain = pc.and_(
                pc.string_is_ascii(lines),
                pc.invert(pc.match_substring_regex(lines, _SEPARATORS_ONLY_PYTHON_SPLITS)),
            ).to_numpy(zero_copy_only=False)
        else:
            plain = np.zeros(len(lines), bool)
        if plain.all():
            return _arrow_splits(lines, self.lowercase)
        if not plain.any():
            return self._python_splits(lines)
        in_arrow, in_python = np.flatnonzero(plain), np.flatnonzero(~plain)
        both = pa.concat_arrays(
            [
                _arrow_splits(lines.take(in_arrow), self.lowercase),
                self._python_splits(lines.take(in_python)),
            ]
        )
        position = np.empty(len(lines), np.int64)  # each line's place in ``both``
        position[in_arrow] = np.arange(len(in_arrow))
        position[in_python] = len(in_arrow) + np.arange(len(in_python))
        return both.take(position)

    def _python_splits(self, lines):
        import pyarrow as pa

        return pa.array([self.split(line) for line in lines.to_pylist()], pa.list_(pa.string()))


def _arrow_splits(lines, lowercase: bool):
    """``line.lower().split()`` (or ``line.split()``) of each of ``lines``, all ASCII without
    \\x1c-\\x1f, in Arrow. Arrow keeps the empty strings before leading and after trailing
    whitespace (and gives an empty line one empty token), where Python drops them: they go."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if lowercase:
        lines = pc.ascii_lower(lines)
    split = pc.ascii_split_whitespace(lines)
    words = pc.list_flatten(split)
    owner = pc.list_parent_indices(split)
    kept = pc.not_equal(pc.binary_length(words), 0)
    words, owner = words.filter(kept), owner.filter(kept)
    per_line = np.bincount(owner.to_numpy(), minlength=len(lines))
    offsets = np.concatenate([[0], np.cumsum(per_line)]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), words.cast(pa.string()))


def _lower_split(line: str) -> list[str]:
    return line.lower().split()


def _unicode_words(line: str) -> list[str]:
    return _UNICODE_WORD.findall(line)


def _lower_unicode_words(line: str) -> list[str]:
    return _UNICODE_WORD.findall(line.lower())


def get_tokenizer(name: str = "whitespace", lowercase: bool = True) -> Tokenizer:
    """Return the :class:`Tokenizer` (a function ``line -> list[str]``) for ``name``."""
    if name not in TOKENIZERS:
        raise SparknnError(f"unknown tokenizer {name!r}; choose one of {', '.join(TOKENIZERS)}")
    if name == "whitespace":
        return Tokenizer(_lower_split if lowercase else str.split, True, lowercase)
    return Tokenizer(_lower_unicode_words if lowercase else _unicode_words)
