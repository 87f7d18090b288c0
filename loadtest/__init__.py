"""The load test of the lab server: a simulated visitor that speaks the Dash renderer's side
of the protocol (visitor), the servers it is run against, started on loopback and stopped
with everything they started (servers), and the test itself with its report (run).
``scripts/load_test.py`` is its command line; tests/cluster/test_load.py and
tests/cluster/test_faults.py use it from Python."""
