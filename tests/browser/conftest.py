"""Browser tests: Debian's chromium via dash[testing]'s dash_duo (run with --headless).

Each test builds a fresh app with the factory and its own empty results cache, so a run is
computed, not replayed.
"""

import pytest

# The traces as plotly.js holds them after decoding (numpy arrays arrive base64-encoded).
READ_GRAPH = """
const el = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');
if (!el || !el._fullData) { return null; }
const plain = (a) => (a && a.length !== undefined && typeof a !== 'string')
    ? Array.from(a, (v) => (v && v.length !== undefined && typeof v !== 'string') ? Array.from(v) : v) : a;
return {
  layout: JSON.parse(JSON.stringify(el.layout)),
  data: el._fullData.map((t) => ({
    type: t.type, name: t.name, yaxis: t.yaxis, zmid: t.zmid, zmin: t.zmin, zmax: t.zmax,
    line: t.line ? {color: t.line.color, dash: t.line.dash} : null,
    x: plain(t.x), y: plain(t.y), z: plain(t.z),
    gaps: t.x ? Array.from(t.x).filter((v) => v === null || Number.isNaN(v)).length : 0,
  })),
};
"""


@pytest.fixture
def fresh_app(tmp_path, monkeypatch):
    monkeypatch.setenv("WSD_CACHE_DIR", str(tmp_path / "cache"))
    from app import create_app

    return create_app()


@pytest.fixture
def plotly_data(dash_duo):
    """``plotly_data(graph_id)`` -> {"layout": ..., "data": [trace, ...]} read from the page."""

    def read(graph_id: str):
        return dash_duo.driver.execute_script(READ_GRAPH, graph_id)

    return read


@pytest.fixture
def line_count(plotly_data):
    """Lines in a trace drawn with NaN gaps between them (one gap per line)."""

    def count(graph_id: str, trace: int = 0) -> int:
        return plotly_data(graph_id)["data"][trace]["gaps"]

    return count
