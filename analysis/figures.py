"""Figures and tables per experiment kind. Each function takes a Results and an
output directory and returns the artefacts it wrote, as dicts with 'kind'
('figure' or 'table'), 'title', 'files' and for tables 'header' and 'rows'."""
import csv
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

CONVERGENCE_METRICS = [("ntk_dispersion", "NTK dispersion across initialisations"),
                       ("ntk_distance", "distance of the mean NTK to Th"),
                       ("ntk_change", "NTK change during training")]


def _save(fig, out, name):
    files = []
    for ext in ("png", "svg"):
        path = os.path.join(out, f"{name}.{ext}")
        fig.savefig(path, dpi=110, bbox_inches="tight")
        files.append(path)
    plt.close(fig)
    return files


def write_table(out, name, title, header, rows):
    """rows: lists of cells (already formatted strings)."""
    md = os.path.join(out, f"{name}.md")
    with open(md, "w") as f:
        f.write(f"# {title}\n\n| " + " | ".join(header) + " |\n|" + "---|" * len(header) + "\n")
        for r in rows:
            f.write("| " + " | ".join(r) + " |\n")
    path_csv = os.path.join(out, f"{name}.csv")
    with open(path_csv, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return {"kind": "table", "title": title, "files": [md, path_csv], "header": header, "rows": rows}


def _fmt(mean, std, count):
    if not np.isfinite(mean):
        return "n/a"
    return f"{mean:.4g} ± {std:.2g}" if count > 1 else f"{mean:.4g}"


def _slope(x, y):
    ok = (np.asarray(x) > 0) & (np.asarray(y) > 0) & np.isfinite(y)
    if ok.sum() < 2:
        return np.nan
    return np.polyfit(np.log(np.asarray(x)[ok]), np.log(np.asarray(y)[ok]), 1)[0]


# ---- kernel-convergence ------------------------------------------------------

def convergence(res, out):
    rows = res.rows("kernel-convergence")
    if not rows:
        return []
    arts = []
    depths = sorted({(res.params["depth_f"][i], res.params["depth_g"][i]) for i in rows})
    ns = sorted({res.params["width_f"][i] for i in rows})
    ms = sorted({res.params["width_g"][i] for i in rows})
    for L, H in depths:
        sel = [i for i in rows if res.params["depth_f"][i] == L and res.params["depth_g"][i] == H]
        # heatmaps over (n, m), one panel per metric, on a shared log colour scale per metric
        fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
        for ax, (metric, label) in zip(axes, CONVERGENCE_METRICS):
            stats = res.group(sel, ["width_f", "width_g"], metric)
            grid = np.full((len(ns), len(ms)), np.nan)
            for (n, m), (mean, _, _) in stats.items():
                grid[ns.index(n), ms.index(m)] = mean
            finite = grid[np.isfinite(grid) & (grid > 0)]
            norm = matplotlib.colors.LogNorm(vmin=finite.min(), vmax=finite.max()) if len(finite) else None
            im = ax.imshow(grid, origin="lower", cmap="viridis", norm=norm, aspect="auto")
            for a in range(len(ns)):
                for b in range(len(ms)):
                    if np.isfinite(grid[a, b]):
                        ax.text(b, a, f"{grid[a, b]:.2g}", ha="center", va="center", color="w", fontsize=8)
            ax.set_xticks(range(len(ms)), [str(int(m)) for m in ms])
            ax.set_yticks(range(len(ns)), [str(int(n)) for n in ns])
            ax.set_xlabel("width m of g")
            ax.set_ylabel("width n of f")
            ax.set_title(label, fontsize=10)
            fig.colorbar(im, ax=ax, shrink=0.8)
        fig.suptitle(f"Kernel convergence, L = {int(L)}, H = {int(H)} (mean over seeds)")
        arts.append({"kind": "figure", "title": f"Convergence heatmaps, L = {int(L)}, H = {int(H)}",
                     "files": _save(fig, out, f"convergence_heatmap_L{int(L)}_H{int(H)}")})
        # curves: the dually wide diagonal and both one-sided edges
        lines = {"both wide (diagonal)": [(n, m) for n, m in zip(ns, ms)],
                 f"g narrow (m = {int(ms[0])}), n grows": [(n, ms[0]) for n in ns],
                 f"f narrow (n = {int(ns[0])}), m grows": [(ns[0], m) for m in ms]}
        fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), sharex=False)
        for ax, (metric, label) in zip(axes, CONVERGENCE_METRICS):
            stats = res.group(sel, ["width_f", "width_g"], metric)
            for name, cells in lines.items():
                pts = [(c, stats[c]) for c in cells if c in stats]
                if len(pts) < 2:
                    continue
                x = np.array([c[1] if name.startswith("f narrow") else c[0] for c, _ in pts], float)
                y = np.array([s[0] for _, s in pts])
                e = np.array([s[1] for _, s in pts])
                line, = ax.plot(x, y, "o-", label=f"{name}: slope {_slope(x, y):.2f}")
                ax.fill_between(x, np.maximum(y - e, y * 0.05), y + e, alpha=0.2, color=line.get_color())
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("width of the growing network (n; m on the f-narrow edge)")
            ax.set_title(label, fontsize=10)
            ax.legend(fontsize=7)
        fig.suptitle(f"Against width, L = {int(L)}, H = {int(H)}: bands are ± 1 std over seeds")
        arts.append({"kind": "figure", "title": f"Convergence curves, L = {int(L)}, H = {int(H)}",
                     "files": _save(fig, out, f"convergence_curves_L{int(L)}_H{int(H)}")})
    header = ["depth_f", "depth_g", "width_f", "width_g", "seeds"] + [m for m, _ in CONVERGENCE_METRICS] + ["gp_distance"]
    table = []
    for L, H in depths:
        sel = [i for i in rows if res.params["depth_f"][i] == L and res.params["depth_g"][i] == H]
        per = {m: res.group(sel, ["width_f", "width_g"], m) for m, _ in CONVERGENCE_METRICS + [("gp_distance", "")]}
        for key in sorted(per["ntk_dispersion"]):
            cells = [str(int(L)), str(int(H)), str(int(key[0])), str(int(key[1])), str(per["ntk_dispersion"][key][2])]
            cells += [_fmt(*per[m][key]) for m, _ in CONVERGENCE_METRICS + [("gp_distance", "")]]
            table.append(cells)
    arts.append(write_table(out, "convergence_table", "Kernel convergence (mean ± std over seeds)", header, table))
    return arts


