"""Wine and breast cancer by name (core.data, docs/method.md §15): scikit-learn's own arrays,
split 80/20 like digits, standardised by the training rows; the engine their shape picks; the
pair of features the Data view draws."""

import numpy as np
import pytest

from core.config import DATASETS, RunConfig
from core.data import (
    BREAST_CANCER_FEATURES,
    WINE_FEATURES,
    dataset_sizes,
    load_dataset,
    separating_pair,
    table_arrays,
)
from core.engine.objective import resolve_engine
from core.experiments.stability import dataset_for, network_for


@pytest.mark.parametrize(
    "name, file, loader, n_train, n_test",
    [
        ("wine", "wine_data.csv", "load_wine", 142, 36),
        ("breast_cancer", "breast_cancer.csv", "load_breast_cancer", 455, 114),
    ],
)
def test_tables_equal_scikit_learns_and_split_80_20(name, file, loader, n_train, n_test):
    import sklearn.datasets

    reference = getattr(sklearn.datasets, loader)()
    x, y, classes = table_arrays(file)
    np.testing.assert_array_equal(x, reference.data)
    np.testing.assert_array_equal(y, reference.target)
    assert classes == tuple(reference.target_names)
    data = load_dataset(name)
    assert data.name == name and data.x_train.dtype == np.float64
    assert data.x_train.shape == (n_train, x.shape[1]) and data.x_test.shape == (n_test, x.shape[1])
    assert data.feature_names == tuple(reference.feature_names) and data.class_names == classes
    # the rows are those of default_rng(0)'s permutation, standardised by the training rows
    order = np.random.default_rng(0).permutation(len(y))
    raw_train = x[order][:n_train]
    mean, std = raw_train.mean(axis=0), raw_train.std(axis=0)
    np.testing.assert_allclose(data.x_train, (raw_train - mean) / std, rtol=0, atol=1e-12)
    np.testing.assert_allclose(data.x_test, (x[order][n_train:] - mean) / std, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(np.concatenate([data.y_train, data.y_test]), y[order])
    assert not np.array_equal(load_dataset(name, split_seed=1).y_train, data.y_train)


def test_the_raw_columns_differ_by_orders_of_magnitude_hence_standardised():
    """Why these two come standardised: the spread of their raw columns (docs/method.md §15)."""
    for file, ratio in (("wine_data.csv", 1e3), ("breast_cancer.csv", 1e4)):
        x = table_arrays(file)[0]
        assert x.std(axis=0).max() / x.std(axis=0).min() > ratio


def test_a_config_on_them_reads_standardised_and_the_option_changes_nothing():
    for name in ("wine", "breast_cancer"):
        assert RunConfig(dataset=name).standardize is True
        assert RunConfig.for_dataset(name, standardize=False).standardize is True
        plain, again = load_dataset(name), load_dataset(name, standardize=True)
        np.testing.assert_array_equal(plain.x_train, again.x_train)
        assert again.name == name
    assert RunConfig(dataset="iris").standardize is False  # Iris keeps the paper's raw features


def test_names_sizes_and_network_defaults():
    assert DATASETS == ("iris", "digits", "wine", "breast_cancer", "mnist")
    assert dataset_sizes("wine") == (142, 36, 13, 3)
    assert dataset_sizes("breast_cancer") == (455, 114, 30, 2)
    for name in ("wine", "breast_cancer"):
        config = RunConfig.for_dataset(name)
        assert (config.hidden, config.activation) == (10, "sigmoid")  # the paper's network
    with pytest.raises(ValueError, match="unknown data set 'breast-cancer'; known: iris, digits, wine, breast_cancer"):
        load_dataset("breast-cancer")
    with pytest.raises(ValueError, match="dataset must be one of iris, digits, wine, breast_cancer, mnist"):
        RunConfig(dataset="cancer")


def test_the_engine_follows_the_shape_rule():
    """core.engine.objective.resolve_engine: 13 inputs take the compiled kernel, 30 and 784 BLAS."""
    wine, cancer = (RunConfig.for_dataset(name) for name in ("wine", "breast_cancer"))
    wine_data, cancer_data = dataset_for(wine, None), dataset_for(cancer, None)
    assert resolve_engine("auto", network_for(wine, wine_data), 142) == "compiled"
    assert resolve_engine("auto", network_for(cancer, cancer_data), 455) == "blas"
    from core.engine.model import MLP

    assert resolve_engine("auto", MLP(784, 64, 10, "tanh"), 60_000) == "blas"


@pytest.mark.parametrize("engine", ["compiled", "blas", "numpy"])
def test_every_engine_gives_the_reference_loss_and_gradient_on_them(engine):
    for name in ("wine", "breast_cancer"):
        config = RunConfig.for_dataset(name)
        data = dataset_for(config, None)
        mlp = network_for(config, data)
        theta = mlp.init(np.random.default_rng(1), 3)
        with mlp.objective(data.x_train, data.y_train, engine="numpy") as reference:
            loss0, grad0, _ = reference(theta)
        with mlp.objective(data.x_train, data.y_train, engine=engine) as objective:
            loss, grad, _ = objective(theta)
        np.testing.assert_allclose(loss, loss0, rtol=1e-12)
        np.testing.assert_allclose(grad, grad0, rtol=1e-9, atol=1e-12)


def test_the_separating_pair_is_the_pair_that_separates_the_classes():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 50)
    x = rng.normal(size=(150, 6))  # noise in every feature
    x[:, 4] += 3.0 * y  # features 1 and 4 carry the classes
    x[:, 1] -= 2.0 * y
    assert separating_pair(x, y) == (1, 4)
    x[:, 5] = 7.0  # a constant column does not break it
    assert separating_pair(x, y) == (1, 4)


def test_the_separating_pairs_of_wine_and_breast_cancer():
    wine = load_dataset("wine")
    pair = separating_pair(wine.x_train, wine.y_train)
    assert [WINE_FEATURES[i] for i in pair] == ["flavanoids", "color_intensity"]
    cancer = load_dataset("breast_cancer")
    pair = separating_pair(cancer.x_train, cancer.y_train)
    assert [BREAST_CANCER_FEATURES[i] for i in pair] == ["worst radius", "worst concave points"]
