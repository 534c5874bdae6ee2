"""Change-point detection: detection rate vs confidence and step size, false positives, throughput.

Prints a table: for a single intensity step (rate r1 -> r2, 500 photons on each side) the fraction of
traces where a change point is found within 20 photons of the step, for each confidence level, and the
false change points per 10^5 photons on a constant-rate stream. Then throughput (photons/s) of the numba
search vs the pure-Python reference of tests/test_levels.py on a small input.
"""

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from tagstream.levels import find_change_points  # noqa: E402

CONF = (0.69, 0.90, 0.95, 0.99)


def step_trace(r1, r2, n_side, rng):
    d1 = rng.exponential(1 / r1, n_side)
    d2 = rng.exponential(1 / r2, n_side)
    return (np.cumsum(np.concatenate([d1, d2])) * 1e12).astype(np.int64)


def main(trials=200):
    rng = np.random.default_rng(0)
    print("detection rate (change point within 20 photons of a single step, 500 photons per side)")
    print("ratio  " + "  ".join(f"{c:>6.2f}" for c in CONF))
    for ratio in (1.2, 1.5, 2.0, 3.0, 5.0):
        traces = [step_trace(10000.0, 10000.0 / ratio, 500, rng) for _ in range(trials)]
        rates = []
        for c in CONF:
            hit = sum(any(abs(int(k) - 500) <= 20 for k in find_change_points(t, c)) for t in traces)
            rates.append(hit / trials)
        print(f"{ratio:5.1f}  " + "  ".join(f"{r:6.2f}" for r in rates))
    n = 200_000
    t = (np.cumsum(rng.exponential(1e-4, n)) * 1e12).astype(np.int64)
    print("false change points per 1e5 photons (constant rate): " +
          ", ".join(f"{c}: {find_change_points(t, c).size / n * 1e5:.1f}" for c in CONF))
    find_change_points(t[:5000], 0.95)
    t0 = time.perf_counter()
    find_change_points(t, 0.95)
    fast = n / (time.perf_counter() - t0)
    from test_levels import ref_find
    small = t[:1500]
    t0 = time.perf_counter()
    ref_find(small, 0.95)
    slow = small.size / (time.perf_counter() - t0)
    print(f"throughput: numba {fast / 1e6:.2f} Mphotons/s, pure-Python reference {slow / 1e3:.2f} kphotons/s, "
          f"ratio {fast / slow:.0f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
