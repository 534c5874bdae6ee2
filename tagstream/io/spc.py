"""Becker & Hickl SPC-130/140/150/160 (and SPC-830) FIFO files (.spc) with their setup file (.set).

Layout (bh TCSPC Handbook, "FIFO files"; the same as phconvert.bhreader's SPC-1XX/8XX reader):
little-endian 32-bit words. Word 0 is a header: bits 0-23 the macrotime unit in 0.1 ns, bit 31 set.
Then one record per word:

    bit 31 INVALID | 30 MTOV | 29 GAP | 28 MARK | 27-16 ADC | 15-12 ROUT | 11-0 MT

* INVALID + MTOV: a "multiple macrotime overflow" record: bits 0-27 = number of overflows (x 4096).
* INVALID + MARK: a marker (ROUT = marker bits) at MT; other INVALID records carry nothing.
* a valid photon with MTOV: one overflow (+4096) happened before it.
* GAP: the FIFO overflowed before this record: photons were lost (a warning).
The TAC runs photon-start / sync-stop, so the delay after the laser pulse is (4095 - ADC) ADC bins;
the bin width is SP_TAC_TC of the .set file (= SP_TAC_R / (SP_TAC_G * SP_ADC_RE)).

tagstream channels: routing r -> r + 1 (photons), markers -> 100 + marker bits. Times: the macrotime
counts the sync (SP_MTCLK = 1) or an internal clock; timestamps_ps = MT * unit + microtime (as for
PicoQuant T3), microtimes_ps = (4095 - ADC) * SP_TAC_TC. The .set file (same stem) is required: without
it the microtime unit is unknown.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterator

import numpy as np
from numba import njit

from tagstream.chunk import TagChunk
from tagstream.errors import EmptyFileError, HeaderError, TruncatedFileError
from tagstream.io.base import DEFAULT_CHUNK_RECORDS, DEFAULT_REORDER_WINDOW_PS, TagReader, map_window
from tagstream.io.ptu import MicrotimeReorderer, emit_chunks

MARKER_BASE = 100
ADC_MAX = 4095
_SET_PARAM = re.compile(r"#SP \[(\w+),([A-Z]),([^\]]*)\]")


@njit(nogil=True, cache=True)
def decode_spc(words, ofl, macro, adc, chans):
    """Decode FIFO records. Returns (n_out, ofl, n_gaps); ofl (macrotime overflows x 4096) carries
    between calls. Outputs: macro (MT units), adc (microtime bins after the pulse; markers -1), chans."""
    n_out = 0
    n_gap = 0
    for i in range(words.shape[0]):
        w = np.int64(words[i])
        invalid = (w >> 31) & 1
        mtov = (w >> 30) & 1
        if (w >> 29) & 1:
            n_gap += 1
        if invalid == 1:
            if mtov == 1:
                ofl += 4096 * (w & 0x0FFFFFFF)
            elif (w >> 28) & 1:
                macro[n_out] = ofl + (w & 0xFFF)
                adc[n_out] = -1
                chans[n_out] = MARKER_BASE + ((w >> 12) & 0xF)
                n_out += 1
            continue
        if mtov == 1:
            ofl += 4096
        macro[n_out] = ofl + (w & 0xFFF)
        adc[n_out] = ADC_MAX - ((w >> 16) & 0xFFF)
        chans[n_out] = ((w >> 12) & 0xF) + 1
        n_out += 1
    return n_out, ofl, n_gap


def read_set_params(path) -> dict:
    """The #SP [NAME,TYPE,VALUE] system parameters of a bh .set file (I int, F float, B bool, S str)."""
    text = Path(path).read_bytes().decode("latin-1")
    out: dict = {}
    for name, typ, val in _SET_PARAM.findall(text):
        try:
            out[name] = {"I": int, "F": float, "B": lambda v: v.strip() not in ("0", ""), "S": str}.get(typ, str)(val)
        except ValueError:
            out[name] = val
    return out


def find_set_file(spc: Path) -> Path | None:
    for suffix in (".set", ".SET", ".Set"):
        cand = spc.with_suffix(suffix)
        if cand.is_file():
            return cand
    return None


