"""The quick-start job, with tiny sizes, on the shared test session."""

import re

from sparknn.demo import QUERIES, DemoSettings, run_demo


def test_demo_prints_neighbour_tables(spark, dubliners_path, capsys):
    settings = DemoSettings.quick()
    run_demo(spark, dubliners_path, settings)
    out = capsys.readouterr().out
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split() == list(QUERIES))
    rows = lines[header + 2 : header + 2 + settings.neighbours]
    for row in rows:
        cells = re.findall(r"(\S+) (-?\d\.\d{3})", row)
        assert len(cells) == len(QUERIES), row
    # Each column is sorted by similarity, most similar first.
    scores = [[float(s) for _, s in re.findall(r"(\S+) (-?\d\.\d{3})", row)] for row in rows]
    for column in zip(*scores, strict=True):
        assert list(column) == sorted(column, reverse=True)
