"""The preload of the chunk workers' fork server (core.engine.parallel names this module): the
parent's main script (:func:`core.engine.forkserver.load_main`), then the engine, the cells'
code and the compiled kernels of a two-step run, once, so that each worker forked from it
starts its first chunk at once instead of importing all of that and loading the kernels itself
(~0.75 s a worker quiet, 5 s under load, while the job's own process computes its first chunk
beside them). Like a script, an entry point: nothing imports it.
"""

import signal

# before the imports: a Ctrl-C meant for the command (core.engine.forkserver) is not this process's
_SIGINT = signal.signal(signal.SIGINT, signal.SIG_IGN)
try:
    import multiprocessing.spawn

    import core.experiments.cells  # noqa: F401  (what the workers unpickle a chunk's function from)
    from core.config import RunConfig
    from core.engine.forkserver import load_main
    from core.experiments.stability import run_stability

    load_main(multiprocessing.spawn)
    run_stability(RunConfig(n_steps=2, n_perturbations=1), threads=1)  # the kernels, compiled or loaded
finally:
    signal.signal(signal.SIGINT, _SIGINT)