# ---- hyperkernel-regression ----------------------------------------------------

def regression(res, out):
    rows = res.rows("hyperkernel-regression")
    if not rows:
        return []
    kernels = [k for k in res.point_kernels() if f"mse_test_{k}" in res.metrics]
    keys = ["n_train_param", "depth_f", "depth_g"]
    res.params["n_train_param"] = res.params["distinct_x"] * res.params["samples_per_x"]
    header = ["N train", "depth_f", "depth_g", "seeds"] + [f"test MSE {k}" for k in kernels] + ["test MSE, mean predictor"]
    stats = {k: res.group(rows, keys, f"mse_test_{k}") for k in kernels}
    base = res.group(rows, keys, "mse_test_mean_predictor")
    table = []
    for key in sorted(base):
        table.append([str(int(key[0])), str(int(key[1])), str(int(key[2])), str(base[key][2])] +
                     [_fmt(*stats[k][key]) for k in kernels] + [_fmt(*base[key])])
    arts = [write_table(out, "regression_table", "Kernel regression: test MSE (mean ± std over seeds)", header, table)]
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for k in kernels:
        by_n = res.group(rows, ["n_train_param"], f"mse_test_{k}")
        x = np.array(sorted(by_n))[:, 0]
        y = np.array([by_n[(n,)][0] for n in x])
        e = np.array([by_n[(n,)][1] for n in x])
        ax.errorbar(x, y, yerr=e, marker="o", capsize=3, label=k)
    by_n = res.group(rows, ["n_train_param"], "mse_test_mean_predictor")
    x = np.array(sorted(by_n))[:, 0]
    ax.plot(x, [by_n[(n,)][0] for n in x], "k--", label="mean predictor")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("training points N")
    ax.set_ylabel("test MSE (mean over depths and seeds)")
    ax.legend()
    arts.append({"kind": "figure", "title": "Kernel regression: test MSE against N",
                 "files": _save(fig, out, "regression_mse")})
    return arts


