"""Hot kernels on dense data, as ratios to references measured in the same run.

    python bench/bench_kernels.py [--seconds 10] [--repeat 3]

* microtime kernel (tagstream.kernels.microtime) on a dense stream (1 MHz laser, a sync tag on every
  pulse, two SPADs at 20 kcounts/s: the issue-14 120 s file of 125 M tags): ns per record, and the ratio to one numpy pass over the same timestamps
  (np.sum, the memory-bandwidth floor of touching every record once).
* g2 (tagstream.kernels.g2 through G2Stage) on two detectors at 400 kcounts/s each, +-3.5 us, 1 ns bins
  (the issue-14 case): photons/s vs libtimetag.correlate_lin (the seed lab's C++ correlator, extra
  `bench`), pycorrelate.pcorrelate and numpy searchsorted, each checked against the kernel's counts.

Recorded (2026-12-02, Intel Xeon with AVX-512, 2 cores shared, load 1.6-2.3): microtime 2.96-3.12
ns/record, 6.7x the numpy pass -> 2.55 ns/record, 5.2x (blocks of 64 usual records tested at once); g2 vs libtimetag.correlate_lin 0.87x (separate key pass) -> 1.24x (keys
fused into the pair pass) -> 1.86-1.99x (each photon against its previous 8 photons of either
detector, vectorised, keys through float64 bits: kernel 195-216 M photons/s timed in turn with
libtimetag's 104-109 M/s). The same kernel compiled for AVX2 only (NUMBA_CPU_NAME=znver3 with the
AVX-512 features off, run here): 4.6-5.2 ns per photon against 7.0-7.5 for the previous one.
At load 0.4-0.9 (same day, 19:30): 2.06-2.16x -> 2.15-2.19x (kernel 257-269 M photons/s, libtimetag
119-123 M/s; the per-photon "counted" select moved out of the mask-narrowing loop: raw kernel
3.80 -> 3.76 ns per photon, AVX2 only 4.43 -> 4.26).
"""

from __future__ import annotations

import argparse

import numpy as np

from bench_pipeline import best_of  # one timing helper for the benches
from tagstream.kernels import microtime as MK
from tagstream.stages.g2 import G2Stage
from tagstream.stages.microtime import PhotonBatch


def dense_stream(seconds: float, rate_cps: float = 2e4, seed: int = 0):
    rng = np.random.default_rng(seed)
    P = 1_000_000
    n_sync = int(seconds * 1e6)
    sync = np.arange(n_sync, dtype=np.int64) * P + rng.integers(-20, 21, n_sync)
    n_ph = int(seconds * 2 * rate_cps)
    ph = np.sort(rng.integers(0, n_sync * P, n_ph))
    ts = np.concatenate([sync, ph])
    ch = np.concatenate([np.full(n_sync, 5, np.uint16), rng.integers(1, 3, n_ph).astype(np.uint16)])
    o = np.argsort(ts, kind="stable")
    return ts[o], ch[o]


def bench_microtime(ts, ch, repeat):
    n = ts.size
    chunk = 1 << 20
    outs = [np.empty(chunk, np.int64), np.empty(chunk, np.uint8), np.empty(chunk, np.int64), np.empty(chunk, np.int64)]

    def run():
        si, sf = MK.new_state(None)
        counts = np.zeros(1 << 16, np.int64)
        for a in range(0, n, chunk):
            MK.reference_photons(ts[a:a + chunk], ch[a:a + chunk], 5, 1, 2, 3, 1, 0, 0, 1.5, 1e6, si, sf, counts, *outs)

    run()  # compile / load the cache
    t_k = best_of(repeat, run)
    t_ref = best_of(repeat, lambda: [ts[a:a + chunk].sum() for a in range(0, n, chunk)])
    print(f"microtime kernel: {t_k / n * 1e9:5.2f} ns/record ({n / t_k / 1e6:6.0f} M records/s); "
          f"numpy sum over the timestamps {t_ref / n * 1e9:5.2f} ns/record; ratio kernel/numpy-pass "
          f"{t_k / t_ref:5.2f}")


