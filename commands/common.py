"""What every command shares: arguments, the network's config and data, output files, JSON,
progress bars. Bad input raises ValueError; ``cli.main`` turns it into one line and exit 2."""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from core.config import ACTIVATIONS, DATASETS, INITS, NORMS, OUTPUTS, PERTURBATIONS, RunConfig
from core.data import Dataset, load_dataset_file
from core.engine.optimizers import CONSTANTS, OPTIMIZERS
from core.experiments.regimes import geometric_grid

EXIT_BAD_INPUT = 2


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error (no usage dump)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def json_safe(value: Any) -> Any:
    """NaN/inf -> None so the output is strict JSON; numpy scalars -> Python."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (np.integer, np.bool_)):
        return value.item()
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def emit(payload: dict[str, Any], as_json: bool, lines: list[str]) -> None:
    print(json.dumps(json_safe(payload), indent=2) if as_json else "\n".join(lines))


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {value!r}")
    return value


def count_arg(text: str) -> int:
    """argparse type: a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {value}")
    return value


def network_args(p: argparse.ArgumentParser, *, eta: float | None, steps: int, perturbations: int | None) -> None:
    """The network, data and training flags; a command over a grid of eta (``eta=None``) or
    without copies (``perturbations=None``) has no such flag."""
    if eta is not None:
        p.add_argument("--eta", type=float, default=eta, help="learning rate (float64 as typed)")
    p.add_argument("--steps", type=int, default=steps, help="gradient-descent iterations T")
    if perturbations is not None:
        p.add_argument("--perturbations", type=int, default=perturbations, help="perturbed copies M per network")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--dataset",
        choices=DATASETS,
        default=None,
        help="data set by name: iris (default), digits, wine, breast_cancer or mnist (docs/method.md §15)",
    )
    p.add_argument(
        "--hidden",
        type=int,
        nargs="+",
        default=None,
        metavar="H",
        help="hidden units, one width per hidden layer: --hidden 10 10 is 4-10-10-3 on Iris "
        "(1 to 4 layers of 1 to 1024 units; iris default 10, digits 64)",
    )
    p.add_argument(
        "--activation", choices=ACTIVATIONS, default=None, help="default: the data set's (iris sigmoid, digits tanh)"
    )
    p.add_argument("--output", choices=OUTPUTS, default="softmax")
    p.add_argument("--init", choices=INITS, default="normal")
    p.add_argument("--perturbation", choices=PERTURBATIONS, default="cube")
    p.add_argument("--distance", choices=NORMS, default="l1")
    p.add_argument("--l2", type=float, default=0.0, help="L2 penalty on the weights")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="gd", help="update rule, in PyTorch's conventions (gd)")
    p.add_argument("--momentum", type=float, default=None, help="momentum, nesterov: beta; adam: beta1 (0.9)")
    p.add_argument("--beta2", type=float, default=None, help="adam: decay of the squared gradients (0.999)")
    p.add_argument("--adam-eps", type=float, default=None, help="adam: added to the denominator (1e-8)")
    p.add_argument(
        "--batch-size",
        type=int,
        default=None,
        metavar="B",
        help="mini-batch SGD on B of the training rows per step (1 to the training rows; default: the full batch)",
    )
    p.add_argument(
        "--batch-seed", type=int, default=None, metavar="S", help="seed of the batch order, apart from --seed (0)"
    )
    p.add_argument("--standardize", action="store_true", help="standardise the features")
    p.add_argument("--data", type=Path, help=".npz (x_train, y_train[, x_test, y_test]) or .csv (last column = label)")
    p.add_argument("--json", action="store_true", help="print a JSON object")


