"""Every config validator rejects bad values with a message naming the field and value."""

import dataclasses
import math

import pytest

from core.config import FTLEConfig, RunConfig

BAD = {
    "seed": [-1, 1.5, "0", True, 2**64],
    "hidden": [0, -3, 2.0, 10**6, None, "10"],
    "activation": ["softplus", 1, None],
    "output": ["mse", None],
    "init": ["zeros", None],
    "standardize": [1, "yes", None],
    "split_seed": [-1, 0.5],
    "learning_rate": [math.nan, -0.1, 0.0, 1e9, math.inf, "0.1", None, True],
    "n_steps": [0, -5, 1e3, 10**9, "100", None],
    "l2": [math.nan, -1.0, 1e6, "0"],
    "save_every": [0, -1, 2.5],
    "eps": [math.nan, -1e-8, 0.0, 1e3, math.inf, "1e-8", None],
    "n_perturbations": [0, -1, 10**6, 2.0, None],
    "perturbation": ["ball", None],
    "distance": ["linf", None],
}


@pytest.mark.parametrize("field, value", [(f, v) for f, values in BAD.items() for v in values])
def test_run_config_rejects(field, value):
    with pytest.raises(ValueError) as info:
        RunConfig(**{field: value})
    message = str(info.value)
    assert message.startswith(field) and repr(value) in message


def test_defaults_are_the_spec_and_round_trip():
    config = RunConfig()
    assert (config.learning_rate, config.eps, config.n_perturbations, config.n_steps, config.hidden) == (
        0.01,
        1e-8,
        20,
        5000,
        10,
    )
    assert RunConfig.from_dict(config.to_dict()) == config
    assert isinstance(RunConfig(learning_rate=1).learning_rate, float)
    other = dataclasses.replace(config, learning_rate=1.0)
    assert other.key() != config.key() and config.key() == RunConfig().key()


def test_unknown_keys_are_refused():
    with pytest.raises(ValueError, match="unknown setting.*lerning_rate"):
        RunConfig.from_dict({"lerning_rate": 0.1})


@pytest.mark.parametrize(
    "field, value",
    [
        ("starts", (0, 100)),
        ("starts", (50, 10, 5)),
        ("lengths", (2, 10, 1)),
        ("lengths", (30, 100, 0)),
        ("min_r2", math.nan),
        ("min_r2", 1.5),
        ("min_slope", "0.05"),
        ("starts", (0, 1.5, 1)),
    ],
)
def test_ftle_config_rejects(field, value):
    with pytest.raises(ValueError, match=field):
        FTLEConfig(**{field: value})