# ---- hypernet-training ----------------------------------------------------------

def training(res, out):
    rows = res.rows("hypernet-training")
    rows = [i for i in rows if res.ids[i] in res.array_ids]
    if not rows:
        return []
    groups = {}
    for i in rows:
        key = (int(res.params["width_f"][i]), int(res.params["width_g"][i]))
        groups.setdefault(key, []).append(res.array(res.ids[i], "test_mse_per_epoch"))
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for (n, m), curves in sorted(groups.items()):
        c = np.array(curves)
        mean, std = c.mean(0), c.std(0)
        epochs = np.arange(c.shape[1])
        line, = ax.plot(epochs, mean, label=f"n = {n}, m = {m} ({len(curves)} seeds)")
        ax.fill_between(epochs, mean - std, mean + std, alpha=0.2, color=line.get_color())
    ax.set_xlabel("epoch")
    ax.set_ylabel("test MSE")
    ax.set_yscale("log")
    ax.legend(fontsize=8)
    arts = [{"kind": "figure", "title": "Finite hypernetworks: test MSE per epoch (± 1 std over seeds)",
             "files": _save(fig, out, "training_curves")}]
    header = ["width_f", "width_g", "seeds", "final test MSE", "final train MSE"]
    table = []
    final = res.group(rows, ["width_f", "width_g"], "mse_test_final")
    train = res.group(rows, ["width_f", "width_g"], "mse_train_final")
    for key in sorted(final):
        table.append([str(int(key[0])), str(int(key[1])), str(final[key][2]), _fmt(*final[key]), _fmt(*train[key])])
    arts.append(write_table(out, "training_table", "Finite hypernetworks after training (mean ± std over seeds)",
                            header, table))
    return arts


# ---- kernel snapshots --------------------------------------------------------

def snapshots(res, out, limit=4):
    arts = []
    for pid in sorted(res.snapshot_ids)[:limit]:
        names = res.snapshot_names(pid)
        if not names:
            continue
        fig, axes = plt.subplots(2, len(names), figsize=(4.5 * len(names), 8), squeeze=False)
        for col, name in enumerate(names):
            K = res.snapshot(pid, name)
            im = axes[0, col].imshow(K, cmap="magma")
            axes[0, col].set_title(f"{name} Gram matrix ({K.shape[0]} x {K.shape[1]})", fontsize=10)
            fig.colorbar(im, ax=axes[0, col], shrink=0.8)
            w = np.linalg.eigvalsh((K + K.T) / 2)[::-1]
            axes[1, col].semilogy(np.arange(1, len(w) + 1), np.clip(w, 1e-16, None))
            axes[1, col].set_xscale("log")
            axes[1, col].set_xlabel("index")
            axes[1, col].set_ylabel("eigenvalue")
            axes[1, col].set_title(f"{name} spectrum", fontsize=10)
        arts.append({"kind": "figure", "title": f"Kernel snapshot of point {pid}",
                     "files": _save(fig, out, f"snapshot_{pid}")})
    return arts


# ---- image-completion and image-inpainting --------------------------------------

FINITE = ["hypernet", "mlp"]


def _pixel_methods(res):
    """The methods of the image kinds: the kernels between points, in table order, then the finite networks."""
    return res.point_kernels() + FINITE


