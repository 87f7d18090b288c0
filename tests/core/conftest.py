"""Fixtures shared by the tests of the engine and the experiments."""

import pytest


@pytest.fixture
def pools(monkeypatch):
    """The process pools map_chunks starts (core.engine.parallel), in order."""
    import core.engine.parallel as parallel

    started = []

    class Recorded(parallel.ProcessPoolExecutor):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            started.append(self)

    monkeypatch.setattr(parallel, "ProcessPoolExecutor", Recorded)
    return started