def bench_g2(seconds, repeat):
    rng = np.random.default_rng(1)
    W, b = 3_500_000, 1000
    n = int(2 * 4e5 * seconds)
    t = np.sort(rng.integers(0, int(seconds * 1e12), n)).astype(np.int64)
    w = rng.integers(0, 2, n).astype(np.uint8)
    ta, tb = t[w == 0], t[w == 1]

    def kernel():
        st = G2Stage(W, b)
        for a in range(0, n, 1 << 18):
            st.update(PhotonBatch(t[a:a + (1 << 18)], w[a:a + (1 << 18)], t[:0], t[:0], None))
        return st.hist

    hist = kernel()
    t_k = best_of(repeat, kernel)
    print(f"g2 on {n} photons ({seconds:g} s, 2 x 400 kcps, +-3.5 us, 1 ns bins): kernel "
          f"{n / t_k / 1e6:6.1f} M photons/s ({int(hist.sum())} pairs)")
    edges = np.arange(-W, W + 1, b)

    def searchsorted():
        out = np.zeros(2 * W // b, np.int64)
        for a in range(0, ta.size, 4096):
            blk = ta[a:a + 4096]
            lo = np.searchsorted(tb, blk - W)
            hi = np.searchsorted(tb, blk + W)
            cnt = hi - lo
            idx = np.repeat(lo, cnt) + (np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt))
            d = tb[idx] - np.repeat(blk, cnt)
            out += np.bincount((d + W) // b, minlength=out.size)[: out.size]
        return out

    assert np.array_equal(searchsorted(), hist), "numpy reference disagrees with the kernel"
    t_np = best_of(repeat, searchsorted)
    print(f"  numpy searchsorted  {n / t_np / 1e6:6.1f} M photons/s   kernel is {t_np / t_k:5.2f} x faster")
    try:
        import libtimetag
    except ImportError:
        print("  libtimetag not installed (pip install '.[bench]'; see README for building it) - skipped")
    else:
        tta, ttb = ta.astype(np.int64), tb.astype(np.int64)
        res = _correlate_lin(libtimetag, tta, ttb, W, b)
        t_lt, t_k = best_of(3 * repeat, lambda: _correlate_lin(libtimetag, tta, ttb, W, b), kernel)  # in turn
        total = int(np.sum(res))
        print(f"  libtimetag.correlate_lin {n / t_lt / 1e6:6.1f} M photons/s   kernel ({n / t_k / 1e6:.1f} M/s, "
              f"timed in turn with it) is {t_lt / t_k:5.2f} x faster "
              f"(target >= 2); pairs {total} vs kernel {int(hist.sum())} (it bins quantised times)")
    try:
        import pycorrelate as pyc
    except ImportError:
        print("  pycorrelate not installed (pip install '.[bench]') - skipped")
    else:
        fa, fb, fe = ta.astype(np.float64), tb.astype(np.float64), np.arange(0, W + 1, b).astype(np.float64)
        pc = pyc.pcorrelate(fa, fb, fe)
        t_pc = best_of(repeat, lambda: pyc.pcorrelate(fa, fb, fe))  # positive lags only: half the pairs
        print(f"  pycorrelate (positive half) {n / t_pc / 1e6:6.1f} M photons/s   kernel is {t_pc / t_k:5.2f} x "
              f"faster; positive-lag pairs {int(pc.sum() * b)} vs kernel {int(hist[W // b:].sum())}")


def _correlate_lin(lt, ta, tb, W, b):
    """libtimetag's correlation of B against A over [-W, W): it takes unit bins only, so the times are
    given in bin units (floor(t / b)), as the seed lab's PHAST does (ns timestamps, 1 ns bins)."""
    return lt.correlate_lin(np.arange(-W // b, W // b + 1, dtype=np.int64), ta // b, tb // b)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10.0, help="dense stream length (1 M syncs/s)")
    ap.add_argument("--g2-seconds", type=float, default=2.0, help="g2 photons: 800 k per second")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    ts, ch = dense_stream(a.seconds)
    bench_microtime(ts, ch, a.repeat)
    bench_g2(a.g2_seconds, a.repeat)


if __name__ == "__main__":
    main()
