"""PTU reader: files written here by the documented tag layout (PicoQuant Read_PTU.py), a pure-Python
reference decoder, every record family, overflow across chunk boundaries, truncation, garbage."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st, HealthCheck

from tagstream.errors import TagFileError, TruncatedFileError, CorruptRecordError, HeaderError, BadMagicError
from tagstream.io import open_tags, detect_format
from tagstream.io.ptu import PtuReader, RECORD_TYPES, SYNC_CHANNEL, MARKER_BASE

TY = dict(empty=0xFFFF0008, bool=0x00000008, int=0x10000008, float=0x20000008, datetime=0x21000008,
          ansi=0x4001FFFF, wide=0x4002FFFF, blob=0xFFFFFFFF)


def ptu_bytes(rec_type: int, records: list[int], glob_res: float, res: float, n_records: int | None = None) -> bytes:
    """A PTU file by the documented layout: magic, version, 48-byte tags (+data), Header_End, records."""
    out = [b"PQTTTR\x00\x00", b"1.0.00\x00\x00"]

    def tag(name, typ, value=0, data=b"", idx=-1):
        raw = struct.pack("<32siI", name.encode().ljust(32, b"\x00"), idx, typ)
        if typ in (TY["float"], TY["datetime"]):
            raw += struct.pack("<d", value)
        elif typ in (TY["ansi"], TY["wide"], TY["blob"]):
            raw += struct.pack("<q", len(data))
        else:
            raw += struct.pack("<q", int(value))
        out.append(raw + data)

    tag("File_GUID", TY["ansi"], data=b"{0000-test}\x00\x00\x00\x00\x00")
    tag("File_Comment", TY["wide"], data="tagstream test".encode("utf-16-le") + b"\x00\x00")
    tag("File_CreatingTime", TY["datetime"], 45000.5)
    tag("Measurement_SubMode", TY["int"], 3 if RECORD_TYPES.get(rec_type, ("", 0, True))[2] else 2)
    tag("HW_Inpchan", TY["bool"], 1, idx=0)
    tag("ChkHistogram", TY["blob"], data=bytes(24))
    tag("TTResultFormat_TTTRRecType", TY["int"], rec_type)
    tag("TTResult_NumberOfRecords", TY["int"], len(records) if n_records is None else n_records)
    tag("MeasDesc_GlobalResolution", TY["float"], glob_res)
    tag("MeasDesc_Resolution", TY["float"], res)
    tag("Header_End", TY["empty"])
    return b"".join(out) + np.asarray(records, dtype="<u4").tobytes()


# --- record encoders (inverse of the documented bit layouts) --------------------------------------------
def pq_t2(ch, t): return (ch << 28) | t
def pq_t3(ch, dt, ns): return (ch << 28) | (dt << 16) | ns
def hh_t2(sp, ch, t): return (sp << 31) | (ch << 25) | t
def hh_t3(sp, ch, dt, ns): return (sp << 31) | (ch << 25) | (dt << 10) | ns


def reference_decode(kind: int, words):
    """Straight transcription of the PicoQuant demo logic (per record, Python ints)."""
    ofl = 0
    out = []   # (ticks, dtime or -1, channel)
    for w in words:
        w = int(w)
        if kind == 0:
            ch, tm = w >> 28, w & 0x0FFFFFFF
            if ch == 15:
                if tm & 15 == 0:
                    ofl += 210698240
                else:
                    out.append((ofl + tm, -1, MARKER_BASE + (tm & 15)))
            else:
                out.append((ofl + tm, -1, SYNC_CHANNEL if ch == 0 else ch))
        elif kind == 1:
            ch, dt, ns = w >> 28, (w >> 16) & 0xFFF, w & 0xFFFF
            if ch == 15:
                if dt == 0:
                    ofl += 65536
                else:
                    out.append((ofl + ns, -1, MARKER_BASE + (dt & 15)))
            else:
                out.append((ofl + ns, dt, ch))
        elif kind in (2, 3):
            sp, ch, tm = w >> 31, (w >> 25) & 63, w & 0x1FFFFFF
            if sp and ch == 63:
                ofl += 33552000 if kind == 2 else 33554432 * (tm or 1)
            elif sp:
                out.append((ofl + tm, -1, SYNC_CHANNEL if ch == 0 else MARKER_BASE + ch))
            else:
                out.append((ofl + tm, -1, ch + 1))
        else:
            sp, ch, dt, ns = w >> 31, (w >> 25) & 63, (w >> 10) & 0x7FFF, w & 0x3FF
            if sp and ch == 63:
                ofl += 1024 if kind == 4 else 1024 * (ns or 1)
            elif sp:
                out.append((ofl + ns, -1, MARKER_BASE + ch))
            else:
                out.append((ofl + ns, dt, ch + 1))
    return out


def make_stream(rec_type: int, n: int, rng) -> list[int]:
    """Random time-ordered records with overflows (single and, for v2, multiple) and markers."""
    name, kind, t3 = RECORD_TYPES[rec_type]
    recs = []
    if kind == 0:
        t = 0
        for _ in range(n):
            t += int(rng.integers(1, 30_000_000))
            while t >= 1 << 28:
                recs.append(pq_t2(15, 0)); t -= 210698240
            r = rng.random()
            recs.append(pq_t2(15, (t & ~15) | int(rng.integers(1, 16))) if r < 0.05 else pq_t2(int(rng.integers(0, 5)), t))
    elif kind == 1:
        ns = 0
        for _ in range(n):
            ns += int(rng.integers(0, 9000))
            while ns >= 65536:
                recs.append(pq_t3(15, 0, 0)); ns -= 65536
            r = rng.random()
            recs.append(pq_t3(15, int(rng.integers(1, 16)), ns) if r < 0.05 else
                        pq_t3(int(rng.integers(1, 5)), int(rng.integers(0, 4096)), ns))
    elif kind in (2, 3):
        wrap = 33552000 if kind == 2 else 33554432
        t = 0
        for _ in range(n):
            t += int(rng.integers(1, 20_000_000))
            if kind == 3 and t >= 3 * wrap and rng.random() < 0.5:
                k = t // wrap; recs.append(hh_t2(1, 63, k)); t -= k * wrap
            while t >= wrap:
                recs.append(hh_t2(1, 63, 0 if kind == 3 else 0)); t -= wrap
            r = rng.random()
            if r < 0.05:
                recs.append(hh_t2(1, int(rng.integers(1, 16)), t))
            elif r < 0.15:
                recs.append(hh_t2(1, 0, t))
            else:
                recs.append(hh_t2(0, int(rng.integers(0, 8)), t))
    else:
        ns = 0
        for _ in range(n):
            ns += int(rng.integers(0, 3000))
            if kind == 5 and ns >= 3 * 1024 and rng.random() < 0.5:
                k = ns // 1024; recs.append(hh_t3(1, 63, 0, k)); ns -= k * 1024
            while ns >= 1024:
                recs.append(hh_t3(1, 63, 0, 0 if kind == 5 else 0)); ns -= 1024
            recs.append(hh_t3(1, int(rng.integers(1, 16)), 0, ns) if rng.random() < 0.05 else
                        hh_t3(0, int(rng.integers(0, 8)), int(rng.integers(0, 2000)), ns))
    return recs


RES = {0: (4e-12, 4e-12), 1: (12.5e-9, 4e-12), 2: (1e-12, 1e-12), 3: (25e-12, 25e-12), 4: (12.5e-9, 1e-12),
       5: (12.5e-9, 25e-12)}


def expected_arrays(rec_type, recs):
    name, kind, t3 = RECORD_TYPES[rec_type]
    glob, res = RES[kind]
    ref = reference_decode(kind, recs)
    ticks = np.array([r[0] for r in ref], dtype=np.float64)
    dt = np.array([r[1] for r in ref], dtype=np.int64)
    ch = np.array([r[2] for r in ref], dtype=np.uint16)
    if t3:
        micro = np.where(dt >= 0, np.rint(dt * res * 1e12), -1).astype(np.int64)
        t = np.rint(ticks * glob * 1e12).astype(np.int64) + np.maximum(micro, 0)
    else:
        micro = None
        t = np.rint(ticks * glob * 1e12).astype(np.int64)
    order = np.argsort(t, kind="stable")
    return t[order], ch[order], None if micro is None else micro[order]


@pytest.mark.parametrize("rec_type", sorted(RECORD_TYPES))
def test_every_record_type_matches_reference(tmp_path, rec_type):
    rng = np.random.default_rng(rec_type & 0xFFFF)
    recs = make_stream(rec_type, 3000, rng)
    kind = RECORD_TYPES[rec_type][1]
    p = tmp_path / "x.ptu"
    p.write_bytes(ptu_bytes(rec_type, recs, *RES[kind]))
    assert detect_format(p) == "ptu"
    r = open_tags(p)
    assert r.format == "ptu" and r.metadata["record_type"] == RECORD_TYPES[rec_type][0]
    got = r.read_all()
    t, ch, micro = expected_arrays(rec_type, recs)
    np.testing.assert_array_equal(got.timestamps_ps, t)
    np.testing.assert_array_equal(got.channels, ch)
    if micro is None:
        assert got.microtimes_ps is None
    else:
        np.testing.assert_array_equal(got.microtimes_ps, micro)
        assert r.metadata["sync_period_ps"] == pytest.approx(RES[kind][0] * 1e12)
        assert r.metadata["resolution_ps"] == pytest.approx(RES[kind][1] * 1e12)
    assert np.all(np.diff(got.timestamps_ps) >= 0)


def test_multiharp_t3_code_is_66311():
    assert 66311 == 0x00010307 and RECORD_TYPES[66311][0] == "MultiHarpT3"
    assert RECORD_TYPES[0x00010304][0] == "HydraHarpT3" and RECORD_TYPES[0x01010304][0] == "HydraHarp2T3"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chunk=st.integers(1, 700), rec_type=st.sampled_from([0x00010203, 0x00010303, 0x01010204, 0x00010305]))
def test_chunking_does_not_change_result(tmp_path, chunk, rec_type):
    """Overflow state is carried across chunk boundaries: any chunk size gives the same stream."""
    kind = RECORD_TYPES[rec_type][1]
    recs = make_stream(rec_type, 1500, np.random.default_rng(7))
    p = tmp_path / f"c{rec_type}.ptu"
    p.write_bytes(ptu_bytes(rec_type, recs, *RES[kind]))
    r = PtuReader(p)
    whole = r.read_all()
    parts = list(PtuReader(p).chunks(chunk))
    assert all(len(c) <= chunk for c in parts)
    np.testing.assert_array_equal(np.concatenate([c.timestamps_ps for c in parts]), whole.timestamps_ps)
    np.testing.assert_array_equal(np.concatenate([c.channels for c in parts]), whole.channels)
    assert [c.first_record for c in parts] == list(np.cumsum([0] + [len(c) for c in parts[:-1]]))


def test_overflow_at_block_boundary(tmp_path):
    """Records decoded in blocks of 4096: an overflow as the last record of a block must carry over."""
    recs = [pq_t3(1, 5, 10)] * 4095 + [pq_t3(15, 0, 0)] + [pq_t3(2, 7, 3)]
    p = tmp_path / "b.ptu"
    p.write_bytes(ptu_bytes(0x00010303, recs, 12.5e-9, 4e-12))
    got = PtuReader(p).read_all()
    assert got.timestamps_ps[-1] == round((65536 + 3) * 12500) + 28


def test_truncated_every_byte_offset(tmp_path):
    """Cut a small file at every byte: only TagFileError subclasses, whole records before the cut."""
    recs = make_stream(0x00010304, 40, np.random.default_rng(3))
    data = ptu_bytes(0x00010304, recs, 12.5e-9, 1e-12)
    full = PtuReader(_write(tmp_path / "full.ptu", data)).read_all()
    header_len = len(data) - 4 * len(recs)
    for cut in range(len(data)):
        p = _write(tmp_path / "cut.ptu", data[:cut])
        try:
            r = open_tags(p, format="ptu")
            got = []
            with pytest.raises(TruncatedFileError):
                for c in r.chunks(7):
                    got.append(c)
            n_whole = (cut - header_len) // 4
            exp = reference_decode(4, recs[:n_whole])
            assert sum(len(c) for c in got) == len(exp)
        except TagFileError as e:
            assert cut < header_len or cut == header_len, (cut, e)
    assert len(full) == len(reference_decode(4, recs))


def test_truncated_allowed_reads_whole_records(tmp_path):
    recs = make_stream(0x00010303, 50, np.random.default_rng(4))
    data = ptu_bytes(0x00010303, recs, 12.5e-9, 4e-12)
    p = _write(tmp_path / "t.ptu", data[:-3])
    r = open_tags(p, allow_truncated=True)
    got = r.read_all()
    assert len(got) == len(reference_decode(1, recs[:-1])) and r.warnings


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(garbage=st.binary(min_size=0, max_size=600), keep_header=st.booleans(),
       rec_type=st.sampled_from(sorted(RECORD_TYPES)))
def test_garbage_never_escapes_as_other_exception(tmp_path, garbage, keep_header, rec_type):
    data = ptu_bytes(rec_type, [], 12.5e-9, 4e-12, n_records=0)[:-16] + garbage if keep_header else garbage
    p = _write(tmp_path / "g.ptu", data)
    try:
        r = open_tags(p, format="ptu")
        for _ in r.chunks(64):
            pass
    except TagFileError:
        pass


def test_corrupt_record_names_offset(tmp_path):
    recs = [pq_t3(1, 1, 1), pq_t3(0, 1, 2)]          # PicoHarp T3 channel 0 is invalid
    data = ptu_bytes(0x00010303, recs, 12.5e-9, 4e-12)
    p = _write(tmp_path / "bad.ptu", data)
    with pytest.raises(CorruptRecordError) as e:
        PtuReader(p).read_all()
    assert e.value.record == 1 and e.value.byte_offset == len(data) - 4 and e.value.path == p


def test_bad_magic_and_unknown_record_type(tmp_path):
    with pytest.raises(BadMagicError):
        PtuReader(_write(tmp_path / "m.ptu", b"NOTPTU\x00\x00" + bytes(100)))
    with pytest.raises(HeaderError, match="0x00099999"):
        PtuReader(_write(tmp_path / "u.ptu", ptu_bytes(0x00099999, [], 1e-12, 1e-12)))


def test_header_metadata_json_serialisable(tmp_path):
    import json
    p = _write(tmp_path / "j.ptu", ptu_bytes(0x00010307, [hh_t3(0, 0, 5, 5)], 12.5e-9, 5e-12))
    r = PtuReader(p)
    json.dumps(r.metadata)
    assert r.metadata["tags"]["File_Comment"] == "tagstream test" and r.metadata["tags"]["HW_Inpchan(0)"] is True


def _write(p, data):
    p.write_bytes(data)
    return p
