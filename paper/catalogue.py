"""The figures in the order of the paper's story, then this project's own."""

from __future__ import annotations

from collections.abc import Sequence

from paper import optimizers, regimes, spectra, story
from paper.sizes import Size
from paper.story import CHAOS, EDGE, FTLE_STEPS, LOW, Figure


def _low(size: Size, seeds: int = 1, steps: int | None = None) -> str:
    networks = "seed 0" if seeds == 1 else f"seeds 0–{seeds - 1}"
    return f"η {LOW:g}, ε 1e-8, {size.copies} copies, {steps or size.steps:,} iterations, {networks}"


def _chaos(size: Size, seeds: int) -> str:
    return f"η {CHAOS:g}, {size.chaos_steps:,} iterations, {'seed 0' if seeds == 1 else f'seeds 0–{seeds - 1}'}"


def _irregular(size: Size) -> str:
    return f"η {CHAOS:g}, {size.chaos_steps:,} iterations, the most irregular of Fig. 13's {size.chaos_seeds} networks"


def _eps(values: Sequence[float]) -> str:
    return f"ε {min(values):.0e} … {max(values):.0e} ({len(values)} radii)"


def _eps_sweep(size: Size) -> str:
    return f"η {LOW:g}, 5 copies per ε, {size.steps:,} iterations, seed 0, {_eps(size.collapse_eps)}"