def _fits(res, rows, keys, methods, out, stem, kind):
    """What validation chose per method (ridge or lr, best epoch), whether a finite network was still
    improving at its last epoch, its parameter count; and the finite networks' loss curves."""
    arts = []
    header = keys + ["method", "seeds", "ridge or lr (median)", "best epoch", "epochs run", "still improving",
                     "parameters"]
    table = []
    for m in methods:
        finite = m in FINITE
        choice = f"lr_{m}" if finite else f"ridge_{m}"
        if choice not in res.metrics or not np.isfinite(res.metrics[choice][rows]).any():
            continue
        groups = {}
        for i in rows:
            groups.setdefault(tuple(res.params[k][i] for k in keys), []).append(i)
        for key in sorted(groups):
            idx = groups[key]
            col = lambda name: res.metrics.get(name, np.full(len(res), np.nan))[idx]
            chosen = col(choice)
            row = [str(int(v)) for v in key] + [res.label(m), str(len(idx)), f"{np.nanmedian(chosen):.3g}"]
            if finite:
                still = col(f"still_improving_{m}")
                row += [_fmt(np.nanmean(col(f"epochs_best_{m}")), np.nanstd(col(f"epochs_best_{m}")), len(idx)),
                        f"{np.nanmean(col(f'epochs_run_{m}')):.1f}", f"{int(np.nansum(still))} of {len(idx)}",
                        f"{int(round(np.nanmean(col(f'parameters_{m}'))))}"]
            else:
                row += ["", "", "", ""]
            table.append(row)
    if table:
        arts.append(write_table(out, f"{stem}_fits", f"{kind}: what the validation images chose, and whether a "
                                "finite network was still improving at its last epoch", header, table))
    # loss curves of the finite networks at the largest U (every seed)
    top = max(res.params["train_images"][i] for i in rows)
    curves = {}
    for i in rows:
        if res.params["train_images"][i] != top or res.ids[i] not in res.array_ids:
            continue
        names = res.array_names(res.ids[i])
        for m in FINITE:
            for part in ("train", "val"):
                if f"loss_{part}_per_epoch_{m}" in names:
                    curves.setdefault((m, part), []).append(res.array(res.ids[i], f"loss_{part}_per_epoch_{m}"))
    if curves:
        fig, ax = plt.subplots(figsize=(6.5, 4.2))
        for j, m in enumerate(FINITE):
            for part, style in (("train", "-"), ("val", "--")):
                for n, c in enumerate(curves.get((m, part), [])):
                    ax.plot(np.arange(len(c)), c, style, color=f"C{j}", alpha=0.7,
                            label=f"{res.label(m)}, {'training' if part == 'train' else 'validation'}" if n == 0 else None)
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel("MSE (pixels minus the prior)")
        ax.legend(fontsize=8)
        arts.append({"kind": "figure", "title": f"{kind}: loss per epoch of the finite networks kept, U = {int(top)} "
                     "(one line per seed; NaN after early stopping)", "files": _save(fig, out, f"{stem}_loss_curves")})
    return arts


def _varies(res, rows, key):
    """Whether a numeric parameter takes more than one value among rows (other kinds' NaNs ignored)."""
    if key not in res.params:
        return False
    vals = {float(res.params[key][i]) for i in rows if np.isfinite(res.params[key][i])}
    return len(vals) > 1


def _pixel_keys(res, rows):
    """U, and any other parameter that varies among the rows besides the seed."""
    return ["train_images"] + [k for k in ("context_pixels", "coords_per_image", "depth_f", "depth_g", "width_f",
                                           "width_g") if _varies(res, rows, k)]


def _paired(res, rows, keys, methods, out, stem, kind):
    """Each method's hidden-pixel MSE relative to Th's, paired by seed: within a seed every
    method sees the same images, so the spread of the difference is far smaller than that
    of either MSE, which the seeds' test images dominate."""
    if "Th" not in methods:
        return []
    others = [m for m in methods if m != "Th"]
    groups = {}
    for i in rows:
        groups.setdefault(tuple(res.params[k][i] for k in keys), []).append(i)
    th = res.metrics["mse_hidden_Th"]
    table = []
    for key in sorted(groups):
        cells = []
        for m in others:
            d = np.array([(res.metrics[f"mse_hidden_{m}"][i] - th[i]) / th[i] for i in groups[key]])
            d = d[np.isfinite(d)]
            cells.append(f"{100 * d.mean():+.3g} % ± {100 * d.std(ddof=1) if len(d) > 1 else 0:.2g} "
                         f"({int(np.sum(d > 0))} of {len(d)})" if len(d) else "")
        table.append([str(int(v)) for v in key] + [str(len(groups[key]))] + cells)
    header = keys + ["seeds"] + [f"{res.label(m)} vs Th" for m in others]
    return [write_table(out, f"{stem}_paired", f"{kind}: hidden-pixel MSE of each method relative to Th's, paired by "
                        "seed (same images): mean ± std over seeds, and in how many seeds Th was lower", header, table)]


