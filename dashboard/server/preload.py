"""The fork server's warm-up (dashboard.server.worker.job_processes names this module as its
preload). ``multiprocess``'s fork server takes the names of modules to preload and only
imports them, so importing this module is what runs :func:`dashboard.server.worker.warm_up`
there (after the server's main script, :func:`core.engine.forkserver.load_main`): it is an
entry point, like a script, and nothing else imports it.
"""

import signal

# before the imports: a Ctrl-C meant for the server (core.engine.forkserver) is not this process's
_SIGINT = signal.signal(signal.SIGINT, signal.SIG_IGN)
try:
    import multiprocess.spawn

    from core.engine.forkserver import load_main
    from dashboard.server.worker import warm_up

    load_main(multiprocess.spawn)
    warm_up()
finally:
    signal.signal(signal.SIGINT, _SIGINT)
