"""``sparknn generate MODEL --seed-text ... --temperature 0.5 --length 400``."""

import numpy as np

from sparknn.backend import BACKENDS
from sparknn.charlm.model import load_charlm, sample
from sparknn.config import non_negative_int, positive_float, positive_int


def add_arguments(parser) -> None:
    parser.add_argument("model", help="model.npz written by train_charlm.py, or its directory")
    parser.add_argument("--seed-text", default="The ", help="text that primes the model")
    parser.add_argument("--temperature", type=positive_float, default=0.5, help="lower is safer")
    parser.add_argument("--length", type=positive_int, default=400, help="characters to generate")
    parser.add_argument("--seed", type=non_negative_int, help="random seed for sampling")
    parser.add_argument("--backend", choices=BACKENDS, default="numpy")


def run(args) -> int:
    model, vocab = load_charlm(args.model, backend=args.backend)
    rng = np.random.default_rng(args.seed)
    text = sample(model, vocab, args.seed_text, args.length, args.temperature, rng)
    print(args.seed_text + text)
    return 0
