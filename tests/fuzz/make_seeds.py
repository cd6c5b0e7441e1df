"""Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/*): small
valid inputs of each reader and a few malformed ones. Run once; the corpora
are committed, and grow with every crash or new coverage scripts/fuzz keeps.
    /usr/bin/python3 tests/fuzz/make_seeds.py"""
import glob
import gzip
import io
import json
import os
import shutil
import struct
import tarfile

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
rng = np.random.default_rng(7)


def out(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# config: every committed config, and a few of the cases the loader refuses
for path in sorted(glob.glob(os.path.join(ROOT, "configs", "*.yaml"))) + [os.path.join(ROOT, "tests", "sanitize", "small.yaml")]:
    with open(path, "rb") as f:
        out("config", "seed-" + os.path.basename(path), f.read())
out("config", "seed-flow.yaml", b"experiment: kernel-convergence\nparams: {inits: 2, steps: 1}\nsweep: {grid: {width_f: [8, 16]}, seeds: 3}\n")
out("config", "seed-zip.yaml", b"experiment: hyperkernel-regression\nsweep:\n  zip:\n    distinct_x: [5, 6]\n    samples_per_x: [2, 3]\n")
out("config", "seed-bad.yaml", b"experiment: rotation\nparams: {methods: [hypernet, Kh], width_g: -3}\n")


# idx: byte 0 flags (bit 0 images gzipped, bit 1 labels gzipped), 4 bytes of
# images length (little endian), the images file, the labels file
def idx_pair(n, gz_img, gz_lab):
    img = struct.pack(">IIII", 0x803, n, 28, 28) + rng.integers(0, 256, size=n * 784, dtype=np.uint8).tobytes()
    lab = struct.pack(">II", 0x801, n) + rng.integers(0, 10, size=n, dtype=np.uint8).tobytes()
    if gz_img:
        img = gzip.compress(img)
    if gz_lab:
        lab = gzip.compress(lab)
    return bytes([gz_img | gz_lab << 1]) + struct.pack("<I", len(img)) + img + lab


out("idx", "seed-plain", idx_pair(2, 0, 0))
out("idx", "seed-gzip", idx_pair(3, 1, 1))
out("idx", "seed-mixed", idx_pair(1, 1, 0))
out("idx", "seed-count-mismatch", idx_pair(2, 0, 0)[:-1])


# npm: a .tgz with the ten digit files, one or two digits each
def npm_tgz(counts, cut=None):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for d, n in enumerate(counts):
            text = json.dumps({"data": np.round(rng.random(n * 784), 2).tolist()}).encode()
            info = tarfile.TarInfo(f"package/src/digits/{d}.json")
            info.size = len(text)
            tar.addfile(info, io.BytesIO(text))
    raw = buf.getvalue()
    return gzip.compress(raw[:cut] if cut else raw)


out("npm", "seed-ten-digits.tgz", npm_tgz([1] * 10))
out("npm", "seed-cut.tgz", npm_tgz([1] * 10, cut=20000))


# h5input: files with /x and /z as kernel and ntk read them
def h5(name, build):
    path = os.path.join(HERE, "corpus", "h5input", name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with h5py.File(path, "w") as f:
        build(f)


h5("seed-good.h5", lambda f: (f.create_dataset("x", data=rng.normal(size=(4, 3))),
                              f.create_dataset("z", data=rng.normal(size=(4, 2)))))
h5("seed-oned.h5", lambda f: (f.create_dataset("x", data=np.ones(4)), f.create_dataset("z", data=np.ones((4, 2)))))
h5("seed-nocols.h5", lambda f: (f.create_dataset("x", data=np.ones((4, 0))), f.create_dataset("z", data=np.ones((4, 2)))))
h5("seed-huge.h5", lambda f: (f.create_dataset("x", shape=(2**60 + 1, 2), dtype="f8", chunks=(1, 2)),
                              f.create_dataset("z", data=np.ones((4, 2)))))
h5("seed-nan.h5", lambda f: (f.create_dataset("x", data=np.array([[1.0, np.nan]])), f.create_dataset("z", data=np.ones((1, 1)))))
h5("seed-int.h5", lambda f: (f.create_dataset("x", data=np.arange(6).reshape(3, 2)), f.create_dataset("z", data=np.ones((3, 1), dtype=np.int8))))
print("seeds written under", os.path.join(HERE, "corpus"))
