"""Mini-batch SGD (docs/method.md §13): the batch order, one SGD step against the algorithm
written out in plain NumPy on the batch's rows (gd, momentum, nesterov, adam in PyTorch's
conventions, L2 as weight decay on the weights), every row of a job on the same batches, and
the full batch unchanged bit for bit."""

import dataclasses
import json

import numpy as np
import pytest

from core.config import RunConfig
from core.data import load_iris
from core.engine.model import MLP
from core.engine.optimizers import Optimizer
from core.engine.training import BATCH_KEY, BatchOrder, MiniBatches, descend
from core.experiments.stability import run_stability

N_TRAIN = 120


# ---- the batch order ---------------------------------------------------------------------


def test_the_order_of_seed_0_is_pinned():
    """Epoch 0 of seed 0 over Iris's 120 rows: the first rows of the first two batches of 16
    (written down when the order was made; a change of generator or key changes them)."""
    order = BatchOrder(N_TRAIN, 16, 0)
    assert order.rows(0)[:6].tolist() == [23, 76, 82, 42, 18, 47]
    assert order.rows(1)[:6].tolist() == [60, 95, 91, 1, 22, 50]


def test_the_order_is_drawn_from_its_own_generator():
    assert BATCH_KEY == 2**31 - 3
    order = BatchOrder(N_TRAIN, 16, 7)
    for epoch in (0, 3):
        expected = np.random.default_rng(np.random.SeedSequence(7, spawn_key=(2**31 - 3, epoch))).permutation(120)
        np.testing.assert_array_equal(order.permutation(epoch), expected)
    # not the network's generator: default_rng(seed) would give another order
    assert not np.array_equal(order.permutation(0), np.random.default_rng(7).permutation(120))


def test_each_epoch_is_a_fresh_permutation_cut_into_whole_batches():
    order = BatchOrder(N_TRAIN, 16, 0)
    assert order.per_epoch == 7  # 120 // 16; 8 rows dropped per epoch (drop_last)
    for epoch in range(3):
        batches = [order.rows(epoch * 7 + j) for j in range(7)]
        assert all(b.shape == (16,) for b in batches)
        seen = np.concatenate(batches)
        assert len(np.unique(seen)) == 112  # disjoint within the epoch
        np.testing.assert_array_equal(seen, order.permutation(epoch)[:112])
    assert not np.array_equal(order.permutation(0), order.permutation(1))
    np.testing.assert_array_equal(order.rows(7), order.permutation(1)[:16])  # step 7 opens epoch 1


@pytest.mark.parametrize("size", [0, -1, 121, 2.0, True, None])
def test_a_batch_outside_1_to_the_rows_is_refused(size):
    with pytest.raises(ValueError, match=r"batch_size must be a whole number from 1 to 120 \(the training rows\)"):
        BatchOrder(N_TRAIN, size, 0)


def test_the_config_checks_the_size_and_the_data_its_upper_bound():
    for size in (0, -4, 2.5, True):
        with pytest.raises(ValueError, match="batch_size must be a whole number from 1 to the training rows, got"):
            RunConfig(batch_size=size)
    with pytest.raises(ValueError, match="from 1 to 120 .the training rows., got 121"):
        run_stability(RunConfig(batch_size=121, n_steps=2, n_perturbations=1))
    assert RunConfig(batch_size=np.int64(16)).batch_size == 16


# ---- the config: a full-batch config is the one it was -------------------------------------


def test_a_full_batch_config_keeps_its_dict_and_key():
    # RunConfig().key() before mini-batches existed (computed with the code of that commit)
    assert RunConfig().key() == "b063d9f9a73978070a3db0c73f234a48"
    assert RunConfig(optimizer="adam", learning_rate=0.5).key() == "2c405576d550f328706f4a9962b6cc31"
    values = RunConfig().to_dict()
    assert "batch_size" not in values and "batch_seed" not in values
    assert RunConfig.from_dict(values) == RunConfig()  # a dict saved before mini-batches loads
    assert RunConfig(batch_seed=3).key() == RunConfig().key()  # no batches: the order's seed is moot


def test_a_mini_batch_config_round_trips_and_has_its_own_key():
    config = RunConfig(batch_size=16, batch_seed=2)
    values = json.loads(json.dumps(config.to_dict()))
    assert (values["batch_size"], values["batch_seed"]) == (16, 2)
    assert RunConfig.from_dict(values) == config
    keys = {
        config.key(),
        RunConfig(batch_size=16).key(),
        RunConfig(batch_size=8, batch_seed=2).key(),
        RunConfig().key(),
    }
    assert len(keys) == 4


