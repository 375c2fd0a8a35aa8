"""Split a line of text into tokens: by whitespace (default) or a Unicode word pattern.

Both tokenizers are plain Python so that counting (on executors) and encoding (on
executors) and the benchmarks all see exactly the same tokens.
"""

import re

from sparknn.errors import SparknnError

TOKENIZERS = ("whitespace", "unicode")
# Letters/digits, keeping inner apostrophes and hyphens ("don't", "well-known").
_UNICODE_WORD = re.compile(r"\w+(?:['’\-]\w+)*")


def get_tokenizer(name: str = "whitespace", lowercase: bool = True):
    """Return a function ``line -> list[str]`` for tokenizer ``name``."""
    if name not in TOKENIZERS:
        raise SparknnError(f"unknown tokenizer {name!r}; choose one of {', '.join(TOKENIZERS)}")
    if name == "whitespace":
        if lowercase:
            return lambda line: line.lower().split()
        return str.split
    if lowercase:
        return lambda line: _UNICODE_WORD.findall(line.lower())
    return _UNICODE_WORD.findall
