"""The Gram-assembly baseline of bench/run: Th on the same inputs as
bench_gram, every entry (bench_gram fills the whole matrix too), by the
blocked numpy evaluation of bench/numpy_kernels.py (f on the distinct x, the
g recursion in row blocks of 256), best of 3 like bench_gram; the distinct x
are found once before the timing, as bench_gram finds them when it loads. Threads: numpy's
BLAS and the elementwise work run as the environment says (bench/run gives it
one BLAS thread, like one hksweep rank)."""
import sys
import time

import h5py
import numpy as np

from numpy_kernels import distinct, gram

if __name__ == "__main__":
    with h5py.File(sys.argv[1]) as f:
        x, z = f["x"][...], f["z"][...]
    # the distinct x once, outside the timing, as bench_gram finds them when it loads the data
    d = distinct(x)
    # the result's memory once, outside the timing, as bench_gram allocates its matrix once and refills it
    th = np.empty((x.shape[0], x.shape[0]))
    th.fill(0)
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        gram(x, z, x, z, 2, 3, block=256, want_kh=False, distinct_a=d, distinct_b=d, out=th)
        best = min(best, time.perf_counter() - t0)
    n = x.shape[0]
    idx = np.arange(n)
    u, v = 1 + (idx * 7919 % 1000) / 1000, 1 + (idx * 104729 % 997) / 997   # bench_gram's weights
    print(f"numpy n={n} seconds={best:.3f} entries_per_second={n * n / best:.4g} check={u @ th @ v:.17g}")
