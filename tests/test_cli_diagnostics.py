"""``cli.py diagnostics``: the files it writes, and bad input refused before any training."""

import errno
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHORT = ["--steps", "600", "--transient", "100", "--max-lag", "40", "--shuffles", "100"]
FILES = {"loss.csv", "acf.csv", "expansion_rates.csv", "top_weights.csv", "diagnostics.json"}


def read_csv(path: Path) -> tuple[list[str], np.ndarray]:
    header = path.read_text().splitlines()[0].split(",")
    return header, np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("diagnostics") / "out"
    args = [sys.executable, "cli.py", "diagnostics", *SHORT, "--top", "3", "--save-every", "10", "--out", str(out)]
    result = subprocess.run([*args, "--json"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return out, json.loads(result.stdout)


def test_all_files_are_written_with_their_columns(written):
    out, summary = written
    assert {p.name for p in out.iterdir()} == FILES
    header, loss = read_csv(out / "loss.csv")
    assert header == ["step", "loss", "accuracy", "weight_norm"] and loss.shape == (601, 4)
    np.testing.assert_array_equal(loss[:, 0], np.arange(601))
    header, acf = read_csv(out / "acf.csv")
    assert header == ["lag", "acf", "null_low", "null_high"] and acf.shape == (41, 4)
    assert acf[0, 1:].tolist() == [1.0, 1.0, 1.0]
    header, rates = read_csv(out / "expansion_rates.csv")
    assert header == ["t0", "loss_level", "rate", "r2", "significant"]
    assert rates.shape[0] == summary["n_rates"] and (rates[:, 0] >= 100).all()
    assert set(np.unique(rates[:, 4])) <= {0.0, 1.0}
    header, top = read_csv(out / "top_weights.csv")
    assert header[0] == "step" and len(header) == 4 and top.shape == (61, 4)
    assert [int(name.split("_")[0][1:]) for name in header[1:]] == summary["top_weight_indices"]
    assert header[1:] == summary["top_weight_labels"]


def test_the_summary_agrees_with_the_files(written):
    out, summary = written
    on_disk = json.loads((out / "diagnostics.json").read_text())
    assert on_disk == summary
    _, loss = read_csv(out / "loss.csv")
    assert summary["loss_increase_fraction"] == pytest.approx(np.mean(np.diff(loss[:, 1]) > 0))
    assert 0.45 <= summary["loss_increase_fraction"] <= 0.6  # eta 5 by default
    _, acf = read_csv(out / "acf.csv")
    outside = (acf[1:, 1] < acf[1:, 2]) | (acf[1:, 1] > acf[1:, 3])
    assert summary["acf_outside_band_fraction"] == pytest.approx(outside.mean())
    for key in ("median_rate", "fraction_significant", "config"):
        assert key in summary
    assert summary["config"]["learning_rate"] == 5.0 and summary["config"]["save_every"] == 10


def test_the_summary_says_what_the_loss_settles_on(written, tmp_path, capsys):
    """600 steps of seed 0 at eta 5: its period-10 cycle (from step 404) covers less than the last
    half, so nothing is seen to repeat; at 1000 steps it does, and the text says so."""
    import cli
    from core.analysis.attractor import classify_attractor

    out, summary = written
    _, loss = read_csv(out / "loss.csv")
    assert summary["attractor"] == classify_attractor(loss[:, 1]).to_dict()
    assert summary["attractor"] == {"kind": "aperiodic", "period": None, "since": None}
    longer = ["--steps", "1000", "--transient", "500", "--max-lag", "40", "--shuffles", "20"]
    assert cli.main(["diagnostics", *longer, "--out", str(tmp_path / "out")]) == 0
    on_disk = json.loads((tmp_path / "out" / "diagnostics.json").read_text())
    assert on_disk["attractor"] == {"kind": "periodic", "period": 10, "since": 404}
    assert "the loss settles on a cycle of period 10 from step 404 to the end (1000)" in capsys.readouterr().out


def test_an_existing_directory_gets_the_files_and_keeps_its_own(tmp_path):
    import cli

    (tmp_path / "notes.txt").write_text("mine")
    assert cli.main(["diagnostics", *SHORT, "--out", str(tmp_path)]) == 0
    assert {p.name for p in tmp_path.iterdir()} == FILES | {"notes.txt"}
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert not [p for p in tmp_path.parent.iterdir() if p.name.startswith(f".{tmp_path.name}.")]  # no staging left


@pytest.fixture
def untrained(monkeypatch):
    """The CLI module, whose training fails the test if it starts: checks must come first."""
    import cli
    from core.experiments import diagnostics

    def train(*args, **kwargs):
        raise AssertionError("training started before the input was checked")

    monkeypatch.setattr(diagnostics, "descend", train)
    return cli


def refused(cli, capsys, argv: list[str]) -> str:
    """The one line on stderr of a run that exits 2 (argparse exits, the checks return)."""
    try:
        status = cli.main(argv)
    except SystemExit as exc:
        status = exc.code
    assert status == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_an_out_path_that_is_a_file_is_refused(untrained, tmp_path, capsys):
    (tmp_path / "plain").write_text("a file")
    line = refused(untrained, capsys, ["diagnostics", "--out", str(tmp_path / "plain")])
    assert "--out" in line and "not a directory" in line
    assert (tmp_path / "plain").read_text() == "a file" and [p.name for p in tmp_path.iterdir()] == ["plain"]


def test_an_out_path_without_a_parent_is_refused(untrained, tmp_path, capsys):
    line = refused(untrained, capsys, ["diagnostics", "--out", str(tmp_path / "missing" / "out")])
    assert "--out" in line and "missing" in line
    assert list(tmp_path.iterdir()) == []


def test_an_unwritable_out_directory_is_refused(untrained, tmp_path, capsys, monkeypatch):
    from commands import common

    monkeypatch.setattr(common.os, "access", lambda path, mode: False)  # as root every mode bit is ignored
    line = refused(untrained, capsys, ["diagnostics", "--out", str(tmp_path)])
    assert "--out" in line and "not writable" in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--transient", "-1"], "transient"),
        (["--transient", "600"], "--transient 600 must be below --steps 600"),
        (["--max-lag", "0"], "max_lag"),
        (["--transient", "500", "--max-lag", "101"], "max_lag must be between 1 and 100"),
        (["--shuffles", "0"], "n_shuffles"),
        (["--top", "0"], "n_top"),
        (["--top", "71"], "n_top must be between 1 and 70"),
        (["--save-every", "0"], "save_every"),
        (["--eta", "-5"], "learning_rate"),
        (["--steps", "0"], "n_steps"),
        (["--shuffles", "many"], "invalid int value"),
    ],
)
def test_bad_numbers_exit_2_and_write_nothing(untrained, tmp_path, capsys, argv, message):
    base = ["diagnostics", "--steps", "600", "--transient", "100", "--max-lag", "40"]
    line = refused(untrained, capsys, [*base, *argv, "--out", str(tmp_path / "out")])
    assert message in line
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_leaves_nothing(tmp_path, capsys, monkeypatch):
    import cli

    def disk_full(path, *args, **kwargs):
        Path(path).write_text("half a ta")
        raise OSError(errno.ENOSPC, "No space left on device")

    from commands import analysis

    monkeypatch.setattr(analysis.np, "savetxt", disk_full)
    line = refused(cli, capsys, ["diagnostics", *SHORT, "--out", str(tmp_path / "out")])
    assert "No space left on device" in line
    assert list(tmp_path.iterdir()) == []


def test_init_from_starts_from_the_given_network(tmp_path):
    """The network seed 3 draws, passed as a file to a seed-0 run, gives seed 3's loss series."""
    import cli
    from core.config import RunConfig
    from core.engine.model import MLP
    from core.experiments.diagnostics import run_diagnostics

    init = tmp_path / "init.npz"
    np.savez(init, theta0=MLP().init(np.random.default_rng(3), 1)[0])  # as run_stability draws seed 3
    assert cli.main(["diagnostics", *SHORT, "--init-from", str(init), "--out", str(tmp_path / "out")]) == 0
    _, loss = read_csv(tmp_path / "out" / "loss.csv")
    seeded = run_diagnostics(
        RunConfig(learning_rate=5.0, n_steps=600, seed=3), transient=100, max_lag=40, n_shuffles=10
    )
    np.testing.assert_array_equal(loss[:, 1], seeded.loss)
