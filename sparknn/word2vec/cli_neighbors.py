"""``sparknn neighbors MODEL WORD [WORD...] --topn 10``: nearest neighbours as a table."""

from sparknn.config import positive_int
from sparknn.word2vec.vectors import load_vectors


def add_arguments(parser):
    parser.add_argument("model", help="sparknn output directory or word2vec text/binary file")
    parser.add_argument("words", nargs="+", metavar="WORD", help="query word(s)")
    parser.add_argument(
        "--topn", type=positive_int, default=10, help="neighbours per word (default 10)"
    )


def run(args) -> int:
    vectors = load_vectors(args.model)
    for word in args.words:
        print_table(f"nearest to {word!r}", vectors.most_similar(word, topn=args.topn))
    return 0


def print_table(title, rows):
    """Print ``[(word, score), ...]`` as a two-column table."""
    width = max([len("word"), *(len(word) for word, _ in rows)])
    print(title)
    print(f"  {'word':<{width}}  cosine")
    for word, score in rows:
        print(f"  {word:<{width}}  {score:.4f}")
