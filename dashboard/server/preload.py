"""The fork server's warm-up (dashboard.server.worker.job_processes names this module as its
preload). ``multiprocess``'s fork server takes the names of modules to preload and only
imports them, so importing this module is what runs :func:`dashboard.server.worker.warm_up`
there (after the server's main script, :func:`dashboard.server.worker.load_main`): it is an
entry point, like a script, and nothing else imports it.
"""

from dashboard.server.worker import load_main, warm_up

load_main()
warm_up()
