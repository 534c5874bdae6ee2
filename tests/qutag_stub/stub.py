"""Build and drive the quTAG stand-in library (qutag_stub.c) for tests.

    lib_path = build(out_dir, variant="standard" | "mc-hr")   # None if no C compiler
    stub = Stub(lib_path); stub.load(ts, ch0); stub.set_batch(500); stub.inject_data_loss()
"""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "qutag_stub.c"


def compiler() -> str | None:
    return shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")


def build(out_dir: Path, variant: str = "standard") -> Path:
    """Compile the stub as a shared library; raises RuntimeError with the compiler's output."""
    cc = compiler()
    if cc is None:
        raise RuntimeError("no C compiler (cc, gcc, clang) on PATH")
    out = Path(out_dir) / f"libtdcbase_stub_{variant}.so"
    cmd = [cc, "-shared", "-fPIC", "-O2", "-o", str(out), str(SOURCE)]
    if variant == "mc-hr":
        cmd.insert(1, "-DQUTAG_MC_HR")
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"compiling the quTAG stub failed: {res.stderr}")
    return out


def write_raw(path: Path, timestamps, channels0) -> None:
    """quTAG RAW layout: 10-byte records, int64 time + uint16 channel (0-based), little-endian."""
    rec = np.zeros(len(timestamps), dtype=[("t", "<i8"), ("c", "<u2")])
    rec["t"], rec["c"] = timestamps, channels0
    Path(path).write_bytes(rec.tobytes())


class Stub:
    """ctypes handle on the stub-only controls (same handle as the binding's: dlopen shares it)."""

    def __init__(self, path: Path) -> None:
        self.lib = ctypes.CDLL(str(path))
        self.lib.STUB_loadTags.argtypes = [ctypes.POINTER(ctypes.c_int64), ctypes.POINTER(ctypes.c_uint8), ctypes.c_int64]
        self.lib.STUB_getOverwritten.restype = ctypes.c_int64
        self.lib.STUB_getServed.restype = ctypes.c_int64
        self.lib.STUB_getRemaining.restype = ctypes.c_int64
        self.lib.STUB_setTimebase.argtypes = [ctypes.c_double]

    def load(self, timestamps, channels0) -> None:
        ts = np.ascontiguousarray(timestamps, np.int64)
        ch = np.ascontiguousarray(channels0, np.uint8)
        self.lib.STUB_reset()
        self.lib.STUB_loadTags(ts.ctypes.data_as(ctypes.POINTER(ctypes.c_int64)),
                               ch.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8)), len(ts))

    def reset(self) -> None:
        self.lib.STUB_reset()

    def set_batch(self, n: int) -> None:
        self.lib.STUB_setBatch(int(n))

    def inject_data_loss(self) -> None:
        self.lib.STUB_injectDataLoss()

    def set_init_result(self, rc: int) -> None:
        self.lib.STUB_setInitResult(int(rc))

    def set_timebase(self, seconds: float) -> None:
        self.lib.STUB_setTimebase(float(seconds))

    @property
    def overwritten(self) -> int:
        return self.lib.STUB_getOverwritten()

    @property
    def served(self) -> int:
        return self.lib.STUB_getServed()

    @property
    def remaining(self) -> int:
        return self.lib.STUB_getRemaining()

    @property
    def initialized(self) -> bool:
        return bool(self.lib.STUB_isInitialized())

    def calls(self) -> tuple[int, int]:
        a, b = ctypes.c_int(), ctypes.c_int()
        self.lib.STUB_getCalls(ctypes.byref(a), ctypes.byref(b))
        return a.value, b.value

    def enabled(self) -> tuple[int, int, int]:
        a, b, c = ctypes.c_int32(), ctypes.c_int32(), ctypes.c_int32()
        self.lib.STUB_getEnabled(ctypes.byref(a), ctypes.byref(b), ctypes.byref(c))
        return a.value, b.value, c.value


def fixture_tags(n: int = 20_000, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Ordered tags in API numbering: 0/1 (SPADs), 4 (sync), 2 (frame), a few markers 100."""
    rng = np.random.default_rng(seed)
    ts = np.cumsum(rng.integers(1, 200_000, n)).astype(np.int64)
    ch = rng.choice(np.array([0, 1, 4, 4, 4, 2, 100], np.uint8), n)
    return ts, ch
