"""The test tiers: each file named slow exists, and the markers select what `make test-fast`
leaves out (browser, cluster, deploy, slow) by folder and file."""

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("tests_root_conftest", ROOT / "tests" / "conftest.py")
_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_conftest)  # by path: several folders have a conftest module
SLOW_FILES, TIER_OF_FOLDER = _conftest.SLOW_FILES, _conftest.TIER_OF_FOLDER
FAST = "not browser and not cluster and not deploy and not slow"  # make test-fast


def test_every_slow_file_and_tier_folder_exists():
    assert all((ROOT / name).is_file() for name in SLOW_FILES), [n for n in SLOW_FILES if not (ROOT / n).is_file()]
    assert all((ROOT / folder).is_dir() for folder in TIER_OF_FOLDER)


def test_the_fast_tier_leaves_out_the_marked_tests():
    listed = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "-m", FAST],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    files = {line.split("::")[0] for line in listed.splitlines() if "::" in line}
    assert files and not any(f.startswith(tuple(TIER_OF_FOLDER)) or f in SLOW_FILES for f in files)
    assert "tests/core/analysis/test_tangent.py" in files and "tests/test_tiers.py" in files
