"""Reading hksweep results files (the column tables written by `hksweep merge`)."""
import os

import h5py
import numpy as np


class AnalysisError(Exception):
    """A problem with an input file, said so a user can act on it."""


def _text(values):
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


class Results:
    """One or more results files (a row per point, with parameters, metrics, arrays and
    provenance), read as one table. hksweep merges the records of one sweep only (one
    kind, one config); the analysis reads the results of several sweeps side by side."""

    def __init__(self, paths):
        paths = [str(paths)] if isinstance(paths, (str, os.PathLike)) else [str(p) for p in paths]
        if not paths:
            raise AnalysisError("no results file given")
        self.path = ", ".join(paths)
        self.paths = paths
        self.ids, self.status, self.experiment, self.reason = [], [], [], []
        self.params, self.metrics, self.provenance = {}, {}, {}
        self.array_ids, self.snapshot_ids = set(), set()
        self._file_of = {}
        self._parts = []
        for path in paths:
            self._load(path)
        # one column per name over all files; a file without it gives NaN (numbers) or "" (text)
        for group, table in (("param", self.params), ("metric", self.metrics)):
            names = sorted({k for p in self._parts for k in p[group]})
            for k in names:
                text = any(p[group][k].dtype.kind in "US" for p in self._parts if k in p[group])
                pieces = []
                for p in self._parts:
                    col = p[group].get(k)
                    if col is None:
                        col = np.full(p["n"], "" if text else np.nan)
                    pieces.append(col.astype(str) if text else col)
                table[k] = np.concatenate(pieces) if pieces else np.array([])
        del self._parts

    def _load(self, path):
        if not os.path.exists(path):
            raise AnalysisError(f"{path}: no such file")
        try:
            f = h5py.File(path, "r")
        except OSError as e:
            raise AnalysisError(f"{path}: not a readable HDF5 file ({e})") from None
        with f:
            fmt = f.attrs.get("format", "")
            fmt = fmt.decode() if isinstance(fmt, bytes) else fmt
            if fmt != "hksweep-results-1" or "points" not in f:
                raise AnalysisError(f"{path}: not an hksweep results file (format attribute is '{fmt}'; "
                                    "make one with 'hksweep merge DIR')")
            pts = f["points"]
            for need in ("id", "status", "experiment", "param", "metric"):
                if need not in pts:
                    raise AnalysisError(f"{path}: /points/{need} is missing; the file is damaged or partial")
            ids = _text(pts["id"][...])
            n = len(ids)
            clash = set(ids) & set(self._file_of)
            if clash:
                raise AnalysisError(f"{path}: point {sorted(clash)[0]} is also in {self._file_of[sorted(clash)[0]]}; "
                                    "give each sweep's results once")
            part = {"param": {}, "metric": {}, "n": n}
            for k in pts["param"]:
                v = pts["param"][k][...]
                part["param"][k] = np.array(_text(v)) if v.dtype.kind in "OS" else v.astype(float)
            for k in pts["metric"]:
                part["metric"][k] = pts["metric"][k][...].astype(float)
            for group in ("param", "metric"):
                for k, col in part[group].items():
                    if len(col) != n:
                        raise AnalysisError(f"{path}: column {k} has {len(col)} rows, /points/id has {n}")
            self._parts.append(part)
            self.ids += ids
            self.status += _text(pts["status"][...])
            self.experiment += _text(pts["experiment"][...])
            self.reason += _text(pts["reason"][...]) if "reason" in pts else [""] * n
            if "provenance" in f:
                for run, g in f["provenance"].items():
                    self.provenance[run] = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in g.attrs.items()}
            if "arrays" in f:
                self.array_ids |= set(f["arrays"])
            if "snapshots" in f:
                self.snapshot_ids |= set(f["snapshots"])
            for pid in ids:
                self._file_of[pid] = path

    def __len__(self):
        return len(self.ids)

    def kinds(self):
        return sorted(set(self.experiment))

    def rows(self, kind, ok_only=True):
        """Indices of the rows of one experiment kind (finished ones by default)."""
        return [i for i, e in enumerate(self.experiment) if e == kind and (not ok_only or self.status[i] == "ok")]

    def array(self, point_id, name):
        with h5py.File(self._file_of[point_id], "r") as f:
            return f["arrays"][point_id][name][...]

    def array_names(self, point_id):
        with h5py.File(self._file_of[point_id], "r") as f:
            return sorted(f["arrays"][point_id]) if "arrays" in f and point_id in f["arrays"] else []

    def snapshot(self, point_id, name):
        with h5py.File(self._file_of[point_id], "r") as f:
            g = f["snapshots"][point_id]
            return g[name][...] if name in g else None

    def snapshot_names(self, point_id):
        with h5py.File(self._file_of[point_id], "r") as f:
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
        return {"hypernet": "hypernetwork", "mlp": "finite MLP", "mean_image": "mean image"}.get(method, method)

    def missing_summary(self):
        """What a partial run lacks: points not 'ok', by status."""
        counts = {}
        for s in self.status:
            if s != "ok":
                counts[s] = counts.get(s, 0) + 1
        return counts
