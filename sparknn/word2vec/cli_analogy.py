"""``sparknn analogy MODEL a b c``: solve a : b :: c : ? (3CosAdd or 3CosMul)."""

from sparknn.config import positive_int
from sparknn.word2vec.cli_neighbors import print_table
from sparknn.word2vec.vectors import ANALOGY_METHODS, load_vectors


def add_arguments(parser):
    parser.add_argument("model", help="sparknn output directory or word2vec text/binary file")
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("c")
    parser.add_argument("--topn", type=positive_int, default=5, help="answers to show (default 5)")
    parser.add_argument("--method", choices=ANALOGY_METHODS, default="3cosadd")


def run(args) -> int:
    vectors = load_vectors(args.model)
    answers = vectors.analogy(args.a, args.b, args.c, method=args.method, topn=args.topn)
    print_table(f"{args.a} : {args.b} :: {args.c} : ?  ({args.method})", answers)
    return 0
