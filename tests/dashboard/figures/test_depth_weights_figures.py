"""The Weights view's figures of a deeper network: one ablation map per weight matrix, shaped
like it and labelled by its layers' units; the one-layer figures as before."""

import dataclasses

import numpy as np
import pytest

from core.config import RunConfig
from core.engine.model import MLP
from dashboard import figures
from dashboard.jobs import compute

IRIS = compute.data_for(RunConfig())
FEATURES = list(IRIS.feature_names)
CLASSES = list(IRIS.class_names)


def _record(hidden):
    """A short run with known ablation maps: matrix n's ratio at (i, j) is n + i / 100 + j / 10,000."""
    record = compute.stability(RunConfig(hidden=hidden, n_steps=20, n_perturbations=1))
    sizes = MLP(4, hidden, 3).sizes
    known = [
        n + np.arange(a)[:, None] / 100 + np.arange(b)[None, :] / 10_000
        for n, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True), start=1)
    ]
    rest = tuple(known[2:])
    return dataclasses.replace(record, ablation_w1=known[0], ablation_w2=known[1], ablation_rest=rest), known


@pytest.mark.parametrize(
    "hidden, shapes",
    [((10, 10), [(4, 10), (10, 10), (10, 3)]), ((3, 4, 5, 6), [(4, 3), (3, 4), (4, 5), (5, 6), (6, 3)])],
)
def test_a_deeper_network_has_one_map_per_weight_matrix(hidden, shapes):
    record, known = _record(hidden)
    maps = figures.weights.ablation_views(record, IRIS)
    assert len(maps) == len(shapes)
    for n, (fig, shape, ratio) in enumerate(zip(maps, shapes, known, strict=True), start=1):
        (trace,) = fig.data
        assert trace.type == "heatmap" and np.asarray(trace.z).shape == shape
        np.testing.assert_array_equal(trace.z, ratio)
        assert (len(trace.y), len(trace.x)) == shape and fig.layout.title.text == f"Ablation of W{n}: L_w / L"
    assert list(maps[0].data[0].y) == FEATURES and list(maps[-1].data[0].x) == CLASSES
    assert list(maps[0].data[0].x)[:2] == ["h1.0", "h1.1"] and list(maps[1].data[0].x)[:2] == ["h2.0", "h2.1"]
    assert maps[1].data[0].y == maps[0].data[0].x  # a layer's units: the columns of one map, the rows of the next


def test_the_one_layer_maps_are_as_before():
    record, known = _record(10)
    w1, w2, displacement, norm = figures.weights.weights_views(record, IRIS)
    assert list(w1.data[0].y) == FEATURES and list(w1.data[0].x) == [f"h{j}" for j in range(10)]
    assert list(w2.data[0].y) == [f"h{j}" for j in range(10)] and list(w2.data[0].x) == CLASSES
    np.testing.assert_array_equal(w1.data[0].z, known[0])
    np.testing.assert_array_equal(w2.data[0].z, known[1])
    assert w1.layout.title.text == "Ablation of W1: L_w / L" and w2.layout.title.text == "Ablation of W2: L_w / L"
    assert len(figures.weights.ablation_views(record, IRIS)) == 2
    # the 70 weights (not the biases): Delta_w = |w(T) - w(0)| / |w(0)| against D_w, from the record's own arrays
    weights = np.r_[0:40, 50:80]  # W1 (4 x 10), then W2 (10 x 3) after b1 (docs/method.md §1)
    np.testing.assert_array_equal(np.flatnonzero(record.weight_mask), weights)
    start, end = record.theta_start[weights], record.theta_final[weights]
    (dots,) = displacement.data
    np.testing.assert_allclose(dots.x, np.abs(end - start) / np.abs(start), rtol=1e-12)
    np.testing.assert_array_equal(dots.y, record.path_length[weights])
    labels = figures.weights.weight_labels(10, 4, 3)
    assert list(dots.text) == [labels[i] for i in weights] and dots.text[0] == "W1 in0→h0"
    assert norm.layout.title.text == "Weight norm ||θ(t)||₁" and dots.type == "scatter"
    np.testing.assert_array_equal(norm.data[0].x, np.arange(21))
    np.testing.assert_array_equal(norm.data[0].y, record.theta_norm)
    saved = np.abs(record.theta[:, 0]).sum(axis=1)  # ||theta||_1 of the reference at its saved steps
    np.testing.assert_allclose(record.theta_norm[record.saved_steps], saved, rtol=1e-12)


def test_a_diverged_deeper_network_says_so_in_each_map():
    record, _ = _record((10, 10))
    diverged = dataclasses.replace(record, ablation_w1=None, ablation_w2=None, ablation_rest=())
    maps = figures.weights.ablation_views(diverged, IRIS)
    assert len(maps) == 3
    assert all(m.layout.annotations[0].text == "The reference network diverged: no ablation map." for m in maps)


def test_every_parameter_of_a_deeper_network_has_its_label():
    labels = figures.weights.weight_labels((10, 7), 4, 3)
    assert len(labels) == MLP(4, (10, 7), 3).n_params == 151
    # flat order: W1 (40), b1 (10), W2 (70), b2 (7), W3 (21), b3 (3)
    assert labels[0] == "W1 in0→h1.0" and labels[40] == "b1 h1.0" and labels[50] == "W2 h1.0→h2.0"
    assert labels[51] == "W2 h1.0→h2.1" and labels[120] == "b2 h2.0" and labels[127] == "W3 h2.0→out0"
    assert labels[-1] == "b3 out2"
    one = figures.weights.weight_labels(10, 4, 3)
    assert one[:2] == ["W1 in0→h0", "W1 in0→h1"] and one[40] == "b1 h0" and one[50] == "W2 h0→out0"
    assert one[-1] == "b2 out2" and len(one) == 83
