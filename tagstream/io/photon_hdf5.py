"""Photon-HDF5 reader and writer (https://photon-hdf5.org, format version 0.5), so recordings move to
FRETBursts, phconvert and other tools.

Read: /photon_data/timestamps x timestamps_specs/timestamps_unit (s) -> ps; /photon_data/detectors ->
channels; /photon_data/nanotimes x nanotimes_specs/tcspc_unit -> microtimes_ps. Datasets are read in
slices (bounded memory). Files written by tagstream (marked by /user/tagstream/channels_are_tagstream)
keep their channel numbers and absolute times; other files' detector IDs are taken as 0-based (channel =
ID + 1) and, when nanotimes are present, their timestamps are macrotimes: the photon time is
timestamp * unit + nanotime * tcspc_unit (as for PicoQuant T3).
Write: write_photon_hdf5(path, chunks, ...) streams TagChunks into resizable datasets in a temporary file
next to the target, then os.replace (atomic); refuses to replace an existing file unless overwrite=True.
It writes the fields the specification requires (description, photon_data with timestamps_specs and
measurement_specs/measurement_type, setup, identity, provenance) with TITLE attributes.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from tagstream.atomic import atomic_path
from tagstream.chunk import TagChunk
from tagstream.errors import BadMagicError, CorruptRecordError, EmptyFileError, HeaderError, TagFileError
from tagstream.io.base import DEFAULT_CHUNK_RECORDS, DEFAULT_REORDER_WINDOW_PS, TagReader
from tagstream.io.ptu import MicrotimeReorderer, emit_chunks

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
FORMAT_VERSION = "0.5"
FORMAT_URL = "http://photon-hdf5.org/"


def sniff_hdf5(head: bytes) -> bool:
    return head.startswith(HDF5_MAGIC)


def _scalar(group, name, default=None):
    if name not in group:
        return default
    v = group[name][()]
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, np.generic):
        return v.item()
    return v


class PhotonHdf5Reader(TagReader):
    """Streaming reader of Photon-HDF5 files (see module docstring)."""

    format = "photon-hdf5"

    def __init__(self, path, reorder_window_ps: int = DEFAULT_REORDER_WINDOW_PS, allow_truncated: bool = False,
                 **_ignored) -> None:
        super().__init__(path, reorder_window_ps, allow_truncated)
        import h5py
        p = self.path
        if p.stat().st_size == 0:
            raise EmptyFileError("file is empty", p, 0, 0)
        with open(p, "rb") as f:
            if f.read(8) != HDF5_MAGIC:
                raise BadMagicError("not an HDF5 file", p, 0)
        try:
            with h5py.File(p, "r") as h:
                self._inspect(h)
        except TagFileError:
            raise
        except (OSError, KeyError, ValueError, TypeError, RuntimeError, AttributeError) as e:
            raise HeaderError(f"cannot read as Photon-HDF5: {e}", p, None) from None

    def _inspect(self, h) -> None:
        p = self.path
        if "photon_data" not in h:
            raise HeaderError("HDF5 file without /photon_data: not a Photon-HDF5 file", p)
        pd = h["photon_data"]
        if "timestamps" not in pd or "timestamps_specs" not in pd or "timestamps_unit" not in pd["timestamps_specs"]:
            raise HeaderError("Photon-HDF5 file lacks /photon_data/timestamps or timestamps_specs/timestamps_unit", p)
        ts = pd["timestamps"]
        import h5py
        for name in ("timestamps", "detectors", "nanotimes"):
            if name in pd and not isinstance(pd[name], h5py.Dataset):
                raise HeaderError(f"/photon_data/{name} is a {type(pd[name]).__name__}, not a dataset (array)", p)
        if ts.ndim != 1 or ts.dtype.kind not in "iu":
            raise HeaderError(f"/photon_data/timestamps must be a 1-D integer array, is {ts.dtype} {ts.shape}", p)
        unit = float(_scalar(pd["timestamps_specs"], "timestamps_unit"))
        if not (np.isfinite(unit) and 0 < unit < 1):
            raise HeaderError(f"impossible timestamps_unit {unit} s", p)
        n = ts.shape[0]
        self._has_det = "detectors" in pd
        if self._has_det and pd["detectors"].shape != (n,):
            raise HeaderError("/photon_data/detectors and timestamps differ in length", p)
        self._has_nano = "nanotimes" in pd
        self._tcspc_unit = None
        if self._has_nano:
            if pd["nanotimes"].shape != (n,):
                raise HeaderError("/photon_data/nanotimes and timestamps differ in length", p)
            if "nanotimes_specs" not in pd or "tcspc_unit" not in pd["nanotimes_specs"]:
                raise HeaderError("nanotimes without nanotimes_specs/tcspc_unit", p)
            self._tcspc_unit = float(_scalar(pd["nanotimes_specs"], "tcspc_unit"))
            if not (np.isfinite(self._tcspc_unit) and 0 < self._tcspc_unit < 1):
                raise HeaderError(f"impossible tcspc_unit {self._tcspc_unit} s", p)
        self._native = bool("user" in h and "tagstream" in h["user"]
                            and _scalar(h["user/tagstream"], "channels_are_tagstream", False))
        self._unit_ps = unit * 1e12
        self.n_records = int(n)
        mtype = _scalar(pd["measurement_specs"], "measurement_type") if "measurement_specs" in pd else None
        self.metadata = {
            "format": "photon-hdf5", "format_version": str(h.attrs.get("format_version", b"?"), "utf-8")
            if isinstance(h.attrs.get("format_version"), bytes) else str(h.attrs.get("format_version", "?")),
            "timestamps_unit_s": unit, "tcspc_unit_s": self._tcspc_unit, "measurement_type": mtype,
            "written_by_tagstream": self._native, "description": _scalar(h, "description"),
            "acquisition_duration_s": _scalar(h, "acquisition_duration"),
            "timestamps_include_nanotime": bool(self._has_nano and not self._native),
        }
        if self._has_nano and "tcspc_range" in pd["nanotimes_specs"]:
            self.metadata["tcspc_range_s"] = float(_scalar(pd["nanotimes_specs"], "tcspc_range"))
        if "measurement_specs" in pd and "laser_repetition_rate" in pd["measurement_specs"]:
            rate = float(_scalar(pd["measurement_specs"], "laser_repetition_rate"))
            self.metadata["sync_period_ps"] = 1e12 / rate if rate > 0 else None

    def chunks(self, chunk_records: int = DEFAULT_CHUNK_RECORDS) -> Iterator[TagChunk]:
        import h5py
        chunk_records = int(chunk_records)
        if chunk_records < 1:
            raise ValueError("chunk_records must be >= 1")
        window = self.reorder_window_ps
        if self._has_nano and not self._native:
            window += int(np.iinfo(np.uint16).max * self._tcspc_unit * 1e12)
        reorder = MicrotimeReorderer(window, self.path)
        emitted = 0
        integer_unit = abs(self._unit_ps - round(self._unit_ps)) < 1e-9 and round(self._unit_ps) >= 1
        with h5py.File(self.path, "r") as h:
            pd = h["photon_data"]
            n = self.n_records
            block = max(chunk_records, 65536)
            for a in range(0, n, block):
                b = min(a + block, n)
                try:
                    raw = pd["timestamps"][a:b]
                    det = pd["detectors"][a:b].astype(np.int64) if self._has_det else np.zeros(b - a, np.int64)
                    nano = pd["nanotimes"][a:b] if self._has_nano else None
                except (OSError, ValueError) as e:
                    raise CorruptRecordError(f"cannot read photon_data rows {a}..{b}: {e}", self.path, None, a) from None
                raw = self._checked(raw, a, self._unit_ps, "timestamps", "timestamps_unit")
                if nano is not None:
                    nano = self._checked(nano, a, self._tcspc_unit * 1e12, "nanotimes", "tcspc_unit")
                t = raw * int(round(self._unit_ps)) if integer_unit else np.rint(raw * self._unit_ps).astype(np.int64)
                ch = det if self._native else det + 1
                if ch.size and (ch.min() < 0 or ch.max() > np.iinfo(np.uint16).max):
                    i = int(np.argmax((ch < 0) | (ch > 65535)))
                    raise CorruptRecordError(f"detector id {int(det[i])} out of range", self.path, None, a + i)
                micro = None
                if nano is not None:
                    micro = np.rint(nano * (self._tcspc_unit * 1e12)).astype(np.int64)
                    if not self._native:
                        t = t + micro
                t, c, m = reorder.push(t, ch.astype(np.uint16), micro, a)
                for chunk in emit_chunks(t, c, m, chunk_records, emitted):
                    yield chunk
                emitted += t.size
        t, c, m = reorder.finish(self._has_nano)
        for chunk in emit_chunks(t, c, m, chunk_records, emitted):
            yield chunk

    def _checked(self, v: np.ndarray, a: int, unit_ps: float, name: str, unit_name: str) -> np.ndarray:
        """Rows a..b of an integer dataset must be >= 0 and their time in ps must fit in int64 (a uint64 of
        2**63 or more would wrap negative, a large value x unit would overflow)."""
        if v.size == 0:
            return v.astype(np.int64)
        lo, hi = int(v.min()), int(v.max())
        limit = int(np.iinfo(np.int64).max // max(unit_ps, 1.0)) // 2   # room for the nanotime sum
        if lo < 0 or hi > limit:
            bad = int(np.argmax(v < 0)) if lo < 0 else int(np.argmax(v > limit))
            raise CorruptRecordError(
                f"/photon_data/{name} value {int(v[bad])} is {'negative' if lo < 0 else 'too large'}: times must be "
                f">= 0 and x {unit_name} ({unit_ps:g} ps) at most {limit} (garbage, or a wrong {unit_name})",
                self.path, None, a + bad)
        return v.astype(np.int64)

    @property
    def has_microtimes(self) -> bool:
        return bool(self._has_nano)

    def header_setup(self) -> dict:
        """With nanotimes: no sync channel, laser period from laser_repetition_rate (else the TCSPC
        range, said in a note); detectors from /setup/detectors or the first 1M detector IDs."""
        import h5py
        md = self.metadata
        out: dict = {"notes": []}
        if self._has_nano:
            out["sync"] = None
            if md.get("sync_period_ps"):
                out["laser_period_ps"] = float(md["sync_period_ps"])
            elif md.get("tcspc_range_s"):
                out["laser_period_ps"] = float(md["tcspc_range_s"]) * 1e12
                out["notes"].append("Photon-HDF5: no laser_repetition_rate; the laser period is taken as "
                                    "the TCSPC range (nanotimes_specs/tcspc_range)")
        if self._native:
            return out
        with h5py.File(self.path, "r") as h:
            ids = (np.unique(h["photon_data/detectors"][: 1 << 20]) if self._has_det else np.zeros(1, np.int64))
        ch = [int(i) + 1 for i in ids]
        if ch:
            out["spad_a"] = ch[0]
            out["spad_b"] = ch[1] if len(ch) > 1 else None
            if len(ch) > 2:
                out["notes"].append(f"Photon-HDF5: detectors {[c - 1 for c in ch]}; using the first two")
        return out


_TITLES = {
    "description": "User comment describing the data file.",
    "acquisition_duration": "Measurement duration in seconds.",
    "photon_data": "Arrays of photon data (one element per photon).",
    "photon_data/timestamps": "Photon timestamps, in units of timestamps_specs/timestamps_unit.",
    "photon_data/detectors": "Detector (channel) ID of each timestamp.",
    "photon_data/nanotimes": "TCSPC delay after the laser pulse, in units of nanotimes_specs/tcspc_unit.",
    "photon_data/timestamps_specs": "Specifications for timestamps.",
    "photon_data/timestamps_specs/timestamps_unit": "Seconds per timestamp unit.",
    "photon_data/nanotimes_specs": "Specifications for nanotimes.",
    "photon_data/nanotimes_specs/tcspc_unit": "Seconds per nanotime unit (TCSPC bin).",
    "photon_data/nanotimes_specs/tcspc_num_bins": "Number of TCSPC bins.",
    "photon_data/nanotimes_specs/tcspc_range": "TCSPC full scale in seconds.",
    "photon_data/measurement_specs": "Metadata to interpret the measurement.",
    "photon_data/measurement_specs/measurement_type": "Name of the kind of measurement.",
    "photon_data/measurement_specs/laser_repetition_rate": "Pulsed laser repetition rate in Hz.",
    "setup": "Experimental setup.",
    "setup/num_pixels": "Number of detector pixels.",
    "setup/num_spots": "Number of excitation spots.",
    "setup/num_spectral_ch": "Number of spectral bands detected.",
    "setup/num_polarization_ch": "Number of polarization states detected.",
    "setup/num_split_ch": "Number of channels split by a non-polarizing beam splitter.",
    "setup/modulated_excitation": "True if the excitation is modulated or alternated.",
    "setup/lifetime": "True if nanotimes (TCSPC delays) are included.",
    "setup/excitation_alternated": "Whether each excitation source is alternated.",
    "setup/excitation_cw": "Whether each excitation source is continuous wave (False: pulsed).",
    "identity": "Information about this Photon-HDF5 file.",
    "provenance": "Information about the original data file.",
    "user": "User-defined data.",
}


def write_photon_hdf5(path, chunks: Iterable[TagChunk] | TagChunk, *, description: str = "tagstream export",
                      timestamps_unit_s: float = 1e-12, tcspc_unit_s: float | None = None,
                      period_ps: float | None = None, source_file: str | None = None,
                      author: str | None = None, overwrite: bool = False) -> Path:
    """Write TagChunks to a Photon-HDF5 file (atomically). Returns the path.

    timestamps are stored in units of timestamps_unit_s (default 1 ps, exact). If the chunks carry
    microtimes_ps they become nanotimes in units of tcspc_unit_s (default 1 ps); period_ps (the laser
    period) sets laser_repetition_rate and tcspc_range. Channels are stored as detector IDs unchanged.
    """
    import h5py
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    if isinstance(chunks, TagChunk):
        chunks = [chunks]
    unit_ps = timestamps_unit_s * 1e12
    n = 0
    first_t = last_t = None
    has_micro = None
    counts: dict[int, int] = {}
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as h:
            h.attrs["format_name"] = np.bytes_("Photon-HDF5")
            h.attrs["format_version"] = np.bytes_(FORMAT_VERSION)
            h.attrs["format_url"] = np.bytes_(FORMAT_URL)
            h.attrs["TITLE"] = np.bytes_("Photon-HDF5 file written by tagstream")
            pd = h.create_group("photon_data")
            ds_t = pd.create_dataset("timestamps", (0,), np.int64, maxshape=(None,), chunks=(1 << 16,))
            ds_d = pd.create_dataset("detectors", (0,), np.uint16, maxshape=(None,), chunks=(1 << 16,))
            ds_n = None
            prev = None
            for ch in chunks:
                if len(ch) == 0:
                    continue
                micro = ch.microtimes_ps is not None
                if has_micro is None:
                    has_micro = micro
                    if micro:
                        ds_n = pd.create_dataset("nanotimes", (0,), np.int64, maxshape=(None,), chunks=(1 << 16,))
                elif has_micro != micro:
                    raise ValueError("all chunks must either carry microtimes or not")
                t = ch.timestamps_ps
                if prev is not None and t[0] < prev or np.any(np.diff(t) < 0):
                    raise ValueError("timestamps must be non-decreasing")
                prev = int(t[-1])
                if abs(unit_ps - round(unit_ps)) < 1e-9 and round(unit_ps) == 1:
                    tv = t
                else:
                    tv = np.rint(t / unit_ps).astype(np.int64)
                m = len(ch)
                for ds, values in ((ds_t, tv), (ds_d, ch.channels)):
                    ds.resize((n + m,))
                    ds[n:n + m] = values
                if micro:
                    nano_unit_ps = (tcspc_unit_s or 1e-12) * 1e12
                    ds_n.resize((n + m,))
                    ds_n[n:n + m] = np.rint(ch.microtimes_ps / nano_unit_ps).astype(np.int64)
                vals, cnt = np.unique(ch.channels, return_counts=True)
                for v, c in zip(vals.tolist(), cnt.tolist()):
                    counts[v] = counts.get(v, 0) + c
                first_t = int(t[0]) if first_t is None else first_t
                last_t = int(t[-1])
                n += m
            ts = pd.create_group("timestamps_specs")
            ts.create_dataset("timestamps_unit", data=float(timestamps_unit_s))
            ms = pd.create_group("measurement_specs")
            ms.create_dataset("measurement_type", data=np.bytes_("generic"))
            if period_ps:
                ms.create_dataset("laser_repetition_rate", data=1e12 / float(period_ps))
            if has_micro:
                ns = pd.create_group("nanotimes_specs")
                tu = float(tcspc_unit_s or 1e-12)
                ns.create_dataset("tcspc_unit", data=tu)
                rng = float(period_ps) * 1e-12 if period_ps else None
                if rng:
                    ns.create_dataset("tcspc_range", data=rng)
                    ns.create_dataset("tcspc_num_bins", data=int(round(rng / tu)))
            h.create_dataset("description", data=np.bytes_(description))
            h.create_dataset("acquisition_duration",
                             data=float((last_t - first_t) * 1e-12) if n else 0.0)
            ids = sorted(counts)
            st = h.create_group("setup")
            for name, val in (("num_pixels", len(ids)), ("num_spots", 1), ("num_spectral_ch", 1),
                              ("num_polarization_ch", 1), ("num_split_ch", max(len(ids), 1)),
                              ("modulated_excitation", False), ("lifetime", bool(has_micro))):
                st.create_dataset(name, data=val)
            st.create_dataset("excitation_alternated", data=np.array([False]))
            st.create_dataset("excitation_cw", data=np.array([not bool(period_ps or has_micro)]))
            det = st.create_group("detectors")
            det.create_dataset("id", data=np.array(ids, dtype=np.uint16))
            det.create_dataset("counts", data=np.array([counts[i] for i in ids], dtype=np.int64))
            idt = h.create_group("identity")
            now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
            try:
                from importlib.metadata import version
                sw_version = version("tagstream")
            except Exception:
                sw_version = "unknown"
            for name, val in (("filename", path.name), ("filename_full", str(path.resolve())),
                              ("creation_time", now), ("software", "tagstream"), ("software_version", sw_version),
                              ("format_name", "Photon-HDF5"), ("format_version", FORMAT_VERSION),
                              ("format_url", FORMAT_URL)) + ((("author", author),) if author else ()):
                idt.create_dataset(name, data=np.bytes_(val))
            pv = h.create_group("provenance")
            if source_file:
                sp = Path(source_file)
                pv.create_dataset("filename", data=np.bytes_(sp.name))
                pv.create_dataset("filename_full", data=np.bytes_(str(sp.resolve())))
            pv.create_dataset("software", data=np.bytes_("tagstream"))
            us = h.create_group("user").create_group("tagstream")
            us.create_dataset("channels_are_tagstream", data=True)
            for key, title in _TITLES.items():
                if key in h:
                    h[key].attrs["TITLE"] = np.bytes_(title)
    return path
