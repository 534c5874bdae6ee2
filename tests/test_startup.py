"""Start-up: the CLI and `--help` import no heavy library (scipy, Qt, polars, h5py, numba); the
analysis stack loads when a command runs (bench/bench_startup.py measures the wall times)."""

import subprocess
import sys

HEAVY = ("scipy", "PyQt6", "polars", "h5py", "numba", "pyqtgraph")


def _loaded(code: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", code + f"\nimport sys; print(' '.join(m for m in {HEAVY!r} "
                          "if m in sys.modules))"], check=True, capture_output=True, text=True).stdout
    return out.split()


def test_cli_import_and_help_parser_load_no_heavy_module():
    assert _loaded("import tagstream.cli as c; c.build_parser()") == []


def test_io_and_spectra_sidecar_imports_stay_light():
    assert _loaded("import tagstream.io; tagstream.io.formats(); import tagstream.simulate.spectra_file") == []


def test_lazy_io_names_resolve_and_match_the_reader_modules():
    import tagstream.io as io
    from tagstream.io import photon_hdf5, ptu, qutag, sstt

    assert io.QutagBinaryReader is qutag.QutagBinaryReader and io.write_sstt_v2 is sstt.write_sstt_v2
    assert io._QUTAG_MAGIC == qutag.QUTAG_MAGIC
    for head in (qutag.QUTAG_MAGIC + b"x", ptu.PTU_MAGIC + b"x", photon_hdf5.HDF5_MAGIC + b"x",
                 b"Simple Small Time Tagged x", b"abc\nCHANNEL_HEADER\n", b"nothing"):
        assert io._sniff_ptu(head) == ptu.sniff_ptu(head)
        assert io._sniff_hdf5(head) == photon_hdf5.sniff_hdf5(head)
        assert io._sniff_sstt(head) == sstt.sniff_sstt(head)
        assert io._sniff_qutag(head) == head.startswith(qutag.QUTAG_MAGIC)
    import tagstream.simulate as sim
    from tagstream.simulate import simulation

    assert sim.Simulation is simulation.Simulation
