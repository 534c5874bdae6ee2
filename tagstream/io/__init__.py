"""Reading and writing time tags: one streaming interface for every format.

    reader = open_tags(path)                 # format from magic bytes, then extension
    for chunk in reader.chunks(1 << 20):     # TagChunk: timestamps_ps int64, channels uint16, time order
        ...
See base.py (reader contract, truncation rule), formats.py (registry), qutag.py, ascii.py, sstt.py,
ptu.py, photon_hdf5.py, spc.py (Becker & Hickl), propose.py (the setup a recording proposes).
"""

from tagstream.io.ascii import QutagAsciiReader
from tagstream.io.base import TagReader
from tagstream.io.formats import detect_format, formats, open_tags, register_format
from tagstream.io.qutag import (QUTAG_MAGIC, QutagBinaryReader, QutagBinaryWriter, QutagCompressedReader,
                                QutagRawReader, write_qutag_binary)
from tagstream.io.sstt import SsttReader, SsttV2Writer, sniff_sstt, write_sstt_v2


def _sniff_qutag(head: bytes) -> bool:
    return head.startswith(QUTAG_MAGIC)


def _sniff_qutag_shared(head: bytes) -> bool:
    return head.startswith(QUTAG_MAGIC)


_sniff_qutag_shared.shared_magic_only = True   # chosen only when the extension says so


def _sniff_ascii(head: bytes) -> bool:
    import re
    return re.match(rb"\A(\s*#[^\n]*\n|\s*\n)*\s*\d{1,18}\s*,\s*\d{1,5}\s*\r?\n", head) is not None


register_format("qutag-binary", (".qutag", ".bin", ".qtb"), _sniff_qutag,
                lambda p, **o: QutagBinaryReader(p, **o))
register_format("qutag-compressed", (".qutagc", ".qtc"), _sniff_qutag_shared,
                lambda p, **o: QutagCompressedReader(p, **o))
register_format("qutag-raw", (".raw", ".qutagraw"), None, lambda p, **o: QutagRawReader(p, **o))
register_format("qutag-ascii", (".txt", ".csv", ".asc"), _sniff_ascii, lambda p, **o: QutagAsciiReader(p, **o))
register_format("sstt-v2", (".sstt",), sniff_sstt, lambda p, **o: SsttReader(p, **o))
register_format("sstt-v1", (), None, lambda p, **o: SsttReader(p, version=1, **o))
from tagstream.io.ptu import PtuReader, sniff_ptu  # noqa: E402
from tagstream.io.photon_hdf5 import PhotonHdf5Reader, sniff_hdf5, write_photon_hdf5  # noqa: E402
register_format("ptu", (".ptu",), sniff_ptu, lambda p, **o: PtuReader(p, **o))
register_format("photon-hdf5", (".h5", ".hdf5"), sniff_hdf5, lambda p, **o: PhotonHdf5Reader(p, **o))
from tagstream.io.spc import SpcReader  # noqa: E402
register_format("bh-spc", (".spc",), None, lambda p, **o: SpcReader(p, **o))   # no magic: by extension

__all__ = ["open_tags", "register_format", "detect_format", "formats", "TagReader", "QutagBinaryWriter",
           "write_qutag_binary", "SsttV2Writer", "write_sstt_v2", "QutagBinaryReader", "QutagRawReader",
           "QutagCompressedReader", "QutagAsciiReader", "SsttReader", "PtuReader", "PhotonHdf5Reader", "SpcReader",
           "write_photon_hdf5"]