def config_from(args: argparse.Namespace, **extra: Any) -> RunConfig:
    """The config of the flags. ``--data FILE`` replaces the named data set, so the two together
    are refused; the config then names the default data set and the file is recorded apart."""
    if args.dataset is not None and args.data is not None:
        raise ValueError("give --dataset or --data, not both (--data replaces the named data set)")
    network = {name: getattr(args, name) for name in ("hidden", "activation") if getattr(args, name) is not None}
    if "hidden" in network:  # one width is the int a one-layer config has always held
        widths = network["hidden"]
        network["hidden"] = widths[0] if len(widths) == 1 else tuple(widths)
    optional = {
        field: getattr(args, flag, None)
        for flag, field in (("eta", "learning_rate"), ("perturbations", "n_perturbations"))
    }
    optional = {k: v for k, v in optional.items() if v is not None}
    return RunConfig.for_dataset(
        args.dataset or "iris",
        **network,
        **optional,
        seed=args.seed,
        output=args.output,
        init=args.init,
        standardize=args.standardize,
        n_steps=args.steps,
        l2=args.l2,
        perturbation=args.perturbation,
        distance=args.distance,
        **optimizer_settings(args),
        **batch_settings(args),
        **extra,
    )


def batch_settings(args: argparse.Namespace) -> dict[str, object]:
    """--batch-size and --batch-seed; a batch seed without a batch size is refused."""
    size, seed = getattr(args, "batch_size", None), getattr(args, "batch_seed", None)
    if size is None and seed is not None:
        raise ValueError("--batch-seed applies only with --batch-size (the full batch has no order)")
    return {} if size is None else {"batch_size": size, "batch_seed": 0 if seed is None else seed}


def optimizer_settings(args: argparse.Namespace) -> dict[str, object]:
    """--optimizer and the constants given for it; a constant the optimizer does not use is refused."""
    name = getattr(args, "optimizer", "gd")
    given = {
        field: getattr(args, field, None)
        for field in ("momentum", "beta2", "adam_eps")
        if getattr(args, field, None) is not None
    }
    unused = [field for field in given if field not in CONSTANTS[name]]
    if unused:
        flags = ", ".join("--" + field.replace("_", "-") for field in unused)
        raise ValueError(f"{flags} does not apply to --optimizer {name}")
    return {"optimizer": name, **given}


def data_note(args: argparse.Namespace) -> dict[str, str]:
    """What config.json records of the data: the file given with --data, if any."""
    return {} if args.data is None else {"data_file": str(args.data)}


def user_data(args: argparse.Namespace) -> Dataset | None:
    """The data of ``--data FILE``, or None: the config's data set."""
    return None if args.data is None else load_dataset_file(args.data)


def theta0_from(path: Path | None) -> np.ndarray | None:
    """The array ``theta0`` of an .npz file (checked against the network by the core)."""
    if path is None:
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {name: f[name] for name in f.files}
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as exc:
        raise ValueError(f"--init-from {path}: cannot read as .npz ({exc})") from None
    if "theta0" not in arrays:
        raise ValueError(f"--init-from {path}: no array named 'theta0' (has {sorted(arrays)})")
    return arrays["theta0"]


def out_dir(path: Path) -> Path:
    """The directory ``--out`` names, checked before any work: a directory that exists or whose
    parent does, where a file can be made (tried: a staging directory is made and removed)."""
    if str(path) in ("", "."):
        raise ValueError("--out needs a directory name (give '.' as ./NAME to write here)")
    if path.exists() and not path.is_dir():
        reason = "it is a file, not a directory"
    elif not path.exists() and not path.parent.exists():
        reason = f"its parent {path.parent} does not exist"
    elif not path.exists() and not path.parent.is_dir():
        reason = f"its parent {path.parent} is not a directory"
    elif not os.access(path if path.exists() else path.parent, os.W_OK | os.X_OK):
        reason = "the directory is not writable" if path.exists() else f"its parent {path.parent} is not writable"
    else:
        try:
            shutil.rmtree(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
        except OSError as exc:
            reason = f"cannot make files beside it: {exc.strerror or exc}"
        else:
            return path
    raise ValueError(f"--out {path}: cannot write there ({reason})")


@contextlib.contextmanager
def staged(out: Path) -> Iterator[Path]:
    """A temporary directory beside ``out`` to write into; its files move into ``out`` (made
    if missing) when the block ends well, so an error leaves nothing half-written. An
    OSError (disk full, a name taken) becomes one line about ``--out``."""
    staging = None
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
        yield staging
        out.mkdir(exist_ok=True)
        for path in staging.iterdir():
            os.replace(path, out / path.name)
    except OSError as exc:
        target = exc.filename2 or exc.filename  # a move's destination, else the file written
        where = f": {target}" if target else ""
        raise ValueError(f"--out {out}: cannot write ({exc.strerror or exc}{where})") from None
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)


