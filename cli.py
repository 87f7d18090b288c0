"""Command line for the training-dynamics core (no Dash).

    python cli.py run --eta 0.01 --eps 1e-8 --perturbations 20 --steps 5000 --seed 0 --json
    python cli.py orbital --t0 4000 --json
    python cli.py lyapunov --eta 1 --eps 1e-14 1e-8 1e-3 --inits 40 --perturbations 5 --steps 200 --json
    python cli.py sharpness --eta 1 --steps 400 --every 20 --json
    python cli.py spectrum --eta 1 --steps 200 --k 10 --json
    python cli.py sweep --eta-range 0.001 20 25 --inits 20 --steps 500 --out sweep/
    python cli.py map --kind eta-eps --eta-range 0.1 10 8 --eps-range 1e-12 1e-2 6 --out map/
    python cli.py orbit --eta-range 0.3 30 40 --steps 2000 --last 200 --out orbit/
    python cli.py diagnostics --eta 5 --steps 10000 --out diagnostics/
    python cli.py figures --out figures/ [--quick] [--only fig12-ftle]
    python cli.py bench --json   (and --large, --sweep, --digits)

Bad input gets one line on stderr and exit status 2; nothing is half-written.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType

from commands import analysis, bench, figures, regimes, runs
from commands.common import EXIT_BAD_INPUT, Parser

COMMANDS = (runs, analysis, regimes, figures, bench)  # in the order of ``cli.py --help``


def build_parser() -> Parser:
    parser = Parser(prog="cli.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for module in COMMANDS:
        module.register(sub)
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM, taken the way of Ctrl-C: worker processes stopped, nothing half-written."""


def _terminate(signum: int, _frame: FrameType | None) -> None:
    raise Terminated(signum)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return args.func(args)
    except ValueError as exc:
        print(f"cli.py {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Terminated:
        print(f"cli.py {args.command}: terminated; nothing was written", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print(f"cli.py {args.command}: interrupted; nothing was written", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
