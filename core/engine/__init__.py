"""The engine: a network, its losses and gradients, and gradient descent for many
trajectories at once (``descend``), with its compiled kernel, the BLAS and NumPy engines that
check it, the perturbed copies, processes and executors for parallel work, and the measured
speed that prices a job. Nothing here analyses a trajectory."""
