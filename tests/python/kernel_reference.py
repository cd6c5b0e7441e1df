"""Independent numpy evaluation of the kernels of docs/hyperkernel-math.md,
written from the formulas (not from the C code), for tests and benchmarks.
Everything is vectorised over all pairs of points."""
import numpy as np


def relu_dual(kxx, kyy, kxy):
    """V and Vd of the scaled ReLU for arrays of covariances (section 2)."""
    norm = np.sqrt(kxx * kyy)
    with np.errstate(invalid="ignore", divide="ignore"):
        c = np.where(norm > 0, kxy / np.where(norm > 0, norm, 1.0), 0.0)
    c = np.clip(c, -1.0, 1.0)
    t = np.arccos(c)
    v = norm / np.pi * (np.sin(t) + (np.pi - t) * c)
    vd = (np.pi - t) / np.pi
    # exact at c = 1, as the math doc asks: V = sqrt(kxx kyy), Vd = 1
    v = np.where(c >= 1, norm, v)
    vd = np.where(c >= 1, 1.0, vd)
    vd = np.where(norm > 0, vd, 0.0)
    return v, vd


def relu_net(s0, diag, depth):
    """GP kernel S and NTK T after `depth` ReLU layers (section 3)."""
    s, t = s0.copy(), s0.copy()
    dxx, dyy = np.meshgrid(diag, diag, indexing="ij")
    for _ in range(depth):
        v, vd = relu_dual(dxx, dyy, s)
        t = v + t * vd
        s = v
        # V(k, k, k) = k exactly: the diagonals stay (section 2)
    return s, t


def kernels(x, z, depth_f, depth_g, published_variant=False):
    """Sf, Tf, Kh, Th, Tmlp for points u_i = (x_i, z_i). With published_variant,
    Th leaves Sf out of the backward products (a known mistake; see th_published)."""
    n, dx = x.shape
    dz = z.shape[1]
    s0 = x @ x.T / dx
    sf, tf = relu_net(s0, np.diag(s0).copy(), depth_f)
    z0 = z @ z.T / dz
    sfx = np.diag(sf)
    zz = np.diag(z0)
    # K_1 and its diagonals
    k = sf * z0
    kd = sfx * zz
    ins = [z0]
    vds = []
    for _ in range(2, depth_g + 1):
        kxx, kyy = np.meshgrid(kd, kd, indexing="ij")
        v, vd = relu_dual(kxx, kyy, k)
        vds.append(vd)
        ins.append(v)
        k = sf * v
        kd = sfx * kd  # V(k, k, k) = k
    kh = k
    # Th = Tf * sum_l In_l * prod_{j=l..H-1} Sf * Vd(K_j)
    total = np.zeros_like(z0)
    for l in range(1, depth_g + 1):
        back = np.ones_like(z0)
        for j in range(l, depth_g):
            back = back * (1.0 if published_variant else sf) * vds[j - 1]
        total = total + ins[l - 1] * back
    th = tf * total
    cat = np.concatenate([x, z], axis=1)
    c0 = cat @ cat.T / (dx + dz)
    _, tmlp = relu_net(c0, np.diag(c0).copy(), depth_f + depth_g)
    return {"Sf": sf, "Tf": tf, "Kh": kh, "Th": th, "Tmlp": tmlp}



def th_published(x, z, depth_f, depth_g):
    """The variant of a published reference implementation (docs/hyperkernel-math.md,
    section 4, note): Tf times a g-NTK whose backward products leave out Sf,
    Tf * sum_l In_l * prod_{j=l..H-1} Vd(K_j). Wrong; kept so tests can show
    that they tell it from Th."""
    return kernels(x, z, depth_f, depth_g, published_variant=True)["Th"]
