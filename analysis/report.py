"""The report: every figure and table for the kinds present, and index.html."""
import html
import os

from .figures import DRAWERS, snapshots
from .results import Results


def build(results_path, out):
    res = Results(results_path)
    os.makedirs(out, exist_ok=True)
    arts, notes = [], []
    for kind in res.kinds():
        drawer = DRAWERS.get(kind)
        if drawer is None:
            notes.append(f"experiment kind '{kind}' has no figures yet; its rows are in the file")
            continue
        made = drawer(res, out)
        if not made:
            notes.append(f"'{kind}': no finished point to draw")
        arts += made
    arts += snapshots(res, out)
    missing = res.missing_summary()
    if missing:
        notes.append("partial results: " + ", ".join(f"{n} point{'s' if n > 1 else ''} {s}"
                                                      for s, n in sorted(missing.items())) +
                     " (drawn without them)")
    write_index(res, out, arts, notes)
    return res, arts, notes


def write_index(res, out, arts, notes):
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>hksweep report</title>",
             "<style>body{font-family:sans-serif;max-width:1200px;margin:2em auto}img{max-width:100%}"
             "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;font-size:13px}</style>",
             "</head><body>", f"<h1>hksweep report: {html.escape(res.path)}</h1>",
             f"<p>{len(res)} points; experiment kinds: {html.escape(', '.join(res.kinds()))}</p>"]
    for n in notes:
        parts.append(f"<p><b>Note:</b> {html.escape(n)}</p>")
    for a in arts:
        parts.append(f"<h2>{html.escape(a['title'])}</h2>")
        if a["kind"] == "figure":
            png = os.path.basename([f for f in a["files"] if f.endswith(".png")][0])
            parts.append(f"<img src='{html.escape(png)}' alt='{html.escape(a['title'])}'>")
        else:
            parts.append("<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in a["header"]) + "</tr>")
            for r in a["rows"]:
                parts.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>")
            parts.append("</table>")
        parts.append("<p>" + " ".join(f"<a href='{html.escape(os.path.basename(f))}'>{html.escape(os.path.basename(f))}</a>"
                                      for f in a["files"]) + "</p>")
    parts.append("<h2>Provenance</h2>")
    keys = ["config_path", "host", "git_commit", "mpi_world_size", "blas_core", "dgemm_gflops_per_rank",
            "mpi_library", "hdf5_version", "started"]
    parts.append("<table><tr><th>run</th>" + "".join(f"<th>{k}</th>" for k in keys) + "</tr>")
    for run, attrs in sorted(res.provenance.items()):
        parts.append(f"<tr><td>{html.escape(run)}</td>" +
                     "".join(f"<td>{html.escape(str(attrs.get(k, '')))}</td>" for k in keys) + "</tr>")
    parts.append("</table></body></html>")
    with open(os.path.join(out, "index.html"), "w") as f:
        f.write("\n".join(parts))