def write_outputs(out: Path, files: dict[str, Callable[[Path], object]]) -> None:
    """Write each file by its writer into ``out``, through a staging directory (``staged``)."""
    with staged(out) as staging:
        for name, write in files.items():
            write(staging / name)


def csv_writer(frame: Any) -> Callable[[Path], object]:
    """The writer of a table (a pandas DataFrame) as CSV."""
    return lambda path: frame.to_csv(path, index=False, float_format="%.17g")  # float64 round-trips


def npz_writer(**arrays: np.ndarray) -> Callable[[Path], object]:
    # allow_pickle named, at numpy's default: else the checker reads the arrays as maybe that flag
    return lambda path: np.savez_compressed(path, allow_pickle=True, **arrays)


def json_writer(payload: dict[str, Any]) -> Callable[[Path], object]:
    return lambda path: path.write_text(json.dumps(json_safe(payload), indent=2) + "\n")


def grid_from(
    values: list[float] | None, grid: list[str] | None, name: str, default: tuple[float, float, int]
) -> np.ndarray:
    """An explicit list (``--NAMEs``) or a log range (``--NAME-range LO HI N``, N >= 2)."""
    if values is not None:
        return np.asarray(values, dtype=np.float64)
    if grid is None:
        return geometric_grid(*default, name=name)
    low_text, high_text, n_text = grid
    try:
        low, high, count = float(low_text), float(high_text), int(n_text)
    except ValueError:
        raise ValueError(
            f"--{name}-range needs LO HI N as two numbers and a whole number, got {' '.join(grid)}"
        ) from None
    if count < 2:
        raise ValueError(f"--{name}-range needs N >= 2 points, got {count} (give one value with {list_flag(name)})")
    return geometric_grid(low, high, count, name=name)


class ProgressBar:
    """A tqdm progress bar on stderr, shown only on a terminal; an ``on_progress`` for the core."""

    def __init__(self, what: str, unit: str = "cell") -> None:
        from tqdm import tqdm

        self.bar = tqdm(desc=what, unit=unit, file=sys.stderr, disable=None, leave=False)

    def __call__(self, done: int, total: int, _partial: object) -> None:
        self.bar.total = total
        self.bar.update(done - self.bar.n)

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.close()


def list_flag(name: str) -> str:
    """The flag of an explicit list of values: --etas, --eps-values."""
    return "--eps-values" if name == "eps" else f"--{name}s"


def grid_args(p: argparse.ArgumentParser, name: str, what: str) -> None:
    """``--etas V1 V2 ...`` (``--eps-values`` for eps) or ``--NAME-range LO HI N`` (log-spaced), not both."""
    group = p.add_mutually_exclusive_group()
    group.add_argument(
        list_flag(name),
        dest=f"{name}_values" if name == "eps" else f"{name}s",
        type=float,
        nargs="+",
        help=f"explicit {what}",
    )
    group.add_argument(
        f"--{name}-range", nargs=3, metavar=("LO", "HI", "N"), help=f"{what}: N log-spaced from LO to HI"
    )


def job_args(p: argparse.ArgumentParser) -> None:
    """The flags of a job that writes files: --init-from, --out, --max-minutes."""
    p.add_argument("--init-from", type=Path, help=".npz with theta0 (P,): every network starts from it")
    p.add_argument("--out", type=Path, required=True, help="directory for the CSV, NPZ and JSON files")
    p.add_argument("--max-minutes", type=positive_float, default=60.0, help="refuse jobs estimated to take longer")
