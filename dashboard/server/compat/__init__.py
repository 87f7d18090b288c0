"""Every place the dashboard relies on a library's private parts, or mends a library's defect.

Written against dash 4.4.1 and diskcache 5.6.3 (requirements.txt). Each entry says what it
relies on or mends and why no public API serves; tests/dashboard/server/test_compat.py runs the
stock library for each and asserts that it still needs the entry, so after an upgrade a
failing test names the entry to drop (and the test beside it).

- ``compat.dash_parts``: Dash's background-callback managers mended (a job that exits
  while it is stopped or looked at, a result stored between a poll's two reads, a Celery
  job killed when its result is read), job processes started from a given
  ``multiprocess`` context, the error payload a manager hands to Dash, the page config,
  and the event ``dcc.Location`` listens to.
- ``compat.diskcache_parts``: diskcache's per-thread SQLite connection, made again when
  its database file is deleted or replaced.

The two are separate modules because the stores load no Dash (tests/test_layering.py).
The kombu and Celery parts live in ``cluster/compat.py`` (cluster never imports the
dashboard).
"""
