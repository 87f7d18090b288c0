"""The Data view on wine, breast cancer and MNIST: tables in their two most separating
features, MNIST as 28 x 28 test images with the mistakes first."""

from types import SimpleNamespace

import numpy as np
import pytest

from core.config import RunConfig
from core.data import Dataset, dataset_shape
from dashboard import figures
from dashboard.jobs import compute
from dashboard.views import data


@pytest.fixture(scope="module")
def wine_run():
    config = RunConfig.for_dataset("wine", learning_rate=0.5, n_steps=200, n_perturbations=1)
    return compute.stability(config), compute.data_for(config)


def test_wine_is_drawn_in_its_most_separating_pair_with_the_mistakes_crossed(wine_run):
    record, wine = wine_run
    fig, caption = data.data_view(record, wine, "0", "1")  # the Iris dropdowns' values: not used
    assert (fig.layout.xaxis.title.text, fig.layout.yaxis.title.text) == ("flavanoids", "color_intensity")
    assert "of the 142 training wines" in caption and "of the 36 test wines right" in caption
    assert "Axes: flavanoids and color_intensity (standardised)" in caption
    crosses = fig.data[-1]
    wrong = record.predictions != np.concatenate([wine.y_train, wine.y_test])
    assert crosses.name == f"misclassified ({wrong.sum()})"
    np.testing.assert_array_equal(crosses.x, np.vstack([wine.x_train, wine.x_test])[wrong, 6])
    text, axes = data.intro(wine)
    assert text.startswith("Wine: 178 wines of 3 cultivars, 13 chemical measurements, each standardised")
    assert "142 train the network, 36 test it" in text and axes == {"display": "none"}


def test_breast_cancers_intro_says_what_a_row_is():
    text, axes = data.intro(compute.data_for(RunConfig(dataset="breast_cancer")))
    assert text.startswith("Breast cancer: 569 tumours, malignant or benign, 30 measurements")
    assert "455 train the network, 114 test it" in text and axes == {"display": "none"}


def _mnist_like(n_test: int = 50) -> Dataset:
    rng = np.random.default_rng(0)
    x_test = rng.integers(0, 256, size=(n_test, 784)) / 255.0
    x_train = x_test[:10]
    return Dataset(x_train, np.arange(10) % 10, x_test, np.arange(n_test) % 10, 10, name="mnist")


def test_mnist_is_a_grid_of_28x28_test_images_mistakes_first():
    mnist = _mnist_like()
    predicted = mnist.y_test.copy()
    predicted[[7, 30]] = (predicted[[7, 30]] + 1) % 10  # two mistakes, drawn first
    record = SimpleNamespace(predictions=np.concatenate([mnist.y_train, predicted]))
    fig = figures.data.data_view(record, mnist, 0, 1)
    heatmap, captions = fig.data
    assert heatmap.type == "heatmap" and np.asarray(heatmap.z).shape == (5 * (28 + 11), 8 * (28 + 3) - 3)
    assert list(captions.text[:3]) == ["7 → 8", "0 → 1", "0 → 0"]  # test rows 7 and 30, then the right ones
    assert len(captions.text) == 40 and len(fig.layout.shapes) == 2  # a red frame per mistake
    np.testing.assert_array_equal(
        np.asarray(heatmap.z)[11:39, 0:28], mnist.x_test[7].reshape(28, 28).astype(np.float32)
    )
    assert fig.layout.title.text == "40 images: label → prediction, 2 wrong (red)"
    text, axes = data.intro(mnist)
    assert text.startswith("MNIST: 60 handwritten digits of 28x28 pixels (784 inputs, 10 classes)")
    assert axes == {"display": "none"}


def test_the_image_grid_refuses_images_of_another_size():
    with pytest.raises(ValueError, match=r"images must be \(n, 784\) rows of 28 x 28 pixels, got shape \(2, 64\)"):
        figures.dynamics.digits_grid_figure(np.zeros((2, 64)), [0, 1], [0, 1], side=28)
    with pytest.raises(
        ValueError, match=r"arrays must have the same length, got \{.images.: 2, .labels.: 1, .predictions.: 2\}"
    ):
        figures.dynamics.digits_grid_figure(np.zeros((2, 784)), [0], [0, 1], side=28)
    assert figures.dynamics.digits_grid_figure(np.zeros((0, 784)), [], [], side=28).layout.annotations


@pytest.mark.parametrize("name", list(figures.data.IMAGES))
def test_every_image_data_set_has_square_images(name):
    """The side of an image is read from the features (side x side pixels): digits 8, MNIST 28."""
    _, n_features, _ = dataset_shape(name)
    side = figures.data.image_side(SimpleNamespace(n_features=n_features))
    assert side * side == n_features and side == {"digits": 8, "mnist": 28}[name]
