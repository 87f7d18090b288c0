"""Exports of the finished run (CSV, NPZ, config JSON) and the image format of every graph's
camera button."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import numpy as np
import pandas as pd
from dash import Dash, Input, Output, State, ctx, dcc, no_update, set_props
from dash.exceptions import PreventUpdate

from core.config import RunConfig
from dashboard.jobs.flow import record_for
from dashboard.jobs.records import RunRecord
from dashboard.jobs.runner import Jobs
from dashboard.page import ids
from dashboard.page.components import graph_config
from dashboard.state.rules import run_values, uses_momentum

# control -> cli.py flag, in the order of cli.py run's help
CLI_FLAGS = {
    "eta": "--eta",
    "eps": "--eps",
    "seed": "--seed",
    "dataset": "--dataset",
    "perturbations": "--perturbations",
    "steps": "--steps",
    "hidden": "--hidden",
    "activation": "--activation",
    "output": "--output",
    "init": "--init",
    "distance": "--distance",
    "optimizer": "--optimizer",
    "momentum": "--momentum",
    "batch": "--batch-size",
    "batch_seed": "--batch-seed",
}


def cli_command(values: dict[str, Any]) -> str:
    """The command line that trains the run of these control values (cli.py run). A gd run
    names no optimizer (cli.py's default) and no momentum (cli.py refuses one gd does not read);
    a full-batch run no batch size or batch seed (cli.py refuses a seed without a size)."""
    names = [n for n in CLI_FLAGS if n not in ("optimizer", "momentum") or uses_momentum(values["optimizer"])]
    names = [n for n in names if n not in ("batch", "batch_seed") or values.get("batch") is not None]
    flags = " ".join(f"{CLI_FLAGS[n]} {_argument(values[n])}" for n in names)
    return f"python cli.py run {flags} --json"


def _argument(value: object) -> str:
    """A value as cli.py reads it back: a float by its repr, a deeper network's widths one
    word each (``--hidden 10 10``)."""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return " ".join(str(v) for v in value)
    return str(value)


def export_csv(record: RunRecord) -> str:
    """Per iteration: the reference's training loss and accuracy (on the training rows: the test
    accuracy is the final network's, in the NPZ and the summary), <d>, d_1..d_M, ||theta||_1."""
    frame = pd.DataFrame(
        {
            "iteration": record.iterations,
            "train_loss_reference": record.loss[:, 0],
            "train_accuracy_reference": record.accuracy,
            "mean_distance": record.mean_distance,
            "normalized_mean_distance": record.normalized_distance,
            "theta_norm_l1": record.theta_norm,
        }
    )
    copies = pd.DataFrame(record.distance, columns=[f"d_{m + 1}" for m in range(record.distance.shape[1])])
    return pd.concat([frame, copies], axis=1).to_csv(index=False)


def export_name(config: RunConfig) -> str:
    """A file name that says which run it holds, in ASCII: weightspace-iris-eta0.01-eps1e-08-
    seed0-5000it, with the optimizer after eta unless gd (-momentum0.9, -adam0.9); a hash of the
    whole config keeps two runs that differ elsewhere apart."""
    rule = "" if config.optimizer == "gd" else f"-{config.optimizer}{config.momentum:g}"
    name = f"weightspace-{config.dataset}-eta{config.learning_rate:g}{rule}-eps{config.eps:g}-seed{config.seed}"
    name += f"-{config.n_steps}it-{config.key()[:6]}"
    return re.sub(r"[^A-Za-z0-9.+-]", "_", name)


def export_npz(record: RunRecord) -> bytes:
    """The run's arrays (``RunRecord.arrays``) and its config as JSON, in one .npz."""
    buffer = io.BytesIO()
    config = json.dumps(record.config.to_dict())
    # allow_pickle named, at numpy's default: else the checker reads the arrays as maybe that flag
    np.savez_compressed(buffer, allow_pickle=True, config=config, **record.arrays())
    return buffer.getvalue()


def register(app: Dash, store: Jobs, graphs: tuple[str, ...]) -> None:
    @app.callback(
        Output(ids.DOWNLOAD, "data"),  # its message beside Run by set_props: that text has its own writers
        Input(ids.EXPORT_CSV, "n_clicks"),
        Input(ids.EXPORT_NPZ, "n_clicks"),
        Input(ids.EXPORT_JSON, "n_clicks"),
        State(ids.RESULT, "data"),
        prevent_initial_call=True,
    )
    def export(_csv: Any, _npz: Any, _json: Any, request: Any) -> object:
        if request is None:
            set_props(ids.RUN_MESSAGE, {"children": "Nothing to export yet: run to the end first."})
            return no_update
        record = record_for(store, "run", request)
        assert isinstance(record, RunRecord)  # the record of a plan of kind "run"
        name = export_name(record.config)
        set_props(ids.RUN_MESSAGE, {"children": ""})
        if ctx.triggered_id == ids.EXPORT_CSV:
            return {"content": export_csv(record), "filename": f"{name}.csv"}
        if ctx.triggered_id == ids.EXPORT_NPZ:
            return dcc.send_bytes(export_npz(record), f"{name}.npz")
        return {"content": json.dumps(record.config.to_dict(), indent=2), "filename": f"{name}-config.json"}

    @app.callback(Output(ids.CLI_COMMAND, "children"), Input(ids.VALID, "data"))
    def command(values: Any) -> str:
        try:
            return cli_command(run_values(values))
        except ValueError:
            raise PreventUpdate from None

    @app.callback(
        [Output(graph, "config") for graph in graphs],
        Input(ids.IMAGE_FORMAT, "value"),
        prevent_initial_call=True,
    )
    def image_format(fmt: Any) -> list[dcc.Graph.Config]:
        if fmt not in ("png", "svg"):
            raise PreventUpdate
        return [graph_config(fmt)] * len(graphs)
