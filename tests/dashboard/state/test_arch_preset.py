"""The "Regimes across architectures" preset: its sentence is true of the map its button
starts (the page's own grid, copies and networks)."""

import numpy as np

from core.experiments.maps import run_map
from dashboard.jobs import plans
from dashboard.state import rules
from dashboard.state.presets import PRESETS

PRESET = PRESETS["architectures"]


def test_the_architectures_preset_is_an_eta_x_depth_map_within_the_limits(store):
    values = rules.run_values(PRESET.settings())
    plan = plans.plan("map", values, PRESET.maps, store.limits, 2)  # admitted at the tests' rate
    assert plan.key.startswith("map:") and PRESET.view == "regimes"
    maps = rules.map_values(PRESET.maps)
    assert plans.map_grids(maps, None, 0)[1].tolist() == [1, 2, 3, 4]


def test_the_architectures_preset_sentence_is_read_off_its_map():
    maps = rules.map_values(PRESET.maps)
    config = plans.map_config(rules.run_values(PRESET.settings()), maps)
    etas, depths = plans.map_grids(maps, None, config.seed)
    assert etas.tolist() == [0.05, 0.107, 0.227, 0.484, 1.03, 2.2, 4.69, 10.0] and config.n_perturbations == 5
    ftle = run_map("eta-depth", config, etas, depths, n_inits=maps["inits"], workers=2)
    kept = ftle.share > 0  # (E, depth) a kept FTLE fit at that point
    assert not kept[etas <= 0.23].any() and "up to η = 0.23" in PRESET.sentence
    first = [float(etas[np.argmax(kept[:, d])]) for d in range(4)]
    assert first == [0.484, 0.484, 1.03, 2.2]
    assert "at η = 0.48 with one or two hidden layers, at 1.03 with three and at 2.2 with four" in PRESET.sentence
    loss = run_map("eta-depth", config, etas[-2:], depths, n_inits=maps["inits"], workers=2, value="loss")
    percent = np.round(100 * loss.share)  # mean test accuracy of each point's networks, as the sentence rounds it
    assert (percent.min(), percent.max()) == (27, 42) and "test accuracy 27-42%" in PRESET.sentence