class SpcReader(TagReader):
    """Streaming reader of bh SPC-130/140/150/160/830 FIFO .spc files (see module docstring)."""

    format = "bh-spc"
    has_microtimes = True

    def __init__(self, path, reorder_window_ps: int = DEFAULT_REORDER_WINDOW_PS, allow_truncated: bool = False,
                 set_file=None, **_ignored) -> None:
        super().__init__(path, reorder_window_ps, allow_truncated)
        p = self.path
        size = os.path.getsize(p)
        if size == 0:
            raise EmptyFileError("file is empty", p, 0, 0)
        if size < 4:
            raise TruncatedFileError("file ends inside the 4-byte SPC header word", p, size)
        head = int(np.fromfile(p, "<u4", count=1)[0])
        if not head >> 31 or not head & 0xFFFFFF:
            raise HeaderError(f"first word 0x{head:08X} is not an SPC-1xx FIFO header (bit 31 and a macrotime "
                              f"unit expected)", p, 0)
        self.macro_unit_ps = (head & 0xFFFFFF) * 100.0
        set_path = Path(set_file) if set_file is not None else find_set_file(p)
        if set_path is None:
            raise HeaderError(f"no setup file {p.with_suffix('.set').name} next to it: the microtime unit (TAC range "
                              f"and ADC resolution) is in the .set file; put it beside the .spc", p)
        params = read_set_params(set_path)
        tc = params.get("SP_TAC_TC")
        if not isinstance(tc, float) or not tc > 0:
            r, g, n = params.get("SP_TAC_R"), params.get("SP_TAC_G"), params.get("SP_ADC_RE")
            if not (isinstance(r, float) and isinstance(g, int) and isinstance(n, int) and r > 0 and g > 0 and n > 0):
                raise HeaderError(f"{set_path.name} lacks SP_TAC_TC and SP_TAC_R/SP_TAC_G/SP_ADC_RE", set_path)
            tc = r / (g * n)
        self.resolution_ps = float(tc) * 1e12
        self.tac_range_ps = 4096 * self.resolution_ps
        self.set_params = params
        whole = (size - 4) // 4
        self._n_file_records = whole
        self.n_records = whole
        if (size - 4) % 4:
            self._end_error = TruncatedFileError("file ends inside a 4-byte record", p, 4 + whole * 4, whole)
        self.metadata = {
            "format": self.format, "set_file": str(set_path), "macrotime_unit_ps": self.macro_unit_ps,
            "resolution_ps": self.resolution_ps, "tac_range_ps": self.tac_range_ps,
            "macrotime_clock": "sync" if params.get("SP_MTCLK", 0) else "internal",
            "records_in_file": whole, "marker_channels": "100 + marker bits",
            "set_params": {k: v for k, v in params.items() if k.startswith(("SP_TAC", "SP_ADC", "SP_MTCLK",
                                                                            "SP_MODE", "SP_ROUT", "SP_SYN"))},
        }

    def header_setup(self) -> dict:
        """No sync channel (the sync is the TAC stop); laser period = the macrotime unit when the
        macrotime counts the sync (SP_MTCLK = 1), else the TAC range (said in a note)."""
        out: dict = {"sync": None, "spad_a": 1, "notes": []}
        if self.set_params.get("SP_MTCLK", 0):
            out["laser_period_ps"] = self.macro_unit_ps
            out["notes"].append(f"bh SPC: macrotime clocked by the sync: laser period {self.macro_unit_ps:g} ps; "
                                f"microtime bin {self.resolution_ps:.4f} ps (SP_TAC_TC)")
        else:
            out["laser_period_ps"] = self.tac_range_ps
            out["notes"].append(f"bh SPC: internal macrotime clock; laser period taken as the TAC window "
                                f"{self.tac_range_ps:.1f} ps (give --laser-period-ps)")
        return out

    def chunks(self, chunk_records: int = DEFAULT_CHUNK_RECORDS) -> Iterator[TagChunk]:
        """TagChunks in time order, with microtimes_ps; overflows carried across chunks."""
        chunk_records = int(chunk_records)
        if chunk_records < 1:
            raise ValueError("chunk_records must be >= 1")
        reorder = MicrotimeReorderer(self.reorder_window_ps + int(self.tac_range_ps) + int(self.macro_unit_ps),
                                     self.path)
        emitted, ofl, rec0, gaps = 0, 0, 0, 0
        block = max(chunk_records, 4096)
        unit_int = float(self.macro_unit_ps).is_integer()
        while rec0 < self._n_file_records:
            n = min(block, self._n_file_records - rec0)
            words = map_window(self.path, 4 + rec0 * 4, n * 4).view("<u4")
            macro = np.empty(n, np.int64)
            adc = np.empty(n, np.int64)
            chs = np.empty(n, np.uint16)
            n_out, ofl, g = decode_spc(words, ofl, macro, adc, chs)
            gaps += g
            del words
            macro, adc = macro[:n_out], adc[:n_out]
            micro = np.where(adc >= 0, np.rint(adc * self.resolution_ps), -1).astype(np.int64)
            t = macro * int(self.macro_unit_ps) if unit_int else np.rint(macro * self.macro_unit_ps).astype(np.int64)
            t = t + np.maximum(micro, 0)
            t, c, m = reorder.push(t, chs[:n_out], micro, rec0)
            yield from emit_chunks(t, c, m, chunk_records, emitted)
            emitted += t.size
            rec0 += n
        t, c, m = reorder.finish(True)
        yield from emit_chunks(t, c, m, chunk_records, emitted)
        if gaps:
            self._warn(f"{gaps} record(s) flagged GAP: the card's FIFO overflowed and photons were lost there")
        if self._end_error is not None:
            if self.allow_truncated:
                self._warn(str(self._end_error))
            else:
                raise self._end_error
