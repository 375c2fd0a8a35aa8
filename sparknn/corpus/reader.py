"""Read a text corpus with Spark: files, directories, globs (plain, .gz, .bz2) or Parquet.

Returns a DataFrame of lines with a global order, so downstream code can define examples
over the corpus as one stream whatever the partitioning.
"""

import glob as globlib
import re
from pathlib import Path

from sparknn.errors import SparknnError

BOM = "\ufeff"
# Project Gutenberg wraps each book in a license header and footer; these markers bound the text.
GUTENBERG_START = re.compile(r"^\*\*\* ?START OF (THE|THIS) PROJECT GUTENBERG.*$", re.M | re.I)
GUTENBERG_END = re.compile(r"^\*\*\* ?END OF (THE|THIS) PROJECT GUTENBERG.*$", re.M | re.I)


# The transcribers' credit that opens many books, just after the START marker.
GUTENBERG_CREDIT = re.compile(
    r"\A\s*(Produced by|E-?text prepared by|Transcribed (from|by)|This e-?(text|book) was)"
    r".*?(\n[ \t]*\n|\Z)",
    re.I | re.S,
)
# ... and the closing line some books repeat just before the END marker.
GUTENBERG_TAIL = re.compile(r"\n[ \t]*End of (the )?Project Gutenberg[^\n]*\s*\Z", re.I)


def strip_gutenberg(text: str) -> str:
    """Return the book between Project Gutenberg's START and END markers (or all of it),
    without the transcribers' credit that often opens it or the "End of the Project
    Gutenberg ..." line that often closes it."""
    start = GUTENBERG_START.search(text)
    end = GUTENBERG_END.search(text)
    begin = start.end() if start else 0
    finish = end.start() if end and end.start() > begin else len(text)
    book = text[begin:finish]
    if not start:
        return book
    return GUTENBERG_TAIL.sub("\n", GUTENBERG_CREDIT.sub("", book, count=1))


def decode(raw: bytes) -> str:
    """UTF-8 as Spark decodes it: an invalid byte becomes U+FFFD."""
    return bytes(raw).decode("utf-8", errors="replace")


def expand_paths(paths) -> list[str]:
    """Expand local globs and check that local inputs exist; URIs (hdfs://, s3a://) pass through."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    expanded = []
    for path in map(str, paths):
        if "://" in path and not path.startswith("file://"):
            expanded.append(path)
            continue
        local = path.removeprefix("file://")
        matches = sorted(globlib.glob(local)) if globlib.has_magic(local) else [local]
        matches = [m for m in matches if Path(m).exists()]
        if not matches:
            raise SparknnError(f"corpus not found: {path}")
        expanded.extend(str(Path(m).resolve()) for m in matches)
    return expanded


def read_text(spark, paths, strip_gutenberg_headers: bool = False, text_column: str = "text"):
    """Read ``paths`` into a DataFrame ``(line: string, line_id: long)`` in corpus order.

    Parquet inputs (``*.parquet`` files or directories of them) must have ``text_column``.
    A UTF-8 byte-order mark at the start of a file is removed. With
    ``strip_gutenberg_headers`` each file is read whole and cut to the book proper. Invalid
    UTF-8 comes out as U+FFFD either way, for the corpus builders to refuse.
    """
    from pyspark.sql import functions as F

    files = expand_paths(paths)
    parquet = [p for p in files if p.endswith(".parquet") or _is_parquet_dir(p)]
    plain = [p for p in files if p not in parquet]
    plain = [str(f) for p in plain for f in (_files_in(p) if Path(p).is_dir() else [p])]
    frames = []
    # One read per file, unioned in the order given: a multi-file read would order its
    # splits by size, and the corpus must be one stream in file order.
    for path in plain:
        if strip_gutenberg_headers:
            # The file goes to Python as bytes: as a string, invalid UTF-8 in it would fail
            # the task (and every retry of it) instead of becoming U+FFFD.
            whole = spark.read.text(path, wholetext=True)
            strip = F.udf(lambda raw: strip_gutenberg(decode(raw).lstrip(BOM)), "string")
            book = strip(F.col("value").cast("binary"))
            lines = whole.select(F.explode(F.split(book, "\n")).alias("line"))
        else:
            lines = spark.read.text(path).select(F.col("value").alias("line"))
        frames.append(lines)
    for path in parquet:
        frame = spark.read.parquet(path)
        if text_column not in frame.columns:
            raise SparknnError(
                f"Parquet input {path} has no {text_column!r} column (columns: {frame.columns})"
            )
        frames.append(frame.select(F.col(text_column).cast("string").alias("line")))
    if not frames:
        raise SparknnError(f"corpus not found: no files in {', '.join(map(str, files))}")
    df = frames[0]
    for frame in frames[1:]:
        df = df.unionByName(frame)
    # A BOM can only start a file, but a line-level strip is cheap and needs no file context.
    # (Done in the JVM, it also decodes the lines read as raw bytes: invalid UTF-8 -> U+FFFD.)
    df = df.select(F.regexp_replace("line", "^" + BOM, "").alias("line"))
    return df.withColumn("line_id", F.monotonically_increasing_id())


def _files_in(directory: str) -> list[str]:
    """Files of a directory in name order, skipping hidden and Hadoop marker files."""
    files = sorted(p for p in Path(directory).rglob("*") if p.is_file())
    return [str(p) for p in files if not p.name.startswith((".", "_"))]


def _is_parquet_dir(path: str) -> bool:
    p = Path(path)
    return p.is_dir() and any(p.glob("*.parquet"))
