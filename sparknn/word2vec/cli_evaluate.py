"""``sparknn evaluate MODEL --analogies FILE --pairs FILE``: the standard intrinsic checks."""

from sparknn.config import non_negative_int
from sparknn.errors import SparknnError
from sparknn.word2vec.vectors import load_vectors


def add_arguments(parser):
    parser.add_argument("model", help="sparknn output directory or word2vec text/binary file")
    parser.add_argument("--analogies", metavar="FILE", help="questions-words format file")
    parser.add_argument("--pairs", metavar="FILE", help="word1<TAB>word2<TAB>score file")
    parser.add_argument(
        "--restrict-vocab",
        type=non_negative_int,
        default=30000,
        help="analogy candidates: the N most frequent words (default 30000; 0: all)",
    )


def run(args) -> int:
    if not args.analogies and not args.pairs:
        raise SparknnError("give --analogies FILE and/or --pairs FILE")
    vectors = load_vectors(args.model)
    if args.analogies:
        accuracy, sections = vectors.evaluate_word_analogies(args.analogies, args.restrict_vocab)
        print(f"analogies ({args.analogies}):")
        print(f"  {'section':<28} {'correct':>8} {'total':>6} {'accuracy':>9} {'skipped':>8}")
        for s in sections:
            print(
                f"  {s['section']:<28} {s['correct']:>8} {s['total']:>6} "
                f"{s['accuracy']:>9.4f} {s['skipped']:>8}"
            )
    if args.pairs:
        result = vectors.evaluate_word_pairs(args.pairs)
        print(f"word pairs ({args.pairs}):")
        print(
            f"  spearman {result['spearman']:.4f}  pearson {result['pearson']:.4f}  "
            f"pairs {result['pairs']}  oov {result['oov_ratio']:.1f}%"
        )
    return 0
