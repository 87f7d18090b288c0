"""The sharpness command: its JSON contract and its one-line error for a bad --every."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "cli.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_sharpness_json_contract_and_bad_every():
    result = cli("sharpness", "--eta", "1", "--steps", "100", "--every", "20", "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["steps"] == [0, 20, 40, 60, 80, 100]
    assert len(out["sharpness"]) == 6 and all(0 < s < 20 for s in out["sharpness"])
    assert out["sharpness"][0] > 3 * out["two_over_eta"]  # the seed's network (~7) starts above the edge
    assert out["two_over_eta"] == 2.0 and out["config"]["learning_rate"] == 1.0 and out["config"]["n_steps"] == 100
    bad = cli("sharpness", "--steps", "10", "--every", "0")
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.strip().splitlines() == ["cli.py sharpness: error: every must be between 1 and 10000000, got 0"]