# ---- one step against the algorithm written out --------------------------------------------


def _plain_loss_grad(theta, x, y, l2, hidden=10, n_classes=3):
    """Mean softmax cross-entropy of the 4-H-3 sigmoid network over (x, y), and its gradient in
    the flat order W1, b1, W2, b2, written from the definition (plus l2/2 |W|^2 on the weights)."""
    d = x.shape[1]
    w1 = theta[: d * hidden].reshape(d, hidden)
    b1 = theta[d * hidden : d * hidden + hidden]
    w2 = theta[d * hidden + hidden : d * hidden + hidden + hidden * n_classes].reshape(hidden, n_classes)
    b2 = theta[-n_classes:]
    a = 1.0 / (1.0 + np.exp(-(x @ w1 + b1)))  # (B, H)
    z = a @ w2 + b2  # (B, C)
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    onehot = np.eye(n_classes)[y]
    loss = -np.mean(np.sum(onehot * np.log(p), axis=1)) + 0.5 * l2 * (np.sum(w1**2) + np.sum(w2**2))
    dz = (p - onehot) / len(y)
    da = dz @ w2.T * a * (1.0 - a)
    grad = np.concatenate([(x.T @ da + l2 * w1).ravel(), da.sum(0), (a.T @ dz + l2 * w2).ravel(), dz.sum(0)])
    return loss, grad


def _plain_sgd(theta, x, y, order, n_steps, lr, l2, name, beta=0.9, beta2=0.999, eps=1e-8):
    """torch.optim.SGD / Adam (as their documentation writes them) on each step's batch."""
    theta, buf = theta.copy(), None
    m, v = np.zeros_like(theta), np.zeros_like(theta)
    for t in range(n_steps):
        rows = order.rows(t)
        _, g = _plain_loss_grad(theta, x[rows], y[rows], l2)
        if name == "gd":
            step = g
        elif name in ("momentum", "nesterov"):
            buf = g.copy() if buf is None else beta * buf + g
            step = g + beta * buf if name == "nesterov" else buf
        else:
            m = beta * m + (1 - beta) * g
            v = beta2 * v + (1 - beta2) * g * g
            step = (m / (1 - beta ** (t + 1))) / (np.sqrt(v / (1 - beta2 ** (t + 1))) + eps)
        theta = theta - lr * step
    return theta


@pytest.mark.parametrize("engine", ["compiled", "numpy", "blas"])
@pytest.mark.parametrize("name", ["gd", "momentum", "nesterov", "adam"])
def test_steps_are_the_algorithm_on_the_batch_rows(name, engine):
    data = load_iris()
    mlp = MLP()
    theta0 = mlp.init(np.random.default_rng(3), 2)  # two networks, one shared order
    order = BatchOrder(N_TRAIN, 16, 5)
    l2, lr, n_steps = 0.01, 0.2, 9  # 9 steps cross into the second epoch
    objective = mlp.objective(data.x_train, data.y_train, l2, engine=engine)
    traj = descend(
        objective,
        theta0,
        lr,
        n_steps,
        optimizer=Optimizer(name),
        save_every=1,
        batches=MiniBatches(objective, order),
    )
    for k in range(2):
        expected = _plain_sgd(theta0[k], data.x_train, data.y_train, order, n_steps, lr, l2, name)
        np.testing.assert_allclose(traj.final_theta[k], expected, rtol=1e-10, atol=1e-12)
        # what is recorded is the loss over all 120 training rows, not the batch's
        full, _ = _plain_loss_grad(traj.theta[3, k], data.x_train, data.y_train, l2)
        assert traj.loss[3, k] == pytest.approx(full, rel=1e-12)


def test_a_batch_is_not_the_full_batch():
    """The test above can fail: the full-batch step differs from the batch's."""
    data, mlp = load_iris(), MLP()
    theta0 = mlp.init(np.random.default_rng(3), 1)
    objective = mlp.objective(data.x_train, data.y_train)
    batched = descend(objective, theta0, 0.5, 3, batches=MiniBatches(objective, BatchOrder(N_TRAIN, 16, 0)))
    full = descend(objective, theta0, 0.5, 3)
    assert np.abs(batched.final_theta - full.final_theta).max() > 1e-4