def pixels(res, out, kind):
    rows = res.rows(kind)
    if not rows:
        return []
    stem = kind.replace("image-", "")
    methods = [m for m in _pixel_methods(res) if f"mse_hidden_{m}" in res.metrics and
               np.isfinite(res.metrics[f"mse_hidden_{m}"][rows]).any()] + ["mean_image"]
    keys = _pixel_keys(res, rows)
    arts = []
    for part, what in (("hidden", "hidden pixels"), ("whole", "whole image")):
        stats = {m: res.group(rows, keys, f"mse_{part}_{m}") for m in methods}
        header = keys + ["seeds"] + [f"MSE {res.label(m)}" for m in methods]
        table = []
        for key in sorted(stats["mean_image"]):
            table.append([str(int(v)) for v in key] + [str(stats["mean_image"][key][2])] +
                         [_fmt(*stats[m].get(key, (np.nan, 0, 0))) for m in methods])
        arts.append(write_table(out, f"{stem}_mse_{part}", f"{kind}: MSE on the {what} of held-out images "
                                f"(mean ± std over seeds)", header, table))
    arts += _paired(res, rows, keys, methods, out, stem, kind)
    arts += _fits(res, rows, keys, [m for m in methods if m != "mean_image"], out, stem, kind)
    # against U; in a width sweep (one U, several widths of f) against f's width instead
    by_width = not _varies(res, rows, "train_images") and _varies(res, rows, "width_f")
    xkey, xlabel = ("width_f", "width of f, n (g's width m grows with it)") if by_width else \
        ("train_images", "training images U")
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for m in methods:
        by_x = res.group(rows, [xkey], f"mse_hidden_{m}")
        u = np.array(sorted(by_x))[:, 0]
        y = np.array([by_x[(k,)][0] for k in u])
        e = np.array([by_x[(k,)][1] for k in u])
        style = dict(linestyle="--", color="k") if m == "mean_image" else {}
        ax.errorbar(u, y, yerr=e, marker="o", capsize=3, label=res.label(m), **style)
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("MSE on hidden pixels")
    ax.legend(fontsize=8)
    arts.append({"kind": "figure", "title": f"{kind}: hidden-pixel MSE against {'n' if by_width else 'U'} "
                 "(± 1 std over seeds)", "files": _save(fig, out, f"{stem}_mse")})
    # example images from the point with the most training images (first seed)
    with_examples = [i for i in rows if res.ids[i] in res.array_ids and
                     "examples_truth" in res.array_names(res.ids[i])]
    if with_examples:
        i = max(with_examples, key=lambda r: (res.params["train_images"][r], -res.params["seed"][r]))
        pid, names = res.ids[i], res.array_names(res.ids[i])
        cols = [("examples_input", "input"), ("examples_truth", "truth")] + \
               [(f"examples_{m}", res.label(m)) for m in _pixel_methods(res) if f"examples_{m}" in names] + \
               [(f"std_examples_{v}", f"std, {lab}") for v, lab in (("Kh", "hyper-GP"), ("ensemble", "Th ensemble"))
                if f"std_examples_{v}" in names]
        imgs = {name: res.array(pid, name) for name, _ in cols}
        n = imgs["examples_truth"].shape[0]
        fig, axes = plt.subplots(n, len(cols), figsize=(1.6 * len(cols), 1.7 * n), squeeze=False)
        cmap = plt.get_cmap("gray").copy()
        cmap.set_bad("#c04040")   # pixels the model does not see
        for r in range(n):
            for c_, (name, label) in enumerate(cols):
                ax = axes[r, c_]
                if name.startswith("std_"):   # uncertainty maps: their own scale, one per column
                    top = np.nanmax(imgs[name])
                    ax.imshow(imgs[name][r], cmap="viridis", vmin=0, vmax=top if top > 0 else 1)
                else:
                    ax.imshow(np.ma.masked_invalid(imgs[name][r]), cmap=cmap, vmin=0, vmax=1)
                ax.set_xticks([])
                ax.set_yticks([])
                if r == 0:
                    ax.set_title(label, fontsize=8)
        fig.suptitle(f"{kind}, U = {int(res.params['train_images'][i])}, seed {int(res.params['seed'][i])} "
                     "(red: hidden from the model)", fontsize=9)
        arts.append({"kind": "figure", "title": f"{kind}: example predictions (point {pid})",
                     "files": _save(fig, out, f"{stem}_examples")})
    # calibration of the posterior std: fraction of hidden pixels within 1 and 2 std
    cal = [k for k in ("calibration_1sd_Kh", "calibration_2sd_Kh", "calibration_1sd_ensemble",
                       "calibration_2sd_ensemble") if k in res.metrics and np.isfinite(res.metrics[k][rows]).any()]
    if cal:
        keys = _pixel_keys(res, rows)
        stats = {k: res.group(rows, keys, k) for k in cal}
        header = keys + ["seeds"] + [k.replace("calibration_", "within ").replace("sd_", " std, ") for k in cal]
        table = [[str(int(v)) if float(v).is_integer() else str(v) for v in key] + [str(stats[cal[0]][key][2])] +
                 [_fmt(*stats[k][key]) for k in cal] for key in sorted(stats[cal[0]])]
        arts.append(write_table(out, f"{stem}_calibration", f"{kind}: hidden pixels within 1 and 2 posterior std "
                                "(a calibrated Gaussian: 0.68 and 0.95)", header, table))
    return arts


