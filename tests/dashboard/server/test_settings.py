"""The server's settings from the environment, and the key every worker signs jobs with."""

import multiprocessing
import stat

import pytest

from core.engine.parallel import default_workers
from dashboard.server.settings import Settings, secret_key


def test_defaults_and_derived_paths(tmp_path):
    settings = Settings.from_env({"WSD_CACHE_DIR": str(tmp_path)})
    assert settings.max_jobs == default_workers() and settings.max_queued == 4 * settings.max_jobs
    assert settings.results_dir == tmp_path / "results" and settings.jobs_dir == tmp_path / "jobs"
    assert settings.max_run_seconds == 60 and settings.abandon_seconds == 30 and settings.secret_key is None
    assert settings.engine_rate is None  # measured at start-up
    assert Settings.from_env({"WSD_ENGINE_RATE": "150000"}).engine_rate == 150_000


@pytest.mark.parametrize(
    "name, raw, message",
    [
        ("WSD_MAX_JOBS", "0", "WSD_MAX_JOBS must be a whole number from 1 to 1024, got '0'"),
        ("WSD_MAX_JOBS", "two", "got 'two'"),
        ("WSD_CACHE_MB", "-5", "WSD_CACHE_MB must be a whole number"),
        ("WSD_MAX_RUN_SECONDS", "inf", "WSD_MAX_RUN_SECONDS must be a number in (0, 86400], got 'inf'"),
        ("WSD_ENGINE_RATE", "-3", "WSD_ENGINE_RATE must be a number in (0, 1e+12], got '-3'"),
        ("WSD_ABANDON_SECONDS", "0", "WSD_ABANDON_SECONDS must be"),
    ],
)
def test_a_bad_setting_is_named_with_its_rule(name, raw, message):
    with pytest.raises(ValueError) as info:
        Settings.from_env({name: raw})
    assert message in str(info.value)


def _key_in_a_worker(directory, queue):
    queue.put(secret_key(Settings(cache_dir=directory)))


def test_workers_without_a_configured_key_share_one_made_once_and_owner_only(tmp_path, caplog):
    spawn = multiprocessing.get_context("spawn")  # like gunicorn workers: separate interpreters
    queue = spawn.Queue()
    workers = [spawn.Process(target=_key_in_a_worker, args=(tmp_path, queue)) for _ in range(4)]
    for worker in workers:
        worker.start()
    keys = {queue.get(timeout=60) for _ in workers}
    for worker in workers:
        worker.join(30)
    assert len(keys) == 1 and len(keys.pop()) == 64
    assert stat.S_IMODE((tmp_path / "secret_key").stat().st_mode) == 0o600
    assert secret_key(Settings(cache_dir=tmp_path)) == (tmp_path / "secret_key").read_text()
    assert "WSD_SECRET_KEY is not set" in caplog.text
    assert [p.name for p in tmp_path.iterdir()] == ["secret_key"]  # no drafts left behind


def test_a_configured_key_wins_and_writes_no_file(tmp_path):
    assert secret_key(Settings(cache_dir=tmp_path, secret_key="k" * 40)) == "k" * 40
    assert not (tmp_path / "secret_key").exists()