def test_a_batch_of_all_rows_is_the_full_batch_up_to_rounding():
    data, mlp = load_iris(), MLP()
    theta0 = mlp.init(np.random.default_rng(1), 3)
    objective = mlp.objective(data.x_train, data.y_train)
    batched = descend(objective, theta0, 1.0, 50, batches=MiniBatches(objective, BatchOrder(N_TRAIN, N_TRAIN, 4)))
    full = descend(objective, theta0, 1.0, 50)
    np.testing.assert_allclose(batched.loss, full.loss, rtol=1e-9)
    assert not np.array_equal(batched.final_theta, full.final_theta)  # permuted sums round differently


# ---- every row on the same batches ---------------------------------------------------------


class _Spy:
    """An objective recording the rows of every batch call and how many networks it held."""

    def __init__(self, objective):
        self.objective, self.calls = objective, []

    def __call__(self, theta):
        return self.objective(theta)

    def on_rows(self, rows):
        batch = self.objective.on_rows(rows)

        def call(theta):
            self.calls.append((tuple(rows.tolist()), theta.shape[0]))
            return batch(theta)

        return call


def test_one_batch_call_per_step_serves_every_row():
    data, mlp = load_iris(), MLP()
    spy = _Spy(mlp.objective(data.x_train, data.y_train))
    order = BatchOrder(N_TRAIN, 10, 0)
    descend(spy, mlp.init(np.random.default_rng(0), 5), 0.1, 15, batches=MiniBatches(spy, order))
    assert [rows for rows, _ in spy.calls] == [tuple(order.rows(t).tolist()) for t in range(15)]
    assert {k for _, k in spy.calls} == {5}


def test_a_reference_and_its_copies_see_the_batches_it_sees_alone():
    """Row 0 of a run with copies is, bit for bit, the reference trained alone: the copies
    share its batches and do not change its arithmetic."""
    config = RunConfig(learning_rate=0.5, n_steps=60, n_perturbations=4, batch_size=16, optimizer="momentum")
    with_copies = run_stability(config, threads=1).trajectory
    data, mlp = load_iris(), MLP()
    objective = mlp.objective(data.x_train, data.y_train)
    alone = descend(
        objective,
        with_copies.theta[0, :1],
        0.5,
        60,
        optimizer=config.update_rule(),
        batches=MiniBatches(objective, BatchOrder(N_TRAIN, 16, 0)),
    )
    np.testing.assert_array_equal(alone.loss[:, 0], with_copies.loss[:, 0])
    assert with_copies.distance[-1, 1:].max() > 0


def test_the_batches_do_not_depend_on_the_network_seed():
    """Networks of seeds 0 and 1 with one batch seed: the network of seed 1, started where seed
    0's starts, retraces it (the seed draws the network, not the batches)."""
    base = RunConfig(learning_rate=0.3, n_steps=40, n_perturbations=1, batch_size=12)
    first = run_stability(base, threads=1)
    theta0 = first.trajectory.theta[0, 0]
    other = run_stability(dataclasses.replace(base, seed=1), theta0=theta0, threads=1)
    np.testing.assert_array_equal(other.trajectory.loss[:, 0], first.trajectory.loss[:, 0])
    reseeded = run_stability(dataclasses.replace(base, seed=1, batch_seed=1), theta0=theta0, threads=1)
    assert not np.array_equal(reseeded.trajectory.loss[:, 0], first.trajectory.loss[:, 0])


# ---- the full batch, unchanged -----------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "pinned"),
    [
        (
            RunConfig(learning_rate=1.0, n_steps=200, n_perturbations=3),
            ("0x1.d84b29ec39ca7p-2", "0x1.beefc35a790a0p+2", "0x1.687acfffe6cd3p+3"),
        ),
        (
            RunConfig(learning_rate=0.05, n_steps=100, n_perturbations=3, optimizer="adam", l2=0.01),
            ("0x1.ffa459e3cd37ap-2", "0x1.1b7b3e3a0ac0cp+2", "0x1.7042ed61af800p-19"),
        ),
    ],
)
def test_the_full_batch_is_todays_bit_for_bit(config, pinned):
    """Final loss, sum of the final parameters and final <d> as the code before mini-batches
    computed them (float.hex, from that commit; pinned again when the kernels' target CPU was
    fixed to x86-64-v3, core.engine.numba_cache: the same on every machine since)."""
    result = run_stability(config, threads=1)
    t = result.trajectory
    got = (float(t.loss[-1, 0]).hex(), float(t.final_theta.sum()).hex(), float(result.mean_distance[-1]).hex())
    assert got == pinned
