"""The quick-start main job (``make demo``): the classic networks through sparknn's API.

Later issues replace this with word2vec + char-LM on a local cluster.
"""


def main() -> int:
    from sparknn import __version__

    print(f"sparknn {__version__}: the network core is not in yet.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
