"""How many concurrent work-items the word2vec kernel tolerates: the job's training scheme
on Dubliners (as tests/test_opencl_training.py runs it) with the OpenCL backend at several
``sgns_workers``, against the numpy backend.

    PYTHONPATH=. python bench/hogwild_workers.py [--workers 1,8,64,132,528]

Prints the loss per pair of each epoch and the correlation of the 200 most frequent words'
cosines with the numpy backend's (one work-item on a CPU: ~0.9; another seed of numpy
itself: ~0.75). Run on a GPU, where a warp's work-items update rows in lockstep.
"""

import argparse
from collections import Counter
from pathlib import Path

import numpy as np

from sparknn.backend import OpenCLBackend, set_backend
from sparknn.word2vec import (
    Settings,
    build_vocabulary,
    encode_lines,
    get_tokenizer,
    train_local,
)

DUBLINERS = Path(__file__).resolve().parents[1] / "sparknn" / "data" / "dubliners.txt"


def cosines(vectors, top=200):
    v = vectors[:top] / np.linalg.norm(vectors[:top], axis=1, keepdims=True)
    return (v @ v.T).ravel()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,8,64,132,528")
    args = parser.parse_args(argv)
    tokenizer = get_tokenizer("whitespace", lowercase=True)
    lines = DUBLINERS.read_text(encoding="utf-8").splitlines()
    vocab = build_vocabulary(Counter(t for line in lines for t in tokenizer(line)), min_count=5)
    parts = [encode_lines(lines, vocab, tokenizer)]
    settings = {"vector_size": 32, "epochs": 2, "seed": 3}

    want = train_local(vocab, parts, Settings(backend="numpy", **settings))
    print(f"vocabulary {len(vocab)}, tokens {len(parts[0][0])}")
    print(f"numpy            loss per pair {np.round(want.metadata['loss_per_pair_by_epoch'], 3)}")
    for workers in (int(w) for w in args.workers.split(",")):
        backend = OpenCLBackend(sgns_workers=workers)
        set_backend("opencl", backend)  # what train_local's get_backend("opencl") returns
        got = train_local(vocab, parts, Settings(backend="opencl", **settings))
        correlation = np.corrcoef(cosines(want.vectors), cosines(got.vectors))[0, 1]
        print(
            f"opencl {workers:>5} wi  loss per pair "
            f"{np.round(got.metadata['loss_per_pair_by_epoch'], 3)}  "
            f"cosine correlation {correlation:.3f}  ({backend.device_name})",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
