"""Iris as docs/method.md §1 defines it, and the user's own files."""

import numpy as np
import pytest

from core.data import load_dataset_file, load_iris


def test_iris_matches_scikit_learn_and_splits_120_30():
    from sklearn.datasets import load_iris as sklearn_iris

    reference = sklearn_iris()
    order = np.random.default_rng(0).permutation(150)
    data = load_iris()
    assert data.x_train.dtype == np.float64 and data.x_train.shape == (120, 4) and data.x_test.shape == (30, 4)
    assert np.array_equal(np.vstack([data.x_train, data.x_test]), reference.data[order])
    assert np.array_equal(np.concatenate([data.y_train, data.y_test]), reference.target[order])
    assert data.feature_names == tuple(reference.feature_names)
    assert data.class_names == tuple(reference.target_names)


def test_split_seed_changes_the_split_and_standardisation_uses_training_rows():
    assert not np.array_equal(load_iris(split_seed=1).x_train, load_iris().x_train)
    standard = load_iris(standardize=True)
    np.testing.assert_allclose(standard.x_train.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(standard.x_train.std(axis=0), 1, atol=1e-12)
    assert abs(standard.x_test.mean()) > 1e-6  # test rows use the training statistics


def test_npz_file_round_trip(tmp_path):
    path = tmp_path / "d.npz"
    x = np.random.default_rng(0).normal(size=(7, 2))
    np.savez(path, x_train=x, y_train=np.array([0, 1, 2, 3, 0, 1, 2]))
    data = load_dataset_file(path)
    assert data.n_classes == 4 and data.n_features == 2 and np.array_equal(data.x_train, x)
    assert data.x_test.shape == (0, 2)


def test_csv_with_header_and_string_labels(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a,b,label\n1,2,cat\n3,4,dog\n5,6,cat\n")
    data = load_dataset_file(path)
    assert data.x_train.tolist() == [[1, 2], [3, 4], [5, 6]]
    assert data.y_train.tolist() == [0, 1, 0] and data.class_names == ("cat", "dog")


def test_csv_without_header(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("1.5,2,0\n3,4,1\n")
    assert load_dataset_file(path).y_train.tolist() == [0, 1]


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"x_train": np.zeros((3, 2))}, "missing array 'y_train'"),
        ({"x_train": np.zeros(3), "y_train": np.zeros(3)}, "2-D"),
        ({"x_train": np.zeros((3, 2)), "y_train": np.zeros(2)}, "must match"),
        ({"x_train": np.full((2, 2), np.nan), "y_train": np.array([0, 1])}, "NaN"),
        ({"x_train": np.zeros((2, 2)), "y_train": np.array([0.5, 1])}, "integer labels"),
        ({"x_train": np.zeros((2, 2)), "y_train": np.array([0, 0])}, "two classes"),
    ],
)
def test_bad_npz_files_name_the_problem(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=message):
        load_dataset_file(path)


def test_missing_or_foreign_files(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_dataset_file(tmp_path / "nope.npz")
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(ValueError, match=".npz or .csv"):
        load_dataset_file(tmp_path / "x.json")
    (tmp_path / "x.npz").write_text("not a zip")
    with pytest.raises(ValueError, match="cannot read"):
        load_dataset_file(tmp_path / "x.npz")


@pytest.mark.parametrize(
    "text, message",
    [
        ("1,2,0\n3,4,1\n5,6\n7,8,1\n", "ragged.csv: line 3 has 2 columns, expected 3"),  # was blamed on the labels
        ("1,2,0\n3,4,1\n5,6,7,1\n7,8,1\n", "ragged.csv: line 3 has 4 columns, expected 3"),
        ("1,2\n3,4,1\n5,6,0\n", "ragged.csv: line 1 has 2 columns, expected 3"),  # the odd one is the first
        ("a,b,label\n1,2,cat\n\n3,4\n5,6,dog\n", "ragged.csv: line 4 has 2 columns, expected 3"),  # blank line counted
    ],
)
def test_ragged_csv_rows_name_the_line_and_the_columns(tmp_path, text, message):
    path = tmp_path / "ragged.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as caught:
        load_dataset_file(path)
    assert "\n" not in str(caught.value)


def test_csv_blank_lines_are_skipped_not_ragged(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("1,2,0\n   \n3,4,1\n\n")
    assert load_dataset_file(path).x_train.tolist() == [[1, 2], [3, 4]]


def test_csv_parser_errors_are_one_line(tmp_path, monkeypatch):
    import pandas as pd

    def fails(*args, **kwargs):
        raise pd.errors.ParserError("Error tokenizing data. C error: something\n")

    monkeypatch.setattr(pd, "read_csv", fails)
    path = tmp_path / "d.csv"
    path.write_text("1,2,0\n3,4,1\n")
    with pytest.raises(ValueError, match=r"d.csv: cannot read as CSV \(Error tokenizing data. C error: something\)$"):
        load_dataset_file(path)


def test_a_directory_is_not_a_data_file(tmp_path):
    folder = tmp_path / "data.csv"
    folder.mkdir()
    with pytest.raises(ValueError, match="is a directory, not a file"):
        load_dataset_file(folder)
    with pytest.raises(ValueError, match="does not exist"):
        load_dataset_file(tmp_path / "missing.csv")


def test_digits_equal_scikit_learns_and_split_80_20():
    from sklearn.datasets import load_digits as sklearn_digits

    from core.data import digits_arrays, load_digits

    x, y = digits_arrays()
    reference = sklearn_digits()
    np.testing.assert_array_equal(x, reference.data)
    np.testing.assert_array_equal(y, reference.target)
    data = load_digits()
    assert data.x_train.shape == (1438, 64) and data.x_test.shape == (359, 64) and data.n_classes == 10
    assert data.x_train.min() == 0.0 and data.x_train.max() == 1.0  # grey levels 0..16 divided by 16
    assert sorted(np.concatenate([data.y_train, data.y_test]).tolist()) == sorted(y.tolist())
    assert not np.array_equal(load_digits(split_seed=1).y_train, data.y_train)


def test_data_sets_by_name_and_their_network_defaults():
    from core.config import RunConfig
    from core.data import load_dataset

    assert load_dataset("iris").name == "iris" and load_dataset("digits").name == "digits"
    with pytest.raises(ValueError, match="unknown data set 'emnist'; known: iris, digits, wine, breast_cancer, mnist"):
        load_dataset("emnist")
    config = RunConfig.for_dataset("digits", hidden=32)
    assert (config.dataset, config.hidden, config.activation) == ("digits", 32, "tanh")
    assert RunConfig.for_dataset("digits").hidden == 64
    with pytest.raises(ValueError, match="dataset must be one of iris, digits, wine, breast_cancer, mnist"):
        RunConfig(dataset="emnist")
