"""Experiments: a config in, a result out. Each sets up its networks and copies, trains them
with the engine and measures them with the estimators: one run's stability, the eps sweep,
orbital stability, the diagnostics of a long run, the FTLE over many networks, the cells of
sweeps and maps, the regimes over eta, the eta x eps and eta x seed maps, the orbit diagram."""
