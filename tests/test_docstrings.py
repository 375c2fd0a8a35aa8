"""Docstrings state a contract, not measurements: figures go stale and nothing tests them, so
they live in bench/RESULTS.md and docs/ (DESIGN-NOTES.md, word2vec-design.md, dated), linked
from comments where it helps. A comment (in Python or an OpenCL kernel) may point at docs/
but quotes no figure either.

A docstring (of a module, class or function in sparknn/, read with ``ast``) quotes a
benchmark when it contains any of:
* a reference to the benchmarks: ``bench/`` (a script or RESULTS.md) or ``RESULTS.md``;
* a speed ratio: a number followed by ``x`` (``1.49x``, ``2.7-3.3x``; not ``6x16`` or ``0x1F``);
* a rate: a number followed by a unit per second (``words/s``, ``GB/s``, ``GFLOP/s``, ...);
* a percentage: a number followed by ``%``;
* a short duration: a number followed by ``us``, ``µs`` or ``ms``.
"""

import ast
import io
import re
import tokenize
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "sparknn"

BENCHMARK_FIGURES = {
    "benchmark reference": re.compile(r"bench/[\w./-]*|RESULTS\.md"),
    "speed ratio": re.compile(r"(?<![\w.])\d+(?:\.\d+)?x(?!\w)"),
    "rate": re.compile(r"\d[\d.,]*\s*(?:[kKMG]\s*)?[A-Za-z]+/s\b"),
    "percentage": re.compile(r"\d[\d.]*\s*%"),
    "duration": re.compile(r"\d[\d.]*\s*(?:us|µs|ms)\b"),
}


def benchmark_figures(text: str) -> list[str]:
    """What in ``text`` quotes a benchmark: ``kind: 'match'`` for each occurrence."""
    return [
        f"{kind}: {found.group()!r}"
        for kind, pattern in BENCHMARK_FIGURES.items()
        for found in pattern.finditer(text)
    ]


def docstrings(path: Path):
    """``(qualified name, docstring)`` of the module and every class and function in it."""
    tree = ast.parse(path.read_text(encoding="utf-8"))

    def walk(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                name = f"{prefix}.{child.name}"
                if text := ast.get_docstring(child, clean=False):
                    yield name, text
                yield from walk(child, name)

    module = str(path.relative_to(PACKAGE.parent))
    if text := ast.get_docstring(tree, clean=False):
        yield module, text
    yield from walk(tree, module)


@pytest.mark.parametrize(
    "text, kinds",
    [
        ("the kernel alone trains 1.49x the words/s", ["speed ratio"]),
        ("one core trains 406,673 words/s", ["rate"]),
        ("frames 2.7-3.3x faster (3.0-3.7 vs 1.1 GB/s)", ["speed ratio", "rate"]),
        ("Measured (bench/RESULTS.md): fewer rows", ["benchmark reference"]),
        ("see bench/kernels.py", ["benchmark reference"]),
        ("element by element (20-30% faster here)", ["percentage"]),
        ("PoCL's ~30 us per kernel launch", ["duration"]),
        ("a 6x16 register tile, mask 0x1F, LSTM(128), sample 1e-3, 2 partitions", []),
        ("returns ``[(word, score), ...]``; x times 2 for 2x2 blocks", []),
    ],
)
def test_the_rule_finds_figures_and_only_figures(text, kinds):
    assert [found.split(":")[0] for found in benchmark_figures(text)] == kinds


def test_no_docstring_in_sparknn_quotes_benchmark_figures():
    offenders = [
        f"{name}: {found}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for name, text in docstrings(path)
        for found in benchmark_figures(text)
    ]
    assert not offenders, "docstrings quoting benchmarks:\n" + "\n".join(offenders)


def comments(path: Path):
    """``(path:line, comment)`` of every comment in a Python or OpenCL C source file."""
    text = path.read_text(encoding="utf-8")
    where = str(path.relative_to(PACKAGE.parent))
    if path.suffix == ".py":
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == tokenize.COMMENT:
                yield f"{where}:{token.start[0]}", token.string
    else:  # C: // to the end of the line, /* ... */
        for found in re.finditer(r"//[^\n]*|/\*.*?\*/", text, re.DOTALL):
            line = text.count("\n", 0, found.start()) + 1
            yield f"{where}:{line}", found.group()


def test_no_comment_in_sparknn_quotes_benchmark_figures():
    sources = [*PACKAGE.rglob("*.py"), *PACKAGE.rglob("*.cl")]
    offenders = [
        f"{where}: {found}"
        for path in sorted(sources)
        for where, text in comments(path)
        for found in benchmark_figures(text)
    ]
    assert not offenders, "comments quoting benchmarks:\n" + "\n".join(offenders)
