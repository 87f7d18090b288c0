"""`cli.py bench --peers`: the JAX peer is an optional extra. Without JAX the bench says so in
one line and goes on (exit 0); with JAX, the peer's training is the engine's to rounding."""

import sys

import numpy as np
import pytest

from commands import bench, peers


def test_without_jax_the_bench_says_how_to_get_it_and_succeeds(monkeypatch, capsys):
    import cli

    monkeypatch.setitem(sys.modules, "jax", None)  # `import jax` now fails, as where it is not installed
    # the rest of the bench runs as it is; only its default run (100,000 trajectory-steps) is cut short
    monkeypatch.setattr(bench, "bench_default_run", lambda threads, repeats: (0.1, 0.1))
    assert not peers.jax_available()
    assert cli.main(["bench", "--peers", "--seconds", "0.02", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert out.count(peers.MISSING) == 1
    assert "K =    21:" in out  # the engine's own lines are there too


def test_without_jax_the_json_names_the_skip(monkeypatch):
    monkeypatch.setitem(sys.modules, "jax", None)
    assert peers.bench_peers(0.02, 1) == {"skipped": peers.MISSING}
    assert peers.peer_lines({"skipped": peers.MISSING}, 1) == [peers.MISSING]


def test_the_jax_peer_follows_the_engine_s_trajectory():
    pytest.importorskip("jax")  # an optional extra: SKIPPED where it is not installed (CI)
    check = peers.max_difference(peers.load_jax(), n_steps=10, n_rows=5, eta=1.0)
    assert check["max_abs_moved"] > 0.1  # the networks did move: a peer that did not train fails below
    assert check["max_abs_difference"] < 1e-12


def test_the_jax_peer_s_loss_is_the_engine_s():
    pytest.importorskip("jax")
    jax = peers.load_jax()
    mlp, data = peers.default_problem()
    theta = mlp.init(np.random.default_rng(3), 4)  # (K, P)
    train, _path = peers.make_peer(jax, data.x_train, data.y_train)
    _final, losses = train(peers.split(mlp, theta), 0.01, n_steps=1)  # losses (T, K): of theta_0
    engine_loss, _grad, _accuracy = mlp.objective(data.x_train, data.y_train, threads=1)(theta)
    np.testing.assert_allclose(np.asarray(losses)[0], engine_loss, rtol=1e-13)
