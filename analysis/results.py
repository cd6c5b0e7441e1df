"""Reading hksweep results files (the column tables written by `hksweep merge`)."""
import os

import h5py
import numpy as np


class AnalysisError(Exception):
    """A problem with an input file, said so a user can act on it."""


def _text(values):
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


class Results:
    """One results.h5: a row per point, with parameters, metrics, arrays and provenance."""

    def __init__(self, path):
        self.path = str(path)
        if not os.path.exists(self.path):
            raise AnalysisError(f"{self.path}: no such file")
        try:
            f = h5py.File(self.path, "r")
        except OSError as e:
            raise AnalysisError(f"{self.path}: not a readable HDF5 file ({e})") from None
        with f:
            fmt = f.attrs.get("format", "")
            fmt = fmt.decode() if isinstance(fmt, bytes) else fmt
            if fmt != "hksweep-results-1" or "points" not in f:
                raise AnalysisError(f"{self.path}: not an hksweep results file (format attribute is '{fmt}'; "
                                    "make one with 'hksweep merge DIR')")
            pts = f["points"]
            for need in ("id", "status", "experiment", "param", "metric"):
                if need not in pts:
                    raise AnalysisError(f"{self.path}: /points/{need} is missing; the file is damaged or partial")
            self.ids = _text(pts["id"][...])
            self.status = _text(pts["status"][...])
            self.experiment = _text(pts["experiment"][...])
            self.reason = _text(pts["reason"][...]) if "reason" in pts else [""] * len(self.ids)
            self.params = {}
            for k in pts["param"]:
                v = pts["param"][k][...]
                self.params[k] = np.array(_text(v)) if v.dtype.kind in "OS" else v.astype(float)
            self.metrics = {k: pts["metric"][k][...].astype(float) for k in pts["metric"]}
            self.provenance = {run: {k: (v.decode() if isinstance(v, bytes) else v) for k, v in g.attrs.items()}
                               for run, g in f["provenance"].items()} if "provenance" in f else {}
            self.array_ids = set(f["arrays"]) if "arrays" in f else set()
            self.snapshot_ids = set(f["snapshots"]) if "snapshots" in f else set()
        n = len(self.ids)
        for name, col in list(self.params.items()) + list(self.metrics.items()):
            if len(col) != n:
                raise AnalysisError(f"{self.path}: column {name} has {len(col)} rows, /points/id has {n}")

    def __len__(self):
        return len(self.ids)

    def kinds(self):
        return sorted(set(self.experiment))

    def rows(self, kind, ok_only=True):
        """Indices of the rows of one experiment kind (finished ones by default)."""
        return [i for i, e in enumerate(self.experiment) if e == kind and (not ok_only or self.status[i] == "ok")]

    def array(self, point_id, name):
        with h5py.File(self.path, "r") as f:
            return f["arrays"][point_id][name][...]

    def array_names(self, point_id):
        with h5py.File(self.path, "r") as f:
            return sorted(f["arrays"][point_id]) if "arrays" in f and point_id in f["arrays"] else []

    def snapshot(self, point_id, name):
        with h5py.File(self.path, "r") as f:
            g = f["snapshots"][point_id]
            return g[name][...] if name in g else None

    def snapshot_names(self, point_id):
        with h5py.File(self.path, "r") as f:
            try:
                return sorted(f["snapshots"][point_id])
            except KeyError:
                return []

    def group(self, rows, keys, metric):
        """Mean, std and count of a metric over rows grouped by parameter values.
        Returns {tuple of key values: (mean, std, count)}, NaNs skipped."""
        out = {}
        for i in rows:
            key = tuple(self.params[k][i] for k in keys)
            out.setdefault(key, []).append(self.metrics.get(metric, np.full(len(self), np.nan))[i])
        stats = {}
        for key, vals in out.items():
            v = np.array([x for x in vals if np.isfinite(x)])
            stats[key] = (v.mean() if len(v) else np.nan, v.std(ddof=1) if len(v) > 1 else 0.0, len(v))
        return stats

    def kernel_table(self):
        """The kernels of the binary that wrote the file, from its kernel table (provenance
        attribute kernel_table): [(name, label, between_points)], in table order. A file
        without it: the kernels that have metrics (jitter_<name>, written for every fit)."""
        for prov in self.provenance.values():
            text = prov.get("kernel_table", "")
            if text:
                rows = [entry.split("|", 2) for entry in text.split(";") if entry]
                return [(name, label, point == "1") for name, point, label in rows]
        names = sorted(k[len("jitter_"):] for k in self.metrics if k.startswith("jitter_"))
        return [(name, name, True) for name in names]

    def point_kernels(self):
        """Names of the kernels between points (x, z): those a kind can fit with."""
        return [name for name, _, point in self.kernel_table() if point]

    def label(self, method):
        """How figures and tables name a method: a kernel's label from the table, or a few fixed names."""
        for name, label, _ in self.kernel_table():
            if name == method:
                return label
        return {"hypernet": "hypernetwork", "mean_image": "mean image"}.get(method, method)

    def missing_summary(self):
        """What a partial run lacks: points not 'ok', by status."""
        counts = {}
        for s in self.status:
            if s != "ok":
                counts[s] = counts.get(s, 0) + 1
        return counts
