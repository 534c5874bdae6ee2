"""quTAG live source: a ctypes binding to the vendor library (libtdcbase.so / tdcbase.dll).

Library path: the `library` argument, else the environment variable TAGSTREAM_QUTAG_LIB, else
the system's search path (libtdcbase.so, tdcbase.dll).

Two API variants exist (both headers are named tdcbase.h, by NHands/qutools):
- "standard" (quTAG, 5 inputs; header "quTAG Control Library"):
      int TDC_enableChannels(Int32 channelMask)
  bit k enables input k; bit 0 is the start input (no time tags in four-channel mode, ignored
  in five-channel mode), so stop channel c (1-based) is bit c. Timestamps come in units of
  TDC_getTimebase (seconds per unit; 1 ps on the quTAG).
- "mc-hr" (quTAG MC / HR, up to 32 inputs; header "quTAG MC and HR Control Library"):
      int TDC_enableChannels(Bln32 enStart, Int32 channelMask)
  the start input has its own flag; bit 0 enables stop channel 1, i.e. stop channel c is bit c-1.
  Timestamps come in ps. Only this header declares TDC_getModuleCount, which "auto" uses to tell
  the two apart.
Common to both: TDC_init(int deviceId) (-1: any device), TDC_deInit(), int TDC_getTimebase(double*),
TDC_setTimestampBufferSize(Int32 1..1000000), TDC_getLastTimestamps(Bln32 reset, Int64* ts,
Uint8* ch, Int32* valid) with 0-based channels (0 = input 1; markers 100+ are passed unchanged),
TDC_getDataLost(Bln32*) latching, TDC_perror(int).

Polling: each read() empties the driver's ring buffer (reset=1). If a read finds the buffer full,
older tags may have been overwritten: that is a "buffer-overflow" event. TDC_getDataLost is read
after every poll: a "device-data-lost" event. Both are counted and kept in counters().
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
import time
from pathlib import Path
from typing import Iterable

import numpy as np

from tagstream.chunk import TagChunk
from tagstream.errors import SourceError
from tagstream.sources.base import ClampingReorderer, Source

ENV_LIB = "TAGSTREAM_QUTAG_LIB"

#: return codes of tdcdecl.h
ERROR_MESSAGES = {
    -1: "unspecified error",
    1: "receive timed out",
    2: "no connection was established (is the quTAG plugged in and powered, and not used by another program?)",
    3: "error accessing the USB driver",
    7: "can't connect device because it is already in use",
    8: "unknown error",
    9: "invalid device number used in call",
    10: "parameter in function call is out of range",
    11: "failed to open specified file",
    12: "library has not been initialized",
    13: "requested feature is not enabled",
    14: "requested feature is not available",
}

INSTALL_HINT = (
    "install the quTAG software from qutools (it ships the control library libtdcbase.so on Linux, "
    "tdcbase.dll on Windows, plus its USB driver) and set the environment variable "
    f"{ENV_LIB} to the library file (or pass library=...); without a device, use the simulated source"
)


def _default_names() -> list[str]:
    found = ctypes.util.find_library("tdcbase")
    names = [found] if found else []
    return names + (["tdcbase.dll"] if sys.platform == "win32" else ["libtdcbase.so"])


class QutagLibrary:
    """The loaded vendor library with typed functions; check() turns return codes into SourceError."""

    def __init__(self, library: str | os.PathLike | None = None, api: str = "auto") -> None:
        candidates = [str(library)] if library else ([os.environ[ENV_LIB]] if os.environ.get(ENV_LIB) else _default_names())
        errors = []
        self.lib = None
        for name in candidates:
            try:
                self.lib = ctypes.CDLL(name)
                self.path = name
                break
            except OSError as exc:
                errors.append(f"{name}: {exc}")
        if self.lib is None:
            raise SourceError(f"quTAG library not found (tried {'; '.join(errors)}): {INSTALL_HINT}")
        if api == "auto":
            api = "mc-hr" if hasattr(self.lib, "TDC_getModuleCount") else "standard"
        if api not in ("standard", "mc-hr"):
            raise SourceError(f"unknown quTAG API variant {api!r}: use 'standard', 'mc-hr' or 'auto'")
        self.api = api
        i32, i32p = ctypes.c_int32, ctypes.POINTER(ctypes.c_int32)
        sigs = {
            "TDC_init": ([ctypes.c_int], ctypes.c_int),
            "TDC_deInit": ([], ctypes.c_int),
            "TDC_getTimebase": ([ctypes.POINTER(ctypes.c_double)], ctypes.c_int),
            "TDC_enableChannels": ([i32] if api == "standard" else [i32, i32], ctypes.c_int),
            "TDC_setTimestampBufferSize": ([i32], ctypes.c_int),
            "TDC_getLastTimestamps": ([i32, ctypes.POINTER(ctypes.c_int64), ctypes.POINTER(ctypes.c_uint8), i32p],
                                      ctypes.c_int),
            "TDC_getDataLost": ([i32p], ctypes.c_int),
        }
        for name, (argtypes, restype) in sigs.items():
            try:
                fn = getattr(self.lib, name)
            except AttributeError:
                raise SourceError(f"{self.path} is not a quTAG control library: it lacks {name}; {INSTALL_HINT}") from None
            fn.argtypes, fn.restype = argtypes, restype
        if hasattr(self.lib, "TDC_perror"):
            self.lib.TDC_perror.argtypes, self.lib.TDC_perror.restype = [ctypes.c_int], ctypes.c_char_p

    def message(self, rc: int) -> str:
        msg = ERROR_MESSAGES.get(rc)
        if msg is None and hasattr(self.lib, "TDC_perror"):
            raw = self.lib.TDC_perror(rc)
            msg = raw.decode(errors="replace") if raw else None
        return msg or "unknown return code"

    def check(self, call: str, rc: int) -> None:
        if rc != 0:
            raise SourceError(f"quTAG {call} failed: {self.message(rc)} (code {rc})")


def channel_mask(channels: Iterable[int], api: str, enable_start: bool = True) -> tuple[int, ...]:
    """TDC_enableChannels arguments for 1-based stop channels under the given API variant."""
    channels = sorted(set(int(c) for c in channels))
    if any(c < 1 or c > 32 for c in channels):
        raise SourceError(f"quTAG channels are 1..32 (1-based, as in files), got {channels}")
    if api == "standard":
        return (sum(1 << c for c in channels) | (1 if enable_start else 0),)
    mask = sum(1 << (c - 1) for c in channels)
    return (1 if enable_start else 0, ctypes.c_int32(mask).value)


class QutagSource(Source):
    """Live time tags from a quTAG, polled with TDC_getLastTimestamps.

    channels: 1-based stop channels to enable (files' numbering); enable_start: the start input;
    buffer_size: driver ring buffer (tags), poll_interval_s: time between polls inside read();
    reorder_window_ps: hold back this much to restore time order after delay compensation.
    """

    kind = "qutag"

    def __init__(self, library: str | os.PathLike | None = None, api: str = "auto", device_id: int = -1,
                 channels: Iterable[int] = (1, 2, 3, 4, 5), enable_start: bool = True,
                 buffer_size: int = 1_000_000, poll_interval_s: float = 0.01,
                 reorder_window_ps: int = 1_000_000, sync_divider: int = 1) -> None:
        super().__init__(time_unit_ps=1.0, sync_divider=sync_divider)
        self._q = QutagLibrary(library, api)
        self.api = self._q.api
        self.device_id = int(device_id)
        self.channels = tuple(channels)
        self._enable_args = channel_mask(self.channels, self.api, enable_start)
        if not 1 <= buffer_size <= 1_000_000:
            raise SourceError(f"quTAG timestamp buffer size must be 1..1000000, got {buffer_size}")
        self.buffer_size = int(buffer_size)
        self.poll_interval_s = float(poll_interval_s)
        self._ts = np.zeros(self.buffer_size, np.int64)
        self._ch = np.zeros(self.buffer_size, np.uint8)
        self._valid = ctypes.c_int32(0)
        self._lost = ctypes.c_int32(0)
        self._reorder = ClampingReorderer(reorder_window_ps)
        self._connected = False
        self._unit_int: int | None = 1

    def _connect(self) -> None:
        q, lib = self._q, self._q.lib
        q.check("TDC_init", lib.TDC_init(self.device_id))
        self._connected = True
        try:
            tb = ctypes.c_double(0.0)
            q.check("TDC_getTimebase", lib.TDC_getTimebase(ctypes.byref(tb)))
            self.timebase_s = tb.value
            # the standard quTAG counts in timebase units, the MC/HR in ps
            unit_ps = 1.0 if self.api == "mc-hr" else tb.value * 1e12
            if not unit_ps > 0:
                raise SourceError(f"quTAG reported an invalid time base {tb.value!r} s")
            self.time_unit_ps = unit_ps
            self._unit_int = int(round(unit_ps)) if abs(unit_ps - round(unit_ps)) < 1e-9 * unit_ps else None
            q.check("TDC_enableChannels", lib.TDC_enableChannels(*self._enable_args))
            q.check("TDC_setTimestampBufferSize", lib.TDC_setTimestampBufferSize(self.buffer_size))
        except BaseException:
            self._disconnect()
            raise

    def _disconnect(self) -> None:
        if self._connected:
            self._connected = False
            self._q.lib.TDC_deInit()

    def _start(self) -> None:
        if not self._connected:
            self._connect()
        # discard what the buffer gathered before start, and the data-loss latch with it
        self._q.lib.TDC_getLastTimestamps(1, None, None, ctypes.byref(self._valid))
        self._q.lib.TDC_getDataLost(ctypes.byref(self._lost))

    def _poll(self) -> tuple[np.ndarray, np.ndarray]:
        lib = self._q.lib
        lib.TDC_getLastTimestamps(1, self._ts.ctypes.data_as(ctypes.POINTER(ctypes.c_int64)),
                                  self._ch.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8)), ctypes.byref(self._valid))
        n = self._valid.value
        if n >= self.buffer_size:
            self._event("buffer-overflow")
        self._q.check("TDC_getDataLost", lib.TDC_getDataLost(ctypes.byref(self._lost)))
        if self._lost.value:
            self._event("device-data-lost")
        raw = self._ts[:n]
        ts = raw * self._unit_int if self._unit_int is not None else np.rint(raw * self.time_unit_ps).astype(np.int64)
        ch = self._ch[:n].astype(np.uint16)
        ch[ch < 100] += 1  # API channels are 0-based; files (and TagChunks) are 1-based; markers 100+ as is
        return ts, ch

    def _read(self, timeout_s: float) -> TagChunk | None:
        deadline = time.monotonic() + timeout_s
        while True:
            ts, ch, n_late = self._reorder.push(*self._poll())
            if n_late:
                self._event("time-order", n_late)
            if len(ts):
                return self._emit(ts, ch)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            time.sleep(min(self.poll_interval_s, remaining))

    def _stop(self) -> None:
        """Deliver nothing more; the tags held back for reordering are returned by drain()."""

    def drain(self) -> TagChunk | None:
        """After stop(): one last poll plus the tags held back for reordering."""
        if not self._connected:
            return None
        ts1, ch1 = self._poll()
        ts, ch, n_late = self._reorder.push(ts1, ch1)
        ts2, ch2 = self._reorder.flush()
        if n_late:
            self._event("time-order", n_late)
        return self._emit(np.concatenate([ts, ts2]), np.concatenate([ch, ch2]))

    def _close(self) -> None:
        self._disconnect()

    def describe(self) -> dict:
        return {**super().describe(), "library": str(Path(self._q.path)), "api": self.api,
                "device_id": self.device_id, "channels": list(self.channels), "buffer_size": self.buffer_size}
