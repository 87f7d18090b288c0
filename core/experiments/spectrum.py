"""The tangent-space Lyapunov spectrum of one network's training (docs/method.md §10): train
the reference network of a config (as ``run_stability`` draws it from the seed, no copies),
then propagate k tangent vectors along its trajectory (``core.analysis.tangent``). The leading
exponent alone is measured while the network trains (``run_leading_exponent``), also beside
the copies of a run, in the run's own training (``run_stability_with_leading``). With
mini-batches each step's Jacobian is that of its batch's loss (docs/method.md §13). Every update
rule has its tangent map: on theta (GD), (theta, buffer) (momentum, Nesterov), (theta, m, v) (Adam)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from core.analysis.tangent import (
    LeadingTangent,
    LeadingTangents,
    TangentSpectrum,
    tangent_dimension,
    tangent_spectrum,
)
from core.arrays import FloatArray
from core.config import FTLEConfig, RunConfig
from core.data import Dataset
from core.engine.objective import Objective
from core.engine.parallel import default_workers
from core.engine.training import MiniBatches, Progress, check_memory, descend, descend_bytes
from core.engine.training import Objective as Loss
from core.experiments.stability import (
    StabilityResult,
    batches_for,
    dataset_for,
    network_for,
    run_stability,
    start_and_directions,
)
from core.validate import check_int


@dataclass(frozen=True, eq=False)
class SpectrumResult:
    """The spectrum of the reference trajectory of ``config``; ``loss``: (T + 1,)."""

    config: RunConfig
    spectrum: TangentSpectrum
    loss: FloatArray
    cancelled: bool = False


def run_spectrum(
    config: RunConfig,
    k: int,
    *,
    every: int = 1,
    method: str = "auto",
    data: Dataset | None = None,
    theta0: FloatArray | None = None,
    on_progress: Progress | None = None,
    on_tangent: Callable[[int, int], bool | None] | None = None,
) -> SpectrumResult:
    """The first ``k`` exponents (k <= P; 2P with momentum, 3P with Adam) of the trajectory of
    ``config``'s reference network, re-orthonormalised every ``every`` steps. ``on_progress`` follows the training,
    ``on_tangent(done, T)`` the tangent steps (either may stop the work: ``cancelled``)."""
    data = dataset_for(config, data)
    mlp = network_for(config, data)
    p = mlp.n_params
    rule = config.update_rule()
    k = check_int("k", k, low=1, high=tangent_dimension(rule, p))  # before any training
    every = check_int("every", every, low=1, high=config.n_steps)  # before any training
    check_memory(
        descend_bytes(config.n_steps, 1, p, 1) + 8 * p * (p + 4 * k),
        f"the {config.n_steps + 1:,} networks of the trajectory ({p} parameters) and {k} tangent vectors",
        "use fewer steps",
    )
    start, _ = start_and_directions(config, mlp, theta0)
    objective = mlp.objective(data.x_train, data.y_train, config.l2, threads=default_workers())
    batches = batches_for(config, data, objective)
    traj = descend(
        objective,
        start[None, :],
        config.learning_rate,
        config.n_steps,
        save_every=1,
        on_progress=on_progress,
        optimizer=rule,
        batches=batches,
    )
    thetas = traj.theta[:, 0, :]  # (T + 1, P), T the steps done (fewer if cancelled)
    if len(thetas) < 2:
        raise ValueError("the training was stopped before its first step: there is no trajectory to measure")
    done = len(thetas) - 1  # fewer than n_steps only if cancelled: QR at least at its end
    spectrum = tangent_spectrum(
        objective,
        thetas,
        config.learning_rate,
        k,
        every=min(every, done),
        method=method,
        optimizer=rule,
        on_progress=on_tangent,
        batches=batches,
    )
    return SpectrumResult(config, spectrum, traj.loss[:, 0], traj.cancelled or spectrum.cancelled)


def run_leading_exponent(
    config: RunConfig,
    *,
    data: Dataset | None = None,
    theta0: FloatArray | None = None,
    threads: int = 1,
    on_progress: Progress | None = None,
) -> TangentSpectrum:
    """The leading exponent (k = 1, QR every step) of ``config``'s reference network, carried
    along its one training (``core.analysis.tangent.LeadingTangent``): no trajectory is kept,
    and each step evaluates three rows (the network, and two for the Hessian-vector product).
    The same number as ``run_spectrum(config, 1, method="hvp").spectrum`` up to rounding."""
    data = dataset_for(config, data)
    mlp = network_for(config, data)
    start, _ = start_and_directions(config, mlp, theta0)
    objective = mlp.objective(data.x_train, data.y_train, config.l2, threads=threads)
    batches = batches_for(config, data, objective)
    carrier = LeadingTangent(objective, config.learning_rate, config.n_steps, config.update_rule(), batches)
    traj = descend(
        carrier,  # an objective's call, with the tangent beside it
        start[None, :],
        config.learning_rate,
        config.n_steps,
        save_every=None,
        on_progress=on_progress,
        optimizer=config.update_rule(),
        batches=batches,
    )
    return carrier.spectrum(traj.n_steps)


def run_stability_with_leading(
    config: RunConfig,
    *,
    data: Dataset | None = None,
    theta0: FloatArray | None = None,
    on_progress: Progress | None = None,
    progress_every: int = 250,
    threads: int | None = None,
    ftle_config: FTLEConfig = FTLEConfig(),
    carry: Callable[[Loss, MiniBatches | None], Loss] | None = None,
) -> tuple[StabilityResult, TangentSpectrum]:
    """``run_stability`` (the same arguments, the same trajectory bit for bit) with the leading
    exponent of its reference carried along that one training (``LeadingTangents``, row 0): two
    rows more a step, in the same objective call on the compiled engine. The exponent is
    ``run_leading_exponent(config)``'s up to rounding. ``carry``, as ``run_stability``'s, wraps
    the carrier in another (Adam's preconditioners: core.analysis.preconditioned)."""
    data = dataset_for(config, data)
    rule = config.update_rule()
    carriers: list[LeadingTangents] = []

    def carry_leading(objective: Objective, batches: MiniBatches | None) -> Loss:
        carriers.append(LeadingTangents(objective, config.learning_rate, config.n_steps, None, rule, batches))
        return carriers[0] if carry is None else carry(carriers[0], batches)

    result = run_stability(
        config, data=data, theta0=theta0, on_progress=on_progress, progress_every=progress_every,
        threads=threads, ftle_config=ftle_config, carry=carry_leading,
    )  # fmt: skip
    return result, carriers[0].spectrum(result.trajectory.n_steps)
