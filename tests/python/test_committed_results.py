"""The results committed under docs/results/<config>/ (scripts/publish-results):
every table parses, its CSV and Markdown agree, it has the columns the
analysis writes (drawn again from the committed results.h5 with today's
analysis, cell for cell), and its provenance names a commit of this
repository that is an ancestor of the checkout. Where the point records were
committed too (records/, for continuing a sweep elsewhere), hksweep merge
verifies each one's checksum and they give the same results as results.h5."""
import csv
import json
import os
import subprocess
import sys

import pytest

from conftest import hk, read_results
from test_analysis import figure_content

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RESULTS = os.path.join(ROOT, "docs", "results")
PUBLISHED = sorted(d for d in os.listdir(RESULTS) if os.path.isdir(os.path.join(RESULTS, d))) \
    if os.path.isdir(RESULTS) else []


def test_there_are_committed_results():
    assert PUBLISHED, "docs/results/ holds no published config"


def read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows, f"{path} is empty"
    return rows[0], rows[1:]


def read_md(path):
    lines = [line.rstrip("\n") for line in open(path) if line.startswith("|")]
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
    assert len(cells) >= 2 and set("".join(cells[1])) <= set("-: "), f"{path}: no Markdown table"
    return cells[0], cells[2:]


@pytest.mark.parametrize("name", PUBLISHED)
def test_published_tables_parse_and_name_a_commit(name, tmp_path):
    d = os.path.join(RESULTS, name)
    prov = json.load(open(os.path.join(d, "provenance.json")))
    assert prov["config"] == name and prov["commits"], prov
    for commit in prov["commits"]:
        assert len(commit) == 40 and all(c in "0123456789abcdef" for c in commit), commit
        assert subprocess.run(["git", "-C", ROOT, "cat-file", "-e", f"{commit}^{{commit}}"]).returncode == 0, \
            f"{name}: commit {commit} is not in this repository"
        assert subprocess.run(["git", "-C", ROOT, "merge-base", "--is-ancestor", commit, "HEAD"]).returncode == 0, \
            f"{name}: commit {commit} is not an ancestor of HEAD"
    assert prov["ranks"] and prov["blas_core"] and prov["wall_seconds"] > 0 and sum(prov["points"].values()) > 0
    tables = sorted(f[:-4] for f in os.listdir(d) if f.endswith(".csv"))
    assert tables, f"{name}: no tables"
    for t in tables:
        header, rows = read_csv(os.path.join(d, f"{t}.csv"))
        assert rows and all(len(r) == len(header) for r in rows), (name, t)
        md_header, md_rows = read_md(os.path.join(d, f"{t}.md"))
        assert md_header == header and md_rows == rows, (name, t)
    # today's analysis draws the same tables from the committed results
    assert prov["results_h5"] == "results.h5", f"{name}: results.h5 was too large to commit"
    proc = subprocess.run([sys.executable, "-m", "analysis", "report", os.path.join(d, "results.h5"),
                           "--out", tmp_path], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    drawn = sorted(f[:-4] for f in os.listdir(tmp_path) if f.endswith(".csv"))
    assert drawn == tables, (name, drawn, tables)
    for t in tables:
        assert read_csv(tmp_path / f"{t}.csv") == read_csv(os.path.join(d, f"{t}.csv")), (name, t)
    drawn_figs = sorted(f for f in os.listdir(tmp_path) if f.endswith(".png"))
    assert drawn_figs and drawn_figs == sorted(f for f in os.listdir(d) if f.endswith(".png")), (name, drawn_figs)
    # the image kinds' MSE figure draws each method as a line across what the sweep varies (U, or the
    # width in a width sweep), not a single point per method
    for fig in (f[:-4] for f in drawn_figs if f.endswith("_mse.png")):
        assert len(figure_content(tmp_path, fig)) == 1, (name, fig)     # one panel, not blank
        assert polylines(tmp_path / f"{fig}.svg", points=3) >= 3, (name, fig)


def polylines(svg, points):
    """How many drawn lines (matplotlib's line2d groups) pass through at least
    `points` points: a method's curve across three widths or U values does, a
    legend sample (two points) or an error bar does not."""
    import xml.etree.ElementTree as ET
    ns = "{http://www.w3.org/2000/svg}"
    count = 0
    for g in ET.parse(svg).getroot().iter(ns + "g"):
        path = g.find(ns + "path")
        if g.get("id", "").startswith("line2d_") and path is not None and path.get("d", "").count("L") >= points - 1:
            count += 1
    return count


@pytest.mark.parametrize("name", PUBLISHED)
def test_published_records_merge_to_the_published_results(name, tmp_path):
    d = os.path.join(RESULTS, name)
    prov = json.load(open(os.path.join(d, "provenance.json")))
    if not os.path.isdir(os.path.join(d, "records")):
        # published before records were, or too large: then provenance says so
        assert prov.get("records") is None, f"{name}: provenance names records that are not there"
        return
    assert prov["records"] == "records"
    proc = hk("merge", os.path.join(d, "records"), "--out", tmp_path / "merged.h5")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    published = read_results(os.path.join(d, "results.h5"))
    assert len(published) == len(os.listdir(os.path.join(d, "records", "points")))
    merged = read_results(tmp_path / "merged.h5")
    assert sorted(merged) == sorted(published)
    same = lambda v, w: v == w or (isinstance(v, float) and v != v and w != w)   # NaN where NaN
    for pid, row in published.items():
        assert merged[pid]["status"] == row["status"] and merged[pid]["param"].keys() == row["param"].keys(), pid
        assert all(same(v, row["param"][k]) for k, v in merged[pid]["param"].items()), pid
        assert merged[pid]["metric"].keys() == row["metric"].keys() and len(row["metric"]) > 3, pid
        assert all(same(v, row["metric"][k]) for k, v in merged[pid]["metric"].items()), pid
