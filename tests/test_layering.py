"""The dependency rule: core <- cluster <- dashboard <- app, core <- cli. The core never loads Dash or
Celery; inside the dashboard, state, figures, jobs and the server's stores load no Dash, and nor
does paper/ (the figures command)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _modules_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_core_and_cli_do_not_import_dash_or_plotly():
    for statement in ("import core; core.run_stability", "import cli"):
        loaded = _modules_after(statement)
        assert not {m for m in loaded if m.split(".")[0] in ("dash", "plotly")}, statement
        assert "core" in loaded


def test_core_sources_name_no_ui_library():
    for path in (ROOT / "core").rglob("*.py"):
        text = path.read_text()
        assert "import dash" not in text and "import plotly" not in text, path
        assert "from dash" not in text and "from plotly" not in text, path


def test_cluster_needs_no_dash_and_core_needs_no_celery():
    loaded = _modules_after("import cluster")
    assert not {m for m in loaded if m.split(".")[0] in ("dash", "plotly", "dashboard")}
    core_only = _modules_after(
        "import core; core.run_stability; import core.experiments.maps, core.experiments.regimes"
    )
    assert not {m for m in core_only if m.split(".")[0] in ("celery", "redis", "cluster")}


def test_the_dashboard_layers_below_the_page_need_no_dash():
    """dashboard/state (rules, URL, presets), dashboard/figures (Plotly only), the jobs without
    their pages and the server's stores and admission load no Dash: they can be used (and
    tested) without a page, by the CLI and the figures command."""
    for module, allowed in (
        ("dashboard.state", set()),
        ("dashboard.figures", {"plotly"}),
        ("dashboard.jobs.compute, dashboard.jobs.plans, dashboard.jobs.records, dashboard.jobs.runner", set()),
        ("dashboard.server.admission, dashboard.server.cache, dashboard.server.settings", set()),
    ):
        loaded = {m.split(".")[0] for m in _modules_after(f"import {module}")}
        assert loaded & {"dash", "plotly", "flask"} == allowed, module


def test_the_figures_command_loads_no_dash():
    """paper/ computes with dashboard.jobs and draws with dashboard.figures, never a view: what
    `cli.py figures` imports (cli, the command, the figures and their export, every figure's
    module) loads Plotly but no Dash, Flask or dashboard.views."""
    statement = "import cli, commands.figures, paper, paper.export; commands.figures._chosen(None)"
    loaded = _modules_after(statement)
    assert {"paper.story", "paper.regimes", "dashboard.figures", "plotly"} <= loaded  # it imports what it means to
    ui = sorted(m for m in loaded if m.split(".")[0] in ("dash", "flask") or m.startswith("dashboard.views"))
    assert not ui, ui