def completion(res, out):
    return pixels(res, out, "image-completion")


def inpainting(res, out):
    return pixels(res, out, "image-inpainting")


# ---- rotation -------------------------------------------------------------------

def rotation(res, out):
    rows = res.rows("rotation")
    if not rows:
        return []
    arts = []
    keys = ["width_g"] + [k for k in ("depth_g", "width_f", "depth_f") if _varies(res, rows, k)]
    kernels = [k for k in res.point_kernels() if f"accuracy_test_{k}" in res.metrics and
               np.isfinite(res.metrics[f"accuracy_test_{k}"][rows]).any()]
    curves = {}
    for i in rows:
        if res.ids[i] in res.array_ids and "accuracy_test_per_epoch" in res.array_names(res.ids[i]):
            key = tuple(res.params[k][i] for k in keys)
            curves.setdefault(key, []).append(res.array(res.ids[i], "accuracy_test_per_epoch"))
    if curves:
        panels = sorted(curves)
        fig, axes = plt.subplots(1, len(panels), figsize=(3.3 * len(panels), 3.6), sharey=True, squeeze=False)
        for ax, key in zip(axes[0], panels):
            length = min(len(c) for c in curves[key])
            c = np.array([x[:length] for x in curves[key]])
            mean, std = np.nanmean(c, 0), np.nanstd(c, 0)
            epochs = np.arange(length)
            ax.plot(epochs, mean, color="C0", label="hypernetwork")
            ax.fill_between(epochs, mean - std, mean + std, alpha=0.25, color="C0")
            sel = [i for i in rows if tuple(res.params[k][i] for k in keys) == key]
            for j, k in enumerate(kernels):
                acc = np.nanmean(res.metrics[f"accuracy_test_{k}"][sel])
                ax.axhline(acc, color=f"C{j + 1}", linestyle="--", label=res.label(k))
            ax.axhline(1 / 12, color="gray", linestyle=":", label="chance")
            ax.set_ylim(0, 1)   # one accuracy scale for every panel
            ax.set_xlabel("epoch")
            ax.set_title(", ".join(f"{k} = {int(v)}" for k, v in zip(keys, key)) + f" ({len(c)} seeds)", fontsize=9)
        axes[0, 0].set_ylabel("test accuracy")
        axes[0, -1].legend(fontsize=7, loc="upper left")
        arts.append({"kind": "figure", "title": "rotation: test accuracy per epoch for each width of g "
                     "(± 1 std over seeds; dashed: kernel classifiers)", "files": _save(fig, out, "rotation_accuracy")})
    metrics = [("accuracy_test_hypernet", "hypernetwork, kept"), ("accuracy_test_mlp", "finite MLP, kept")] + \
              [(f"accuracy_test_{k}", res.label(k)) for k in kernels] + \
              [("accuracy_test_majority", "majority class")]
    metrics = [(m, l) for m, l in metrics if m in res.metrics and np.isfinite(res.metrics[m][rows]).any()]
    stats = {m: res.group(rows, keys, m) for m, _ in metrics}
    header = keys + ["seeds"] + [f"test accuracy {l}" for _, l in metrics]
    first = stats[metrics[0][0]]
    table = [[str(int(v)) for v in key] + [str(first[key][2])] + [_fmt(*stats[m][key]) for m, _ in metrics]
             for key in sorted(first)]
    arts.append(write_table(out, "rotation_accuracy", "rotation: test accuracy (mean ± std over seeds; chance 1/12)",
                            header, table))
    return arts


