"""Intensity-correlation speed: tagstream's log-binned correlator vs pycorrelate.pcorrelate and
libtimetag.correlate_fcs on the same photons and lag bins (1 us - 10 s, 8 per decade), one order (lag
t_B - t_A); each result is checked to give the same pair counts. The default (6.4 kcounts/s) is the
simulated QD; --rate-scale 5 (30 kcounts/s) a denser one, whose block targets outgrow the L2 cache
outgrow the cache (about 2.6x libtimetag at both). Also the full streaming stage (both orders,
normalisation, 1 s chunks). Prints CPU times (process_time; wall time on a shared machine is noisy) and ratios (> 1: tagstream faster),
best of --repeat runs, the references and tagstream interleaved.

    python bench/bench_correlation.py [--duration-s 100] [--rate-scale 1] [--repeat 3]

pycorrelate: `pip install -e ".[bench]"`. libtimetag 0.9.2 has no wheel and its sdist vendors a pybind11 too
old for Python 3.11; it builds against a current pybind11:
    pip download --no-deps --no-binary :all: libtimetag==0.9.2 && tar xzf libtimetag-0.9.2.tar.gz
    cd libtimetag-0.9.2 && pip install pybind11 wheel && mv pybind11 pybind11_old
    ln -s "$(python -c 'import pybind11; print(pybind11.get_include())')/pybind11" pybind11
    sed -i "s/'-std=c++11'/'-std=c++17'/" setup.py && pip install --no-build-isolation --no-deps .
Without either library the script says so and times the rest.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from tagstream.kernels.correlation import count_below, enumeration_edges, log_lag_edges_ps
from tagstream.simulate import Simulation, SimulationParams
from tagstream.stages.correlation import CorrelationStage, derive_correlation
from tagstream.stages.microtime import PhotonBatch


def photons(duration_s: float, rate_scale: float, seed: int = 1):
    p = SimulationParams().replace(spectrometer=False, mean_excitations=0.1 * rate_scale)
    ts, ch = [], []
    for c in Simulation(p, seed=seed).chunks(chunk_s=5.0, duration_s=duration_s):
        ts.append(c.timestamps_ps)
        ch.append(c.channels)
    t, c = np.concatenate(ts), np.concatenate(ch)
    return t[c == p.ch_spad_a], t[c == p.ch_spad_b]


def best(fn, repeat):
    """Result and the best CPU time of this process (the machine is shared: wall time is noisy)."""
    out, dt = None, np.inf
    for _ in range(repeat):
        t0 = time.process_time()
        out = fn()
        dt = min(dt, time.process_time() - t0)
    return out, dt


def ours(a, b, edges):
    S = np.zeros(edges.size, np.int64)
    rate = b.size / ((b[-1] - b[0]) * 1e-12)
    count_below(a, b, 0, edges, enumeration_edges(edges, rate), S)
    return np.diff(S)


def stage_run(a, b, chunk_ps=10**12):
    t = np.concatenate([a, b])
    w = np.concatenate([np.zeros(a.size, np.uint8), np.ones(b.size, np.uint8)])
    o = np.argsort(t, kind="stable")
    t, w = t[o], w[o]
    st = CorrelationStage()
    cuts = np.searchsorted(t, np.arange(t[0], t[-1] + chunk_ps, chunk_ps))
    for i0, i1 in zip(cuts[:-1], cuts[1:]):
        st.update(PhotonBatch(t[i0:i1], w[i0:i1], np.zeros(0, np.int64), np.zeros(0, np.int64), None))
    st.finalize()
    return derive_correlation(st.stats())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration-s", type=float, default=100.0)
    ap.add_argument("--rate-scale", type=float, default=1.0, help="x the default excitation (count rate)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    a, b = photons(args.duration_s, args.rate_scale)
    edges = log_lag_edges_ps(1e-6, 10.0, 8)
    print(f"{a.size} + {b.size} photons in {args.duration_s:g} s ({(a.size + b.size) / args.duration_s:.0f} /s), "
          f"{edges.size - 1} lag bins 1 us - 10 s")
    ours(a[:100], b[:100], edges)  # compile
    ref, t_ours = best(lambda: ours(a, b, edges), args.repeat)
    print(f"{'tagstream count_below (one order)':<40} {t_ours:8.3f} s")
    others = {}
    try:
        import pycorrelate

        pycorrelate.pcorrelate(a[:100], b[:100], edges)
        g, dt = best(lambda: pycorrelate.pcorrelate(a, b, edges), args.repeat)
        same = np.array_equal(np.rint(g * np.diff(edges)).astype(np.int64), ref)
        others["pycorrelate.pcorrelate"] = dt
        print(f"{'pycorrelate.pcorrelate':<40} {dt:8.3f} s   tagstream x{dt / t_ours:.2f} faster   same counts: {same}")
    except ImportError as exc:
        print(f"pycorrelate: skipped ({exc}; pip install -e '.[bench]')")
    try:
        import libtimetag

        c, dt = best(lambda: np.asarray(libtimetag.correlate_fcs(edges, a, b)), args.repeat)
        others["libtimetag.correlate_fcs"] = dt
        print(f"{'libtimetag.correlate_fcs':<40} {dt:8.3f} s   tagstream x{dt / t_ours:.2f} faster   same counts: "
              f"{np.array_equal(c, ref)}")
    except ImportError as exc:
        print(f"libtimetag: skipped ({exc}; build recipe in this script's docstring)")
    if others:
        name = min(others, key=others.get)
        print(f"ratio vs the faster reference ({name}): x{others[name] / t_ours:.2f}")
    res, dt = best(lambda: stage_run(a, b), 1)
    print(f"{'CorrelationStage (both orders, 1 s chunks)':<40} {dt:8.3f} s   "
          f"({(a.size + b.size) / dt / 1e6:.2f} Mphotons/s; g2 at 1 ms {res.g2[np.argmin(abs(res.lag_s - 1e-3))]:.3f})")


if __name__ == "__main__":
    main()
