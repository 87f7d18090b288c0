"""The load test's command line (loadtest.run has the whole description):

.venv/bin/python scripts/load_test.py [--visitors 20] [--maps] [--backend celery|diskcache]
    [--workers 2] [--steps 300] [--logs DIR] [--json]
"""

import sys

from loadtest.run import main

if __name__ == "__main__":
    sys.exit(main())
