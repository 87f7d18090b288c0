"""A numba cache directory this process cannot write is replaced by a writable copy
(core.engine.numba_cache): numba would refuse to load the engine at all."""

import os

import pytest

from core.engine import numba_cache
from core.engine.numba_cache import writable_cache_dir


def test_a_writable_or_missing_cache_directory_is_used_as_it_is(tmp_path):
    assert writable_cache_dir(tmp_path / "cache", tmp_path / "tmp") == tmp_path / "cache"
    assert (tmp_path / "cache").is_dir()  # made, as numba would


def test_an_unwritable_cache_is_copied_once_with_its_kernels(tmp_path, monkeypatch):
    image = tmp_path / "opt-numba-cache"
    (image / "core_1234").mkdir(parents=True)
    (image / "core_1234" / "kernel.step-100.py311.nbi").write_bytes(b"index")
    monkeypatch.setattr(numba_cache, "_writable", lambda path: path != image)  # as another user sees it
    copy = writable_cache_dir(image, tmp_path)
    assert copy == tmp_path / f"wsd-numba-cache-{os.getuid()}"
    assert (copy / "core_1234" / "kernel.step-100.py311.nbi").read_bytes() == b"index"
    (copy / "core_1234" / "compiled-later").write_text("kept")
    assert writable_cache_dir(image, tmp_path) == copy and (copy / "core_1234" / "compiled-later").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("wsd-")] == [copy.name]  # no staging left


def test_no_writable_place_at_all_is_one_clear_message(tmp_path, monkeypatch):
    monkeypatch.setattr(numba_cache, "_writable", lambda path: False)
    with pytest.raises(ValueError, match=r"NUMBA_CACHE_DIR=.*not writable by this user, and no copy can be made in"):
        writable_cache_dir(tmp_path / "cache", tmp_path / "missing" / "tmp")


def test_a_copy_another_user_could_have_planted_is_not_used(tmp_path, monkeypatch):
    """numba's cache files are pickles: a directory in a shared /tmp that is not this user's
    own, or that others can write, is never loaded from."""
    image = tmp_path / "opt-numba-cache"
    image.mkdir()
    (image / "kernel.nbi").write_bytes(b"good")
    monkeypatch.setattr(numba_cache, "_writable", lambda path: path != image)
    planted = tmp_path / f"wsd-numba-cache-{os.getuid()}"
    planted.mkdir(mode=0o777)
    planted.chmod(0o777)  # writable by anyone: someone else's
    (planted / "kernel.nbi").write_bytes(b"evil")
    copy = writable_cache_dir(image, tmp_path)
    assert copy != planted and (copy / "kernel.nbi").read_bytes() == b"good"
    assert copy.stat().st_mode & 0o077 == 0  # private


def test_numba_is_pointed_at_the_copy_and_the_environment_is_left_alone(tmp_path, monkeypatch):
    import numba

    image = tmp_path / "opt-numba-cache"
    image.mkdir()
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(image))
    monkeypatch.setattr(numba.config, "CACHE_DIR", str(image))  # restored after the test
    monkeypatch.setattr(numba_cache.tempfile, "gettempdir", lambda: str(tmp_path))
    monkeypatch.setattr(numba_cache, "_writable", lambda path: path != image)
    numba.core.config.reload_config()  # numba has read this environment (as at its import)
    copy = numba_cache.ensure_writable_cache()
    assert copy == tmp_path / f"wsd-numba-cache-{os.getuid()}"
    assert numba.config.CACHE_DIR == str(copy) and os.environ["NUMBA_CACHE_DIR"] == str(image)
    numba.core.config.reload_config()  # as numba's compiler does: the environment unchanged, the setting stays
    assert numba.config.CACHE_DIR == str(copy)


def _target_in_a_fresh_process(env_extra: dict[str, str], before: str = "") -> list[str]:
    """The (triple, cpu, features) numba compiles for once the engine is imported, and its log."""
    import subprocess
    import sys

    script = (
        f"{before}\nimport core.engine.kernel\nfrom numba.core.registry import cpu_target\n"
        "print(list(cpu_target.target_context.codegen().magic_tuple()[1:]))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_CPU")} | env_extra
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return [done.stdout.strip(), done.stderr]


def test_the_kernels_compile_for_one_target_whatever_the_host():
    """The same bits on every machine: x86-64-v3 with its own features (never the host's AVX-512),
    unless the user chose a target; numba used before the engine keeps the host's, and says so."""
    import llvmlite.binding as llvm

    features = llvm.get_host_cpu_features()
    if not (features.get("avx2") and features.get("fma")):
        pytest.skip("this host has no AVX2 + FMA: the kernels follow its own CPU")  # not x86-64-v3 (an ARM machine)
    assert _target_in_a_fresh_process({})[0] == "['x86-64-v3', '']"
    assert _target_in_a_fresh_process({"NUMBA_CPU_NAME": "haswell", "NUMBA_CPU_FEATURES": ""})[0] == "['haswell', '']"
    early = "import numba\nnumba.njit(lambda x: x + 1)(1)"
    target, log = _target_in_a_fresh_process({}, before=early)
    assert "numba compiled before the kernels' target was pinned" in log
