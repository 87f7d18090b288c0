"""Estimators on trajectories that have been computed: distances and the finite-time
Lyapunov exponent, chaos diagnostics (autocorrelation, expansion rates), the attractor a run
settles on, the Hessian and sharpness, weight ablation, and the regime labels. Each takes
arrays and returns numbers; only the Hessian's sharpness series trains (to sample along a
trajectory)."""
