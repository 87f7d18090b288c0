"""The examples of README.md and docs/ run as written.

Every ```python block runs as a script, and the lines of every ```bash block that run
`cli.py` (or a `python -c` that makes the next line's input file) run in order, as a reader
pastes them: with this interpreter, from a temporary directory that receives their files,
with the repository's root on PYTHONPATH (the README runs them from the root). A `make` line
is checked with `make -n` (its target exists), not run: `make run` serves until stopped and
`make test` is the whole suite. Any other line is listed in NOT_RUN with the reason it is not
run, so a new kind of line fails here until someone decides. Heavy commands run smaller
through SMALLER; each of its replacements must apply exactly once, so an edited line fails
here instead of silently running at full size.
"""

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = (ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")))

# what the test changes in a command: {a fragment that picks one line: {as written: as run}}
SMALLER = {
    "cli.py lyapunov": {"--inits 40": "--inits 4"},
    "cli.py sweep --eta-range": {"0.001 20 25": "0.001 20 5", "--inits 20": "--inits 2", "--steps 500": "--steps 100"},
    "cli.py sweep --dataset digits": {
        "0.1 0.3 1 2 5 20": "1 20",
        "--inits 2": "--inits 1",
        "--steps 1000": "--steps 50",
    },
    "cli.py map --kind eta-eps": {"--eta-range 0.01 20 12": "--eta-range 0.01 20 4", "--inits 8": "--inits 1"},
    "cli.py map --kind eta-seed": {"--seeds 16": "--seeds 4", "--factor 4": "--factor 2"},
    "cli.py orbit --eta-range": {"0.3 30 40": "0.3 30 4", "--steps 2000": "--steps 400"},
    # sizes without a flag in the line: bench's timing loops; one figure of the set (its PNG
    # and SVG still go through Chromium, as test_cli_figures.py's do)
    "cli.py bench": {"--json": "--json --repeats 1 --seconds 0.1"},
    "cli.py figures": {"--quick": "--quick --only fig02-data"},
}

# lines of the bash blocks that are not run: {how the line starts: why}
NOT_RUN = {
    ".venv/bin/gunicorn": "a server",
    "export REDIS_URL=": "the Celery setup: needs a Redis server",
    ".venv/bin/celery": "a Celery worker: needs a Redis server",
    "docker ": "needs Docker and its registry",
    "curl localhost:8050": "needs the container's server",
    'echo "SECRET_KEY=': "writes .env for docker compose",
    "REDIS_PUBLISH=": "a line of docker compose's .env",
    "bash scripts/build-image.sh": "builds the container image with podman (minutes)",
    "podman ": "runs the container image",
    ".venv/bin/python -m pytest": "runs tests (minutes)",
    ".venv/bin/python -m ruff": "lints the whole tree (make lint), not an example",
}

FALLBACK = "worker processes would run it again"  # core.engine.parallel's warning for an unguarded script


@dataclass(frozen=True)
class Block:
    doc: str
    line: int  # of the opening fence
    lang: str
    body: str

    def __str__(self) -> str:
        return f"{self.doc}:{self.line}"


def blocks() -> list[Block]:
    found = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for m in re.finditer(r"^```(\w*)\n(.*?)^```", text, flags=re.S | re.M):
            line = text.count("\n", 0, m.start()) + 1
            found.append(Block(str(doc.relative_to(ROOT)), line, m.group(1), m.group(2)))
    return found


def commands(block: Block) -> list[str]:
    """The block's commands, one a line (backslash continuations joined), comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", block.body)
    return [line.strip() for line in joined.splitlines() if line.strip() and not line.strip().startswith("#")]


def is_run(command: str) -> bool:
    words = shlex.split(command, comments=True)
    return len(words) > 1 and words[0] in ("python", ".venv/bin/python") and words[1] in ("cli.py", "-c")


def smaller(command: str) -> str:
    """``command`` with the replacements of SMALLER for its line (each must apply once)."""
    for fragment, replacements in SMALLER.items():
        if fragment in command:
            for written, run in replacements.items():
                assert command.count(written) == 1, f"SMALLER[{fragment!r}]: {written!r} not once in {command!r}"
                command = command.replace(written, run)
    return command


def argv(command: str) -> list[str]:
    words = shlex.split(smaller(command), comments=True)
    return [sys.executable, *(str(ROOT / "cli.py") if w == "cli.py" else w for w in words[1:])]


def run(args: list[str], cwd: Path, what: str) -> subprocess.CompletedProcess:
    path = [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{what} exited with {done.returncode}:\n{done.stderr[-3000:]}"
    return done


BLOCKS = blocks()
PYTHON = [b for b in BLOCKS if b.lang == "python"]
BASH = [b for b in BLOCKS if b.lang == "bash"]


@pytest.mark.parametrize("block", PYTHON, ids=str)
def test_python_block_runs_as_a_script(block, tmp_path):
    script = tmp_path / "example.py"
    script.write_text(block.body, encoding="utf-8")
    done = run([sys.executable, str(script)], tmp_path, f"the python block at {block}")
    assert FALLBACK not in done.stderr, f"{block} calls a job outside `if __name__ == '__main__':`"


@pytest.mark.parametrize("block", BASH, ids=str)
def test_bash_block_runs_as_written(block, tmp_path):
    for command in commands(block):
        if is_run(command):
            run(argv(command), tmp_path, f"{block}: {command}")
        elif command.startswith("make "):
            run(["make", "-n", *shlex.split(command, comments=True)[1:]], ROOT, f"{block}: {command} (make -n)")
        else:
            assert any(command.startswith(p) for p in NOT_RUN), f"{block}: {command!r} is neither run nor in NOT_RUN"


def test_the_examples_are_found_and_every_smaller_line_exists():
    assert len(PYTHON) >= 2 and any("cli.py" in b.body for b in BASH)  # the extraction still finds them
    run_lines = [c for b in BASH for c in commands(b) if is_run(c)]
    for fragment in SMALLER:
        assert sum(fragment in c for c in run_lines) == 1, f"SMALLER[{fragment!r}] should pick exactly one line"


def test_a_synopsis_is_not_written_as_a_command():
    for block in BASH:
        for command in commands(block):
            assert not re.search(r"\[--?\w", command), f"{block}: {command!r} is a usage synopsis: write it as prose"


# The Python API from a script without the guard: core.engine.parallel runs the chunks in this process
# with one warning, instead of a pool whose workers would run the script again and break.
CHUNK_PID = "import os\n\ndef pid(_):\n    return os.getpid()\n"
JOB = "from core.engine.parallel import map_chunks\nfrom chunk_pid import pid\n\n"
COUNT = "print(len(set(map_chunks(pid, list(range(6)), workers=2)[0])))"  # the processes that ran chunks
SCRIPTS = {  # each makes its call twice from one line: one warning
    "top level": f"{JOB}for _ in range(2):\n    {COUNT}\n",
    "a function called at top level": f"{JOB}def main():\n    {COUNT}\n\nfor _ in range(2):\n    main()\n",
    "guarded": f'{JOB}if __name__ == "__main__":\n    {COUNT}\n',
}


@pytest.mark.parametrize("how", [*SCRIPTS, "python -m"])
def test_an_unguarded_script_runs_in_process_with_one_warning(how, tmp_path):
    (tmp_path / "chunk_pid.py").write_text(CHUNK_PID)
    (tmp_path / "job.py").write_text(SCRIPTS.get(how, SCRIPTS["top level"]))
    done = run([sys.executable, *(["-m", "job"] if how == "python -m" else ["job.py"])], tmp_path, how)
    processes = {int(n) for n in done.stdout.split()}
    if how == "guarded":
        assert min(processes) > 1 and FALLBACK not in done.stderr  # chunk 0 here, chunk 1 at least on a worker
    else:
        assert processes == {1}, done.stderr  # every chunk in the script's own process
        assert done.stderr.count(FALLBACK) == 1 and "job.py:" in done.stderr, done.stderr
