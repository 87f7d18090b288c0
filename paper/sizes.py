"""How large each experiment of the figures is: the paper's settings, or a quick set.

The quick set keeps every figure's shape (the same learning rates, radii and kinds of runs)
with fewer iterations, copies and networks, so that the whole set is drawn in about a
minute on 2 cores; its numbers are rougher, not different in kind.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Size:
    name: str
    steps: int  # a low-eta run (Figs. 2-6, 9-11)
    copies: int  # perturbed copies of a single run
    seeds: int  # initial networks of the multi-panel figures (Figs. 3, 11)
    long_steps: int  # Fig. 7
    t0: int  # Fig. 8: the iteration perturbed, of ``steps``
    norm_seeds: int  # Fig. 9
    ftle_inits: int  # Fig. 12
    ftle_eps: tuple[float, ...]  # Fig. 12's radii
    collapse_eps: tuple[float, ...]  # Fig. 6's radii
    chaos_steps: int  # eta = 5 (Figs. 13-17)
    chaos_seeds: int  # Fig. 13
    shuffles: int  # Fig. 15's shuffle-null band
    other_steps: int  # Fig. 18
    strip_etas: int  # the regime strip and time to accuracy on Iris
    strip_inits: int
    strip_steps: int
    map_etas: int  # the eta x eps map (FTLE over 200 iterations)
    map_inits: int
    orbit_etas: int  # the orbit diagram
    orbit_steps: int
    digits_etas: int  # time to accuracy on digits
    digits_steps: int
    spectrum_seeds: int  # networks at eta = 1 and 5 whose spectrum is drawn beside their FTLE
    positive_etas: int  # the spectrum against eta: learning rates,
    positive_inits: int  # networks per learning rate,
    positive_steps: int  # and iterations of each
    optimizer_etas: int  # the optimizers compared: learning rates,
    optimizer_inits: int  # networks per learning rate and optimizer,
    optimizer_steps: int  # and iterations of each
    depth_etas: int  # the eta x depth map of the FTLE (200 iterations): learning rates,
    depth_inits: int  # and networks per cell


PAPER = Size(
    name="paper",
    steps=5000,
    copies=20,
    seeds=3,
    long_steps=50_000,
    t0=4000,
    norm_seeds=10,
    ftle_inits=500,
    ftle_eps=tuple(10.0**k for k in range(-14, -1)),
    collapse_eps=tuple(10.0**k for k in range(-15, -1)),
    chaos_steps=10_000,
    chaos_seeds=20,
    shuffles=1000,
    other_steps=2000,
    strip_etas=28,
    strip_inits=8,
    strip_steps=2000,
    map_etas=24,
    map_inits=4,
    orbit_etas=240,
    orbit_steps=2000,
    digits_etas=10,
    digits_steps=600,
    spectrum_seeds=5,
    positive_etas=16,
    positive_inits=4,
    positive_steps=200,
    optimizer_etas=13,
    optimizer_inits=6,
    optimizer_steps=1000,
    depth_etas=13,
    depth_inits=4,
)

QUICK = Size(
    name="quick",
    steps=1000,
    copies=6,
    seeds=2,
    long_steps=4000,
    t0=800,
    norm_seeds=3,
    ftle_inits=24,
    ftle_eps=(1e-12, 1e-8, 1e-4, 1e-2),
    collapse_eps=(1e-15, 1e-11, 1e-8, 1e-5, 1e-2),
    chaos_steps=3000,
    chaos_seeds=5,
    shuffles=200,
    other_steps=500,
    strip_etas=8,
    strip_inits=2,
    strip_steps=400,
    map_etas=6,
    map_inits=2,
    orbit_etas=30,
    orbit_steps=500,
    digits_etas=4,
    digits_steps=150,
    spectrum_seeds=2,
    positive_etas=7,
    positive_inits=2,
    positive_steps=100,
    optimizer_etas=5,
    optimizer_inits=2,
    optimizer_steps=200,
    depth_etas=5,
    depth_inits=2,
)
