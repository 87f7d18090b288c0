"""The Chromium that kaleido drives for PNG and SVG, with every wait bounded.

kaleido's own blocking API (``start_sync_server``, which plotly's ``write_image`` uses) runs
the browser in a thread and waits on a queue with no limit: a browser that fails to start or
dies leaves that thread dead and the caller waiting for ever. Here kaleido runs on an event
loop in a thread of its own and the main thread only waits on it, each wait bounded, so

- a browser that exits at once, hangs or dies is an ``ExportError`` that names it;
- SIGINT and SIGTERM reach the main thread (its waits are interruptible), which then closes
  the browser, killing its process group (choreographer starts it in a session of its own,
  where a terminal's Ctrl-C does not reach it) if it does not close in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import threading
from collections.abc import Coroutine, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import kaleido

START_SECONDS = 60.0  # Chromium up with plotly.js loaded: ~2 s here
IMAGE_SECONDS = 60.0  # one PNG or SVG: < 1 s here
CLOSE_SECONDS = 10.0  # a polite close; then the process group is killed
T = TypeVar("T")
FIX = (
    "set BROWSER_PATH to a working Chromium or Chrome, "
    "or install Debian's chromium (bash scripts/install-debian.sh browser)"
)


LOGGERS = ("choreographer", "kaleido", "browser_proc")  # kaleido's, and Chromium's stderr


class ExportError(RuntimeError):
    """Static export failed here: no Chromium, or one that would not start, hung or died."""


def chromium() -> str | None:
    """The browser kaleido would drive (``BROWSER_PATH``, else the first Chromium or Chrome
    found), or None."""
    from choreographer.browsers.chromium import Chromium

    path = os.environ.get("BROWSER_PATH")
    if path:
        return path if os.path.isfile(path) and os.access(path, os.X_OK) else None
    return Chromium.find_browser(skip_local=False)


class Browser:
    """One Chromium for every image of a run (starting one per image costs ~3 s)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._loop = asyncio.new_event_loop()
        self._loop.set_exception_handler(_unheard)
        self._thread = threading.Thread(target=self._loop.run_forever, name="kaleido", daemon=True)
        self._kaleido: kaleido.Kaleido | None = None  # once made
        self._healthy = False  # started, and no wait on it has failed since

    @classmethod
    @contextlib.contextmanager
    def started(cls) -> Iterator[Browser]:
        """The machine's Chromium (see ``chromium``), started; closed (or killed) on the way out,
        whatever the way: an error, Ctrl-C or SIGTERM."""
        path = chromium()
        if path is None:
            given = os.environ.get("BROWSER_PATH")
            where = f"BROWSER_PATH={given} is not a program" if given else "no chromium or chrome on the PATH"
            raise ExportError(f"PNG and SVG export needs Chromium ({where}): {FIX}")
        _quiet()
        browser = cls(path)
        try:
            browser._thread.start()
            browser._wait(browser._open(), START_SECONDS, "start")
            browser._healthy = True
            yield browser
        finally:
            browser.close()

    async def _open(self) -> None:
        import kaleido

        self._kaleido = kaleido.Kaleido(path=self.path, timeout=IMAGE_SECONDS)
        await self._kaleido.open()

    def image(self, fig: dict[str, Any], fmt: str, width: int, height: int) -> bytes:
        """The figure (``go.Figure.to_dict()``) as PNG or SVG bytes."""
        assert self._kaleido is not None, "a Browser draws once started (Browser.started)"
        opts = {"format": fmt, "width": width, "height": height, "scale": 1}
        what = f"draw {'an' if fmt == 'svg' else 'a'} {fmt.upper()}"
        return self._wait(self._kaleido.calc_fig(fig, opts=opts), IMAGE_SECONDS + 5, what)

    def _wait(self, step: Coroutine[Any, Any, T], seconds: float, what: str) -> T:
        """Run ``step`` on the browser's loop; its result, or an ExportError after ``seconds``
        or on its failure. Ctrl-C and SIGTERM while waiting cancel it and go on up."""
        future = asyncio.run_coroutine_threadsafe(step, self._loop)
        try:
            return future.result(timeout=seconds)
        except BaseException as exc:
            future.cancel()
            if not isinstance(exc, Exception):  # KeyboardInterrupt (cli.Terminated too): the browser is well
                raise
            self._healthy = False
            if getattr(getattr(self._kaleido, "subprocess", None), "returncode", None) is not None:
                failure = f"exited before it could {what}"  # kaleido saw it go, and cancelled the step
            elif isinstance(exc, TimeoutError):
                failure = f"did not {what} within {seconds:.0f} s"
            else:
                failure = f"failed to {what} ({_first_line(exc)})"
            raise ExportError(f"Chromium {self.path} {failure}: {FIX}") from None

    def close(self) -> None:
        """Close the browser: politely if it is well, else (or if that takes too long) by
        killing its process group; then kaleido's clean-up of its temporary directories."""
        closed = False
        try:
            if self._kaleido is not None and self._healthy:
                self._healthy = False
                with contextlib.suppress(Exception):
                    self._wait(self._kaleido.close(), CLOSE_SECONDS, "close")
                    closed = True  # and its process reaped: not to be signalled (its number may be reused)
        finally:
            if not closed:
                self._kill()
            if self._kaleido is not None and not closed:
                with contextlib.suppress(Exception):  # the browser is gone: only temporary files left
                    self._wait(self._kaleido.close(), CLOSE_SECONDS, "clean up")
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(CLOSE_SECONDS)

    def _kill(self) -> None:
        """SIGKILL to the browser's process group (choreographer's wrapper, Chromium and its
        helpers), if started, and the wrapper reaped. (SIGTERM buys nothing: Chromium leaves its
        ``org.chromium.Chromium.*`` directory in TMPDIR either way, and the wrapper takes 5 s.)"""
        process = getattr(self._kaleido, "subprocess", None)  # set once kaleido has started it
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(CLOSE_SECONDS)  # (or by kaleido's watchdog)


def _quiet() -> None:
    """kaleido's warnings are logged, and an application without a logging set-up prints them
    on stderr (Python's last resort): a failure here is said once, by the ExportError. A
    logging set-up of the caller's own still receives them."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
            logger.addHandler(logging.NullHandler())


def _unheard(_loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """A step given up on (cancelled, timed out) may still end in an error that nobody awaits:
    logged as kaleido's, not printed by asyncio (the ExportError has said what failed)."""
    logging.getLogger("kaleido").debug("after the wait: %s", context.get("exception") or context.get("message"))


def _first_line(exc: BaseException) -> str:
    """An exception's message on one line: kaleido's span several, or a tuple of them."""
    text = str(exc.args[0]) if len(exc.args) > 1 else str(exc)
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else 'no message'}"
