"""Read throughput and peak memory of tagstream's readers, per format, vs a raw np.fromfile.

Generates (or reuses, in --dir) one file per format of about --size-gb GB (ASCII: --size-gb / 8, since
text is slow to write and ~3x larger per tag), with a realistic local disorder (~1e-3 of the tags moved
back by up to 90 ns). For each format it prints records/s and MB/s of reading every TagChunk (decode +
reorder), next to np.fromfile of the same bytes (page cache warm for both) and their ratio; then the
peak RSS (ru_maxrss of a fresh child process) for two file sizes, to show memory stays flat.

    python bench/bench_read.py --size-gb 1          # the real run (a few minutes, ~5 GB of disk)
    python bench/bench_read.py --size-gb 0.05       # quick check
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

FORMATS = ["qutag-binary", "qutag-raw", "qutag-compressed", "qutag-ascii", "sstt-v2"]
BYTES_PER_TAG = {"qutag-binary": 10, "qutag-raw": 10, "qutag-compressed": 5, "qutag-ascii": 20, "sstt-v2": 6}
NAMES = {"qutag-binary": "b.qutag", "qutag-raw": "r.raw", "qutag-compressed": "c.qtc",
         "qutag-ascii": "a.txt", "sstt-v2": "s.sstt"}
GEN_CHUNK = 1 << 22


def _tags(rng, n, t0):
    """n tags: 80 MHz-ish sync-filtered HBT stream, channels 1/2/5, local disorder < 100 ns."""
    t = t0 + np.cumsum(rng.integers(1, 60_000, n))
    c = rng.choice(np.array([1, 2, 5], np.uint16), n)
    back = rng.random(n) < 1e-3
    t = t - np.where(back, rng.integers(0, 90_000, n), 0)
    return t.astype(np.int64), c


def generate(fmt: str, path: Path, n: int, seed: int = 0) -> None:
    from tagstream.chunk import TagChunk
    from tagstream.io import QutagBinaryWriter, SsttV2Writer
    from tagstream.io.ascii import encode_ascii_records
    from tagstream.io.qutag import encode_binary_records, encode_compressed_records, qutag_header

    rng = np.random.default_rng(seed)
    t0 = 10**9
    if fmt == "qutag-binary":
        w = QutagBinaryWriter(path, overwrite=True)
    elif fmt == "sstt-v2":
        w = SsttV2Writer(path, channels=[1, 2, 5], overwrite=True)
    else:
        f = open(path, "wb")
        if fmt == "qutag-compressed":
            f.write(qutag_header(40 + 5 * n))
    for a in range(0, n, GEN_CHUNK):
        m = min(GEN_CHUNK, n - a)
        t, c = _tags(rng, m, t0)
        t0 = int(t.max()) + 100_000
        if fmt == "qutag-compressed":
            c = (c % 8).astype(np.uint16)
        if fmt == "qutag-binary":
            w.write(TagChunk.from_arrays(t, c))
        elif fmt == "sstt-v2":
            o = np.lexsort((c, t))                 # per-channel order is what SSTT stores
            w.write(TagChunk.from_arrays(t[o], c[o]))
        elif fmt == "qutag-raw":
            f.write(encode_binary_records(t, c))
        elif fmt == "qutag-compressed":
            f.write(encode_compressed_records(t, c))
        else:
            f.write(encode_ascii_records(t, c))
    if fmt in ("qutag-binary", "sstt-v2"):
        w.close()
    else:
        f.close()


def data_files(fmt: str, path: Path) -> list[Path]:
    return sorted(path.parent.glob(path.name + ".c*")) if fmt == "sstt-v2" else [path]


def child(fmt: str, path: str) -> None:
    """Read the whole file once; print records, seconds and peak RSS (run in a fresh process)."""
    from tagstream.io import open_tags

    r = open_tags(path, format=fmt)
    n = 0
    t0 = time.perf_counter()
    for ch in r.chunks(1 << 20):
        n += len(ch)
    dt = time.perf_counter() - t0
    print(json.dumps({"records": n, "seconds": dt, "maxrss_mb": peak_rss_mb()}))


def peak_rss_mb() -> float:
    """Peak RSS of this process: VmHWM (fresh per exec on Linux; ru_maxrss is inherited from the
    parent across fork+exec, which would show the parent's np.fromfile buffers), else ru_maxrss."""
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(fmt: str, path: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", fmt, str(path)], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def fromfile_seconds(files: list[Path]) -> float:
    t0 = time.perf_counter()
    for p in files:
        a = np.fromfile(p, dtype=np.uint8)
        del a
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-gb", type=float, default=1.0, help="size of each binary file (default 1 GB)")
    ap.add_argument("--dir", type=Path, help="keep/reuse the generated files here (default: temp dir, "
                    "deleted at the end)")
    ap.add_argument("--formats", nargs="*", default=FORMATS, choices=FORMATS)
    ap.add_argument("--child", nargs=2, metavar=("FORMAT", "PATH"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    folder = args.dir or Path(tempfile.mkdtemp(prefix="tagstream-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        print(f"files in {folder}; page cache warm for both readers; 1 MiB = 2**20 bytes")
        print(f"{'format':18} {'GB':>6} {'records':>12} {'tagstream rec/s':>16} {'MB/s':>8} "
              f"{'fromfile MB/s':>14} {'ratio':>6}  {'peak RSS MB (1/4 file / full file)':>30}")
        for fmt in args.formats:
            size = args.size_gb / (8 if fmt == "qutag-ascii" else 1)
            rows = {}
            for label, frac in (("small", 0.25), ("full", 1.0)):
                n = int(size * frac * 1e9 / BYTES_PER_TAG[fmt])
                path = folder / f"{label}_{NAMES[fmt]}"
                marker = folder / f"{label}_{NAMES[fmt]}.n{n}"
                if not marker.exists():
                    generate(fmt, path, n)
                    marker.touch()
                files = data_files(fmt, path)
                nbytes = sum(p.stat().st_size for p in files)
                fromfile_seconds(files)                     # warm the page cache
                ref = fromfile_seconds(files)
                res = run_child(fmt, path)
                rows[label] = (n, nbytes, ref, res)
            n, nbytes, ref, res = rows["full"]
            assert res["records"] == n, (fmt, res, n)
            mbs = nbytes / 2**20 / res["seconds"]
            ref_mbs = nbytes / 2**20 / ref
            print(f"{fmt:18} {nbytes / 1e9:6.2f} {n:12,} {n / res['seconds']:16,.0f} {mbs:8.0f} "
                  f"{ref_mbs:14.0f} {mbs / ref_mbs:6.2f}  "
                  f"{rows['small'][3]['maxrss_mb']:14.0f} / {res['maxrss_mb']:.0f}", flush=True)
        print("ratio = tagstream MB/s / np.fromfile MB/s (fromfile only copies bytes; tagstream decodes, "
              "validates channels, unwraps and re-sorts). Peak RSS of the child process includes the "
              "interpreter, numpy and numba (~150 MB).")
    finally:
        if args.dir is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