FIGURES: tuple[Figure, ...] = (
    Figure("fig02-data", "Fig. 2", "Iris in two features, with the trained network's mistakes",
           lambda s: _low(s), story.draw_data),
    Figure("fig03-divergence", "Fig. 3", "distance of perturbed copies (grey), their mean (black), the loss (dashed)",
           lambda s: _low(s, s.seeds), story.draw_divergence),
    Figure("fig04-eps-panels", "Fig. 4", "the same network at several radii ε: one shape, scaled by ε",
           _eps_sweep, story.draw_eps_panels),
    Figure("fig05-weights", "Fig. 5", "ablation L_w/L over W1; path length against displacement per weight",
           lambda s: _low(s), story.draw_weights),
    Figure("fig06-collapse", "Fig. 6", "<d(t)>/(ε N_w) for every ε collapses onto one curve from 0.5",
           _eps_sweep, story.draw_collapse),
    Figure("fig07-long-run", "Fig. 7", "a long low-η run: the distance stays bounded",
           lambda s: _low(s, steps=s.long_steps), story.draw_long_run),
    Figure("fig08-orbital", "Fig. 8", "orbital stability: copies made at t0 neither converge nor separate",
           lambda s: f"{_low(s)}, perturbed at t0 = {s.t0:,}", story.draw_orbital),
    Figure("fig09-weight-norm", "Fig. 9", "weight norm ||θ(t)||₁ of several initial networks",
           lambda s: _low(s, s.norm_seeds), story.draw_weight_norm),
    Figure("fig10-displacement", "Fig. 10", "histogram of per-weight displacement",
           lambda s: _low(s), story.draw_displacements),
    Figure("fig11-edge", "Fig. 11", "η = 1: the distance grows exponentially; the FTLE's best window fit",
           lambda s: f"η {EDGE:g}, ε 1e-8, 5 copies, {s.steps:,} iterations, seeds 0–{s.seeds - 1}", story.draw_edge),
    Figure("fig12-ftle", "Fig. 12", "FTLE against ε (kept networks), and its histogram at ε = 1e-8",
           lambda s: f"η {EDGE:g}, 5 copies, {FTLE_STEPS} iterations, {s.ftle_inits} networks, {_eps(s.ftle_eps)}",
           story.draw_ftle_stats),
    Figure("fig13-chaotic", "Fig. 13", "η = 5: the loss of many networks (dots), and their weight norms",
           lambda s: _chaos(s, s.chaos_seeds), story.draw_chaos_dots),
    Figure("fig14-selected", "Fig. 14", "η = 5: single runs in detail, loss and weight norm",
           lambda s: _chaos(s, min(4, s.chaos_seeds)), story.draw_chaos_selected),
    Figure("fig15-autocorrelation", "Fig. 15", "autocorrelation of the loss after the transient, with a shuffle band",
           lambda s: f"{_irregular(s)}, {s.shuffles} shuffles", story.draw_autocorrelation),
    Figure("fig16-expansion", "Fig. 16", "local expansion rates of the loss series",
           lambda s: _irregular(s), story.draw_expansion),
    Figure("fig17-weights", "Fig. 17", "the weights that move most: laminar phases and bursts",
           lambda s: _irregular(s), story.draw_weight_series),
    Figure("fig18-other-rates", "Fig. 18", "the loss at η = 10, 3 and 2",
           lambda s: f"{s.other_steps:,} iterations, seeds 0–2", story.draw_other_rates),
    Figure("regimes-iris", "this project", "the regimes of η on one strip, with the time to 90% test accuracy",
           lambda s: f"η {regimes.STRIP_ETAS[0]:g} … {regimes.STRIP_ETAS[1]:g} ({s.strip_etas} values), "
                     f"{s.strip_inits} networks each, {s.strip_steps:,} iterations", regimes.draw_strip),
    Figure("orbit-diagram", "this project", "orbit diagram: the last 200 losses of one network against η",
           lambda s: f"η {regimes.ORBIT_ETAS[0]:g} … {regimes.ORBIT_ETAS[1]:g} ({s.orbit_etas} values), "
                     f"{s.orbit_steps:,} iterations", regimes.draw_orbit),
    Figure("map-eta-eps", "this project", "the FTLE over η × ε",
           lambda s: f"η {regimes.MAP_ETAS[0]:g} … {regimes.MAP_ETAS[1]:g} ({s.map_etas} values), 6 radii, "
                     f"{s.map_inits} networks per cell, {FTLE_STEPS} iterations", regimes.draw_eta_eps),
    Figure("sharpness", "this project", "sharpness (largest Hessian eigenvalue) against 2/η along training",
           lambda s: f"η {EDGE:g}, {s.steps:,} iterations", regimes.draw_sharpness),
    Figure("regimes-digits", "this project", "the regimes and the time to 90% test accuracy on digits (64-64-10)",
           lambda s: f"η {regimes.DIGITS_ETAS[0]:g} … {regimes.DIGITS_ETAS[1]:g} ({s.digits_etas} values), "
                     f"1 network each, {s.digits_steps:,} iterations", regimes.draw_digits),
    Figure("spectrum-ftle", "this project", "η = 1 and η = 5: the tangent-space Lyapunov spectrum of each network "
           "(infinitesimal perturbations), its leading exponent beside the FTLE of finite ones",
           lambda s: f"η 1 and 5, {FTLE_STEPS} iterations, seeds 0–{s.spectrum_seeds - 1}, all 83 exponents; "
                     f"FTLE of {spectra.FTLE_COPIES} copies at ε 1e-8", spectra.draw_beside_ftle),
    Figure("spectrum-eta", "this project", "the spectrum against η: positive exponents, λ₁, their sum "
           "(volume growth) and the Kaplan-Yorke dimension",
           lambda s: f"η {spectra.POSITIVE_ETAS[0]:g} … {spectra.POSITIVE_ETAS[1]:g} ({s.positive_etas} values), "
                     f"{s.positive_inits} networks each, {s.positive_steps:,} iterations, all 83 exponents",
           spectra.draw_positive),
    Figure("optimizers", "this project", "gd, momentum, Nesterov and Adam at matched settings: the FTLE against η, "
           "the share of networks it is kept for and the final loss. The FTLE, not the tangent spectrum, is compared: "
           "it is measured the same way for every rule (Adam has no tangent Jacobian here), so it shows where each "
           "rule turns unstable and, with the loss, what that costs the training",
           lambda s: f"η {optimizers.OPTIMIZER_ETAS[0]:g} … {optimizers.OPTIMIZER_ETAS[1]:g} ({s.optimizer_etas} "
                     f"values), {s.optimizer_inits} networks each, {optimizers.MAP_COPIES} copies at ε 1e-8, "
                     f"{s.optimizer_steps:,} iterations, β 0.9", optimizers.draw_optimizers),
    Figure("map-eta-depth", "this project", "the FTLE over η × depth (1 to 4 hidden layers of 10 units)",
           lambda s: f"η {regimes.DEPTH_ETAS[0]:g} … {regimes.DEPTH_ETAS[1]:g} ({s.depth_etas} values), depth "
                     f"{regimes.DEPTHS[0]}–{regimes.DEPTHS[-1]}, {s.depth_inits} networks per cell, "
                     f"{regimes.MAP_COPIES} copies at ε 1e-8, {FTLE_STEPS} iterations", regimes.draw_eta_depth),
)  # fmt: skip
