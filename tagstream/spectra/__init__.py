"""tagstream.spectra: EMCCD spectra (Andor SIF, simulator files), alignment to the photon stream."""
