"""PTU and Photon-HDF5 read throughput (records/s) vs a plain numpy decode of the same records."""

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_io_ptu import ptu_bytes  # noqa: E402
from tagstream.io import open_tags, write_photon_hdf5  # noqa: E402


def main(n=5_000_000):
    rng = np.random.default_rng(0)
    ns = np.cumsum(rng.integers(0, 40, n)) % 1024          # HydraHarp2 T3 records with overflows
    wraps = np.flatnonzero(np.diff(ns) < 0) + 1
    recs = ((rng.integers(0, 2, n) << 25) | (rng.integers(0, 2000, n) << 10) | ns).astype(np.uint32)
    recs = np.insert(recs, wraps, np.uint32((1 << 31) | (63 << 25) | 1))
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "b.ptu"
        p.write_bytes(ptu_bytes(0x01010304, recs, 12.5e-9, 25e-12))
        r = open_tags(p)
        for _ in r.chunks(1 << 20):
            pass
        t0 = time.perf_counter()
        tags = 0
        for c in open_tags(p).chunks(1 << 20):
            tags += len(c)
        dt = time.perf_counter() - t0
        t0 = time.perf_counter()
        w = np.fromfile(p, dtype="<u4", offset=p.stat().st_size - 4 * recs.size)
        special = (w >> 31) == 1
        ofl = np.cumsum(np.where(special & (((w >> 25) & 63) == 63), 1024, 0))
        t_np = (ofl + (w & 1023)) * 12500.0 + ((w >> 10) & 0x7FFF) * 25.0
        t_np = t_np[~special]
        dt_np = time.perf_counter() - t0
        print(f"PTU HydraHarp2 T3: {recs.size / dt / 1e6:.1f} M records/s ({tags} tags), "
              f"numpy one-shot decode {recs.size / dt_np / 1e6:.1f} M records/s, ratio {dt_np / dt:.2f}")
        h = Path(d) / "b.h5"
        t0 = time.perf_counter()
        write_photon_hdf5(h, open_tags(p).chunks(1 << 20), period_ps=12_500, tcspc_unit_s=25e-12)
        dtw = time.perf_counter() - t0
        t0 = time.perf_counter()
        m = sum(len(c) for c in open_tags(h).chunks(1 << 20))
        dth = time.perf_counter() - t0
        print(f"Photon-HDF5: write {m / dtw / 1e6:.1f} M tags/s, read {m / dth / 1e6:.1f} M tags/s")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5_000_000)