# ---- dynamics-convergence ------------------------------------------------------

def _cell_kind(n, m, diagonal):
    if (n, m) in diagonal:
        return "diagonal (n = 4 m)" if n == 4 * m else "diagonal"
    return "f wide, g narrow" if n > m * 16 else "g wide, f narrow"


def dynamics(res, out):
    """Per task (the regression task, image completion), trajectories, distance
    against width and the table; image completion's files end in _completion."""
    rows = [i for i in res.rows("dynamics-convergence") if res.ids[i] in res.array_ids]
    task = res.params.get("task", np.full(len(res), ""))
    arts = []
    for name, suffix, label in (("regression", "", ""), ("image-completion", "_completion", " (image completion)")):
        # results written before the task parameter existed are on the regression task
        mine = [i for i in rows if (task[i] or "regression") == name]
        if mine:
            arts += _dynamics_task(res, mine, out, suffix, label)
    return arts


def _dynamics_task(res, rows, out, suffix, label):
    cells = {}
    for i in rows:
        key = (int(res.params["width_f"][i]), int(res.params["width_g"][i]))
        cells.setdefault(key, []).append(i)
    ratios = {n / m for n, m in cells}
    # the diagonal: the cells whose n / m is the most common ratio
    counts = {r: sum(1 for n, m in cells if n / m == r) for r in ratios}
    ratio = max(counts, key=lambda r: (counts[r], r))
    diagonal = {c for c in cells if c[0] / c[1] == ratio}
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4))
    for (n, m), idx in sorted(cells.items()):
        steps = res.array(res.ids[idx[0]], "steps")
        d = np.array([res.array(res.ids[i], "distance_test") for i in idx])
        mean, std = d.mean(0), d.std(0)
        style = "-" if (n, m) in diagonal else "--"
        line, = axes[0].plot(steps[1:], mean[1:], style, marker="o", ms=3,
                             label=f"n = {n}, m = {m} ({_cell_kind(n, m, diagonal)})")
        axes[0].fill_between(steps[1:], np.maximum(mean[1:] - std[1:], 1e-6), mean[1:] + std[1:], alpha=0.15,
                             color=line.get_color())
        if (n, m) == max(diagonal):
            lk = np.mean([res.array(res.ids[i], "loss_train_kernel") for i in idx], 0)
            lf = np.array([res.array(res.ids[i], "loss_train_finite") for i in idx])
            axes[1].plot(steps[1:], lk[1:], "k-", lw=2, label="infinite width (closed form)")
            axes[1].plot(steps[1:], lf.mean(0)[1:], "C0o--", ms=3, label=f"finite, n = {n}, m = {m}")
    for (n, m), idx in sorted(cells.items()):
        if (n, m) in diagonal and (n, m) != max(diagonal) and (n, m) == min(diagonal):
            steps = res.array(res.ids[idx[0]], "steps")
            lf = np.array([res.array(res.ids[i], "loss_train_finite") for i in idx])
            axes[1].plot(steps[1:], lf.mean(0)[1:], "C3o:", ms=3, label=f"finite, n = {n}, m = {m}")
    axes[0].set(xscale="log", yscale="log", xlabel="gradient-descent step",
                ylabel="|f_finite - f_kernel| / |f_kernel| on test points")
    axes[0].legend(fontsize=7)
    axes[1].set(xscale="log", yscale="log", xlabel="gradient-descent step", ylabel="train loss")
    axes[1].legend(fontsize=8)
    arts = [{"kind": "figure", "title": f"Finite hypernetworks against the infinite-width trajectory{label} "
             "(mean ± 1 std over seeds; solid: both widths grow, dashed: one-sided)",
             "files": _save(fig, out, "dynamics_trajectories" + suffix)}]
    # distance at the last step against width along the diagonal, with its slope
    diag = sorted(diagonal)
    if len(diag) >= 2:
        x = np.array([n for n, _ in diag], dtype=float)
        y = np.array([np.mean([res.metrics["distance_test_final"][i] for i in cells[c]]) for c in diag])
        e = np.array([np.std([res.metrics["distance_test_final"][i] for i in cells[c]], ddof=1)
                      if len(cells[c]) > 1 else 0 for c in diag])
        fig, ax = plt.subplots(figsize=(6, 4.2))
        ax.errorbar(x, y, yerr=e, marker="o", capsize=3, label=f"diagonal, n = {int(ratio)} m: slope {_slope(x, y):.2f}")
        for edge_label, test in (("f wide, g narrow", lambda n, m: n / m > ratio),
                                 ("g wide, f narrow", lambda n, m: n / m < ratio)):
            edge = sorted(c for c in cells if test(*c))
            if edge:
                xe = np.array([max(c) for c in edge], dtype=float)
                ye = np.array([np.mean([res.metrics["distance_test_final"][i] for i in cells[c]]) for c in edge])
                ax.plot(xe, ye, "s--", label=f"{edge_label} (against the wide width)")
        ax.set(xscale="log", yscale="log", xlabel="width n of f (m of g on the g-wide edge)",
               ylabel="test-output distance at the last step")
        ax.legend(fontsize=8)
        arts.append({"kind": "figure", "title": f"Distance to the kernel trajectory at the last step against width{label}",
                     "files": _save(fig, out, "dynamics_distance_vs_width" + suffix)})
    header = ["width_f", "width_g", "cell", "seeds", "test distance (last step)", "max test distance", "train distance",
              "train loss finite", "train loss kernel", "reached global min", "NTK change"]
    table = []
    g = {k: res.group(rows, ["width_f", "width_g"], k) for k in
         ("distance_test_final", "distance_test_max", "distance_train_final", "loss_train_final_finite",
          "loss_train_final_kernel", "global_minimum_finite", "ntk_change")}
    for key in sorted(g["distance_test_final"]):
        n, m = int(key[0]), int(key[1])
        table.append([str(n), str(m), _cell_kind(n, m, diagonal), str(g["distance_test_final"][key][2])] +
                     [_fmt(*g[k][key]) for k in ("distance_test_final", "distance_test_max", "distance_train_final",
                                                 "loss_train_final_finite", "loss_train_final_kernel",
                                                 "global_minimum_finite", "ntk_change")])
    arts.append(write_table(out, "dynamics_table" + suffix,
                            f"Finite against infinite-width training{label} (mean ± std over seeds)", header, table))
    return arts


DRAWERS = {"kernel-convergence": convergence, "hyperkernel-regression": regression, "hypernet-training": training,
           "image-completion": completion, "image-inpainting": inpainting, "rotation": rotation,
           "dynamics-convergence": dynamics}
