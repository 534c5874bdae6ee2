"""Reading and writing time tags: one streaming interface for every format.

    reader = open_tags(path)                 # format from magic bytes, then extension
    for chunk in reader.chunks(1 << 20):     # TagChunk: timestamps_ps int64, channels uint16, time order
        ...
See base.py (reader contract, truncation rule), formats.py (registry), qutag.py, ascii.py, sstt.py,
ptu.py, photon_hdf5.py, spc.py (Becker & Hickl), propose.py (the setup a recording proposes).
"""

from tagstream.lazy import lazy_getattr

from tagstream.io.formats import detect_format, formats, open_tags, register_format

# The readers (and numba, which their kernels need) are imported on first use, so that importing
# tagstream.io (e.g. for `tagstream --help`) stays cheap: attribute -> module that defines it.
_LAZY = {"TagReader": "base", "QutagAsciiReader": "ascii", "QUTAG_MAGIC": "qutag", "QutagBinaryReader": "qutag",
         "QutagBinaryWriter": "qutag", "QutagCompressedReader": "qutag", "QutagRawReader": "qutag",
         "write_qutag_binary": "qutag", "SsttReader": "sstt", "SsttV2Writer": "sstt", "sniff_sstt": "sstt",
         "write_sstt_v2": "sstt", "PtuReader": "ptu", "sniff_ptu": "ptu", "PhotonHdf5Reader": "photon_hdf5",
         "sniff_hdf5": "photon_hdf5", "write_photon_hdf5": "photon_hdf5", "SpcReader": "spc"}

__getattr__ = lazy_getattr("tagstream.io", _LAZY)


def _lazy(name: str):
    """A callable that imports tagstream.io's attribute `name` when first called."""
    return lambda *a, **o: __getattr__(name)(*a, **o)


_QUTAG_MAGIC = b"\x87\xb3\x91\xfa"   # = tagstream.io.qutag.QUTAG_MAGIC (checked in tests)


def _sniff_qutag(head: bytes) -> bool:
    return head.startswith(_QUTAG_MAGIC)


def _sniff_qutag_shared(head: bytes) -> bool:
    return head.startswith(_QUTAG_MAGIC)


_sniff_qutag_shared.shared_magic_only = True   # chosen only when the extension says so


def _sniff_ascii(head: bytes) -> bool:
    import re
    return re.match(rb"\A(\s*#[^\n]*\n|\s*\n)*\s*\d{1,18}\s*,\s*\d{1,5}\s*\r?\n", head) is not None


def _sniff_sstt(head: bytes) -> bool:   # = tagstream.io.sstt.sniff_sstt without importing the reader
    return head.startswith(b"Simple Small Time Tagged") or b"\nCHANNEL_HEADER" in head


def _sniff_ptu(head: bytes) -> bool:   # = tagstream.io.ptu.sniff_ptu
    return head.startswith(b"PQTTTR\x00\x00")


def _sniff_hdf5(head: bytes) -> bool:   # = tagstream.io.photon_hdf5.sniff_hdf5
    return head.startswith(b"\x89HDF\r\n\x1a\n")


register_format("qutag-binary", (".qutag", ".bin", ".qtb"), _sniff_qutag, _lazy("QutagBinaryReader"))
register_format("qutag-compressed", (".qutagc", ".qtc"), _sniff_qutag_shared, _lazy("QutagCompressedReader"))
register_format("qutag-raw", (".raw", ".qutagraw"), None, _lazy("QutagRawReader"))
register_format("qutag-ascii", (".txt", ".csv", ".asc"), _sniff_ascii, _lazy("QutagAsciiReader"))
register_format("sstt-v2", (".sstt",), _sniff_sstt, _lazy("SsttReader"))
register_format("sstt-v1", (), None, lambda p, **o: __getattr__("SsttReader")(p, version=1, **o))
register_format("ptu", (".ptu",), _sniff_ptu, _lazy("PtuReader"))
register_format("photon-hdf5", (".h5", ".hdf5"), _sniff_hdf5, _lazy("PhotonHdf5Reader"))
register_format("bh-spc", (".spc",), None, _lazy("SpcReader"))   # no magic: by extension

__all__ = ["open_tags", "register_format", "detect_format", "formats", "TagReader", "QutagBinaryWriter",
           "write_qutag_binary", "SsttV2Writer", "write_sstt_v2", "QutagBinaryReader", "QutagRawReader",
           "QutagCompressedReader", "QutagAsciiReader", "SsttReader", "PtuReader", "PhotonHdf5Reader",
           "SpcReader", "write_photon_hdf5"]
