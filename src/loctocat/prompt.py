"""What the user sees during `authenticate()`: the code to enter, a spinner, and the outcome.

`authenticate()` talks to the user only through a `Prompt`. The default, `TerminalPrompt`,
prints to stderr (stdout stays free for your program's output). On a terminal, with someone at
the keyboard::

    ! First copy your one-time code: WDJB-MJHT
    Press Enter to open https://example.com/device in your browser, or open it yourself and enter the code.
    ⠋ Waiting for you to approve in the browser… (expires in 14:59)
    ✓ Authentication complete.

The code is shown once, and the page once, on one line however narrow the terminal (it wraps
the line itself, so a URL is never broken). Enter opens the page when someone is at the
keyboard (stdin and stderr are terminals, ``CI`` is not set), a browser can be started
(``BROWSER`` picks it, as for Python's `webbrowser`; a text browser such as lynx runs only when
``BROWSER`` names it) and the page is an https:// one. When the server sends
``verification_uri_complete``, that page, with the code filled in, is the one named and opened:
"Press Enter to open https://example.com/device?user_code=WDJB-MJHT in your browser (the code
is filled in).". The spinner animates and counts down; while it runs the terminal does not echo
what is typed (an echoed key would leave a copy of the spinner's line behind). The keys still
reach stdin, and the terminal's settings are put back exactly when the flow ends. Over SSH a QR
code of the page is shown too when `segno` is installed (``pip install 'loctocat[qr]'``);
``copy_code=True`` puts the code on the clipboard.

Anywhere else (CI, pipes, a redirected stderr, ``TERM=dumb``) the lines are printed once as
plain text, with no control codes and nothing waiting for input::

    ! First copy your one-time code: WDJB-MJHT
    Open https://example.com/device in your browser and enter the code.
    Waiting for you to approve in the browser… (expires in 14:59)
    ✓ Authentication complete.

With ``verification_uri_complete`` the second line names that page first: "Open
https://example.com/device?user_code=WDJB-MJHT in your browser (the code is filled in), or
https://example.com/device and enter the code.".
``NO_COLOR`` turns off colour and bold; ``FORCE_COLOR`` and rich's other variables work as usual.

To change the wording, pass options (the loctocat 1.0 keywords, see `prompt_from_options`) or a
`TerminalPrompt`; to show the code somewhere else entirely (a GUI, a log), pass any object with
the five `Prompt` methods.
"""  # noqa: E501  (the sample lines are as long as the prompt prints them)

from __future__ import annotations

import builtins
import os
import sys
import threading
import urllib.parse
from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any, Protocol, runtime_checkable

from loctocat._flow import _is_loopback
from loctocat._models import LoctocatAuthInfo, Token
from loctocat._text import one_line, printable
from loctocat.errors import AccessDenied, ConfigurationError, ExpiredToken

if TYPE_CHECKING:
    import webbrowser

    # rich is imported only where it is used, so that `import loctocat` stays fast.
    from rich.console import Console, RenderableType
    from rich.live import Live
    from rich.spinner import Spinner
    from rich.text import Text

__all__ = [
    "Prompt",
    "SpinnerLike",
    "TerminalPrompt",
    "failure_message",
    "prompt_from_options",
]

_DEFAULT_SPINNER = "dots"
# rich's Status refreshes at this rate; enough for smooth frames and a per-second countdown.
_REFRESH_SECONDS = 1 / 12.5
# Names suggested when a spinner name is unknown: common ones that look fine in any terminal.
_SUGGESTED_SPINNERS = ("dots", "line", "arc", "bouncingBar", "simpleDots", "point")
# Class names of "the flow was cancelled": asyncio's and anyio's CancelledError, trio.Cancelled.
# Matched by name so that this module never has to import trio (or asyncio).
_CANCELLED_NAMES = frozenset({"KeyboardInterrupt", "CancelledError", "Cancelled"})
# Clipboard commands tried in order with `copy_code=True`: macOS, Wayland, X11 (twice), Windows/WSL.
_CLIPBOARD_COMMANDS: tuple[tuple[str, ...], ...] = (
    ("pbcopy",),
    ("wl-copy",),
    ("xclip", "-selection", "clipboard"),
    ("xsel", "--clipboard", "--input"),
    ("clip.exe",),
)
_CLIPBOARD_TIMEOUT_SECONDS = 2.0
# How often the Enter reader checks whether it should stop (it never blocks longer than this).
_READ_POLL_SECONDS = 0.05
# How long close() waits for the Enter reader to let go of stdin (it takes one poll at most).
_READER_STOP_SECONDS = 1.0
_QR_BORDER = 2  # modules of quiet zone around the QR code; 2 scans fine and keeps it compact
# Exact black on white where the terminal can (scanners want contrast, whatever the theme);
# rich picks the nearest colours on terminals with fewer.
_QR_STYLE = "rgb(0,0,0) on rgb(255,255,255)"
_QR_INSTALL_HINT = "Install segno to show a QR code: pip install 'loctocat[qr]'"
# Two QR rows per character: (top dark, bottom dark) -> half block.
_HALF_BLOCKS = {(True, True): "█", (True, False): "▀", (False, True): "▄", (False, False): " "}


@runtime_checkable
class Prompt(Protocol):
    """What `authenticate()` calls to talk to the user; implement it to show the code your way.

    The calls come in this order: `show_code`, `start_waiting`, then at most one of `succeeded`
    or `failed` (a flow can fail before the code is shown), and `close` last, always. They are
    made from the thread or task that runs the flow, in sync and async code alike, so each must
    return quickly: do not block, sleep or read input in them.
    """

    def show_code(self, auth_info: LoctocatAuthInfo) -> None:
        """Tell the user where to go (`verification_uri`) and which code to type (`user_code`)."""

    def start_waiting(self) -> None:
        """Polling has begun: show that the program is waiting for approval."""

    def succeeded(self, token: Token) -> None:
        """A token arrived: stop any waiting indicator and report success."""

    def failed(self, error: BaseException) -> None:
        """The flow ended with `error` (possibly KeyboardInterrupt or a cancellation): report it.

        `failure_message(error)` gives the one-line text `TerminalPrompt` prints.
        """

    def close(self) -> None:
        """Release everything (threads, terminal state). Called last, possibly more than once."""


@runtime_checkable
class SpinnerLike(Protocol):
    """A spinner you bring yourself, such as a `halo.Halo` instance.

    `start()` is called when polling begins and `stop()` when it ends. If it also has
    `succeed(text)` / `fail(text)` (as Halo does), those are called instead of `stop()` to end
    with the outcome; otherwise the outcome line is printed by the prompt after `stop()`.
    """

    def start(self) -> object:
        """Start spinning."""

    def stop(self) -> object:
        """Stop spinning and clear the spinner."""


def failure_message(error: BaseException) -> str:
    """The one-line text describing how the flow ended, without a leading symbol.

    Use it in your own `Prompt.failed` to word failures the way `TerminalPrompt` does.
    """
    error = _single_leaf(error)
    if isinstance(error, AccessDenied):
        return "Authorization was denied."
    if isinstance(error, ExpiredToken):
        return "The code expired before it was approved. Run the command again for a new code."
    if any(cls.__name__ in _CANCELLED_NAMES for cls in type(error).__mro__):
        return "Cancelled."
    # Error messages may quote the server, over several lines: the failure line is one line,
    # and shows the server's control characters as escapes instead of sending them.
    text = one_line(str(error))
    return text or type(error).__name__


def _single_leaf(error: BaseException) -> BaseException:
    """Unwrap exception groups holding one exception (anyio/trio wrap errors from task groups)."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


def _format_remaining(seconds: float) -> str:
    """`14:59`, or `1:02:03` past an hour: how long until the code expires."""
    minutes, secs = divmod(max(0, int(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


def _spinner_frames(name: str) -> str:
    """The frames of rich's spinner `name`, or ConfigurationError naming some that exist."""
    # rich's table of spinners, which rich.spinner.Spinner looks names up in; importing
    # rich.spinner itself (rich.text, rich.measure, ...) waits until the spinner starts.
    from rich._spinners import SPINNERS

    try:
        return "".join(str(frame) for frame in SPINNERS[name]["frames"])  # type: ignore[attr-defined]
    except KeyError:
        raise ConfigurationError(
            f"unknown spinner {name!r}: use a rich spinner name such as "
            f"{', '.join(repr(n) for n in _SUGGESTED_SPINNERS)} "
            "(`python -m rich.spinner` shows them all)"
        ) from None


def _can_encode(encoding: str, text: str) -> bool:
    """Whether a stream in `encoding` can write `text` (not so with PYTHONIOENCODING=ascii)."""
    try:
        text.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def _stderr_encoding() -> str:
    # As rich's Console.encoding says it for the stream.
    return (getattr(sys.stderr, "encoding", None) or "utf-8").lower()


# The environment variables with which rich versions decide differently; with any of them set,
# rich itself decides.
_RICH_VARIABLES = ("FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE")


def _plain_stderr() -> tuple[bool, bool] | None:
    """(is_terminal, styled) for sys.stderr, as a default `Console(stderr=True)` would decide,
    worked out without importing rich; None where only rich can tell.

    Importing rich and building its console take about 40 ms: this lets the code reach the
    screen before rich is loaded (for the spinner that follows it).
    """
    if (
        sys.platform == "win32"
        or "get_ipython" in vars(builtins)  # Jupyter: rich has its own rules
        or str(getattr(sys.stdin, "__module__", "")).startswith("idlelib")
        or any(name in os.environ for name in _RICH_VARIABLES)
    ):
        return None
    try:
        is_terminal = bool(sys.stderr.isatty())
    except (AttributeError, ValueError):  # no stderr, or a closed one
        is_terminal = False
    dumb = os.environ.get("TERM", "").strip().lower() in ("dumb", "unknown")
    return is_terminal, is_terminal and not dumb


def _printable_lines(text: str) -> str:
    """`text` with its line breaks kept and every other control character escaped."""
    return "\n".join(printable(line) for line in text.split("\n"))


def _browser_url(auth_info: LoctocatAuthInfo) -> str:
    """The page to open: the one with the code filled in when the server gave it."""
    return auth_info.verification_uri_complete or auth_info.verification_uri


def _where_to_go(auth_info: LoctocatAuthInfo, *, press_enter: bool) -> str:
    """The line under the code: the page to open, and what Enter does when it is offered.

    The page with the code filled in (`verification_uri_complete`), when the server sent one,
    is named first: it is the one Enter opens, and the one that saves typing.
    """
    # Everything shown comes from the server: its control characters are shown as escapes.
    page = printable(auth_info.verification_uri)
    if auth_info.verification_uri_complete:
        complete = printable(auth_info.verification_uri_complete)
        if press_enter:
            return f"Press Enter to open {complete} in your browser (the code is filled in)."
        return (
            f"Open {complete} in your browser (the code is filled in), "
            f"or {page} and enter the code."
        )
    if press_enter:
        return (
            f"Press Enter to open {page} in your browser, or open it yourself and enter the code."
        )
    return f"Open {page} in your browser and enter the code."


def _in_ci() -> bool:
    return bool(os.environ.get("CI"))


def _over_ssh() -> bool:
    return bool(os.environ.get("SSH_CONNECTION") or os.environ.get("SSH_TTY"))


def _foreground_terminal(stream: IO[str] | None) -> int | None:
    """`stream`'s file descriptor if it is a terminal this process may read or set up, else None.

    That is: a terminal with this process in the foreground. A background job that reads its
    terminal, or changes its settings, would be stopped (SIGTTIN, SIGTTOU).
    """
    if stream is None:
        return None
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # replaced or closed (e.g. by pytest)
        return None
    if not os.isatty(fd):
        return None
    try:
        if os.tcgetpgrp(fd) != os.getpgrp():
            return None
    except OSError:
        pass  # not our controlling terminal: nothing would stop us for using it
    return fd


def _interactive_stdin() -> int | None:
    """stdin's file descriptor if Enter can be read from it without side effects, else None.

    That is: a terminal in the foreground (see `_foreground_terminal`), on a platform where
    `select` works on it (not Windows).
    """
    if sys.platform == "win32":
        return None
    return _foreground_terminal(sys.stdin)


def _is_web_page(url: str) -> bool:
    """Whether "Press Enter" may open `url`: an https:// page, or an http:// one on this machine.

    Anything else a server sends (``javascript:``, ``file:``, ``data:``, or an option such as
    ``--new-window=...``, which Python before 3.13 hands to the browser command as one) is shown
    but never opened.
    """
    # isprintable() is False for every control and format character, and for every kind of
    # whitespace but the plain space, which is checked on its own.
    if not url.isprintable() or " " in url:
        return False
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname
    except ValueError:  # e.g. an unclosed "[" around an IPv6 address
        return False
    if not host:
        return False
    return parts.scheme == "https" or (parts.scheme == "http" and _is_loopback(host))


def _runs_in_the_terminal(browser: webbrowser.BaseBrowser) -> bool:
    """Whether `browser` would take over the terminal until it exits, as a text browser does.

    What CPython 3.11's webbrowser.py does: www-browser, links, lynx and w3m are registered as
    plain `GenericBrowser`s, whose open() runs the command on our terminal and waits for it to
    exit; elinks is an `Elinks`, a `UnixBrowser` with ``background = False``, which does the
    same when its remote call fails. A `BackgroundBrowser` (xdg-open, gio, x-www-browser, ...)
    starts its command in a new session and returns at once; the graphical `UnixBrowser`s
    (Mozilla, Chrome, Opera, ...) set ``background = True``, which sends their input and
    output to /dev/null; Konqueror's does too, and the macOS and Windows classes hand the page
    to the system. None of those takes over the terminal.
    """
    import webbrowser

    if isinstance(browser, webbrowser.BackgroundBrowser):
        return False
    if isinstance(browser, webbrowser.GenericBrowser):
        return True
    if isinstance(browser, webbrowser.UnixBrowser):
        return not browser.background
    return False


def _usable_browser() -> webbrowser.BaseBrowser | None:
    """The browser "Press Enter" starts, or None when there is none it may start.

    It is `webbrowser.get()`: the first command in ``BROWSER`` when that is set (the user's own
    choice, even a text browser), else the first browser Python found, unless that one would
    take over the terminal (a text browser, over SSH say) while the prompt is still using it.
    """
    import webbrowser

    try:
        browser = webbrowser.get()
    except webbrowser.Error:
        return None
    if any(os.environ.get("BROWSER", "").split(os.pathsep)):
        return browser
    # Over SSH, even xdg-open may fall back to a text browser (www-browser, w3m) when no
    # graphical one can start: only a browser the user named is started there.
    if _over_ssh() or _runs_in_the_terminal(browser):
        return None
    return browser


def _browser_available() -> bool:
    """Whether there is a browser that "Press Enter" may start (see `_usable_browser`)."""
    return _usable_browser() is not None


def _open_page(url: str) -> bool:
    """Open `url` in the usable browser: False if it is not a web page or nothing started."""
    import webbrowser

    # Checked here too, right before anything is started, whatever the caller checked.
    if not _is_web_page(url):
        return False
    browser = _usable_browser()
    if browser is None:
        return False
    # Not webbrowser.open(): when the first browser fails, it tries every other one it knows in
    # turn (3.11's open() loops over all of _tryorder), text browsers included.
    try:
        if isinstance(browser, webbrowser.BackgroundBrowser):
            return _start_in_background(browser, url)
        return bool(browser.open(url))
    except Exception:
        return False


def _start_in_background(browser: webbrowser.BackgroundBrowser, url: str) -> bool:
    """Start a launcher (xdg-open, gio, ...) as `BackgroundBrowser.open` does, but detached
    from the terminal: whatever it falls back to cannot read or draw on it."""
    import subprocess

    command = [browser.name, *(arg.replace("%s", url) for arg in browser.args)]
    try:
        subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            close_fds=True,
            start_new_session=True,
        )
    except OSError:
        return False
    return True


def _copy_to_clipboard(text: str) -> bool:
    """Put `text` on the clipboard with the first command that works; never raises."""
    import shutil
    import subprocess

    for command in _CLIPBOARD_COMMANDS:
        path = shutil.which(command[0])
        if path is None:
            continue
        try:
            # Output to DEVNULL, not pipes: xclip and wl-copy leave a process behind to serve the
            # selection, and it would hold a pipe open until the timeout.
            result = subprocess.run(
                [path, *command[1:]],
                input=text.encode(),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=_CLIPBOARD_TIMEOUT_SECONDS,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            continue
        if result.returncode == 0:
            return True
    return False


def _qr_text(url: str, *, coloured: bool) -> Text:
    """`url` as a QR code of half blocks, two modules rows per line. Raises ImportError.

    Coloured, it is drawn black on white whatever the terminal's theme. Without colour the light
    modules are the blocks, which reads right on the usual dark terminal (scanners also accept
    the inverse, as it looks on a light one).
    """
    import segno
    from rich.text import Text

    qr = segno.make(url, error="l", micro=False)
    rows = [[bool(module) for module in row] for row in qr.matrix_iter(border=_QR_BORDER)]
    if len(rows) % 2:
        rows.append([False] * len(rows[0]))
    lines = []
    for top, bottom in zip(rows[::2], rows[1::2], strict=True):
        lines.append(
            "".join(
                _HALF_BLOCKS[(t, b) if coloured else (not t, not b)]
                for t, b in zip(top, bottom, strict=True)
            )
        )
    return Text("\n".join(lines), style=_QR_STYLE if coloured else "", end="\n")


class _EnterReader:
    """Waits in a daemon thread for one line on a terminal's stdin, then calls `on_line`.

    It polls with `select` and never blocks in a read, so `stop()` returns within one poll and
    leaves nothing behind that could swallow the program's later input. In the terminal's usual
    line mode, a line typed but not yet ended with Enter stays in the terminal for the program.
    """

    def __init__(self, fd: int, on_line: Callable[[], None]) -> None:
        self._fd = fd
        self._on_line = on_line
        self._stop = threading.Event()
        self._done_reading = threading.Event()
        self._thread = threading.Thread(target=self._run, name="loctocat-enter", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop reading; once this returns, stdin is no longer read."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._done_reading.wait(_READER_STOP_SECONDS)

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def _run(self) -> None:
        try:
            got_line = self._read_line()
        finally:
            self._done_reading.set()
        if got_line and not self._stop.is_set():
            self._on_line()

    def _read_line(self) -> bool:
        import select

        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self._fd], [], [], _READ_POLL_SECONDS)
                if not ready or self._stop.is_set():
                    continue
                data = os.read(self._fd, 4096)
            except (BlockingIOError, InterruptedError):
                continue
            except (OSError, ValueError):  # stdin closed or gone: give up quietly
                return False
            return bool(data)  # b"": end of input (Ctrl+D), no Enter
        return False


class _EchoOff:
    """A terminal's echo of what is typed, turned off until `restore()` puts its settings back.

    While the spinner redraws its line, an echoed key lands on that line, and an echoed Enter
    moves the cursor down, so that the next redraw leaves a copy of the spinner behind. Only
    the echo is turned off: the terminal stays in line mode, Ctrl+C still interrupts, and what
    is typed still reaches stdin (for the Enter reader, or for the program afterwards).
    """

    def __init__(self, fd: int, saved: list[Any]) -> None:
        self._fd = fd
        self._saved: list[Any] | None = saved

    @classmethod
    def start(cls, stream: IO[str]) -> _EchoOff | None:
        """Turn off the echo of `stream`'s terminal; None if it is not a terminal in the
        foreground, or on Windows."""
        if sys.platform == "win32":
            return None
        fd = _foreground_terminal(stream)
        if fd is None:
            return None
        import termios

        try:
            saved = termios.tcgetattr(fd)
            quiet = list(saved)
            quiet[3] &= ~(termios.ECHO | termios.ECHONL)  # the local modes
            # TCSANOW: keys typed already stay in the terminal (TCSAFLUSH would drop them).
            termios.tcsetattr(fd, termios.TCSANOW, quiet)
        except termios.error:
            return None
        return cls(fd, saved)

    def restore(self) -> None:
        """Put back the terminal's settings exactly as they were found. Safe to call again."""
        import termios

        saved, self._saved = self._saved, None
        if saved is None:
            return
        with suppress(termios.error):  # the terminal is gone: there is nothing to put back
            termios.tcsetattr(self._fd, termios.TCSANOW, saved)


class TerminalPrompt:
    """The default `Prompt`: prints the code, a spinner and the outcome to a rich console.

    Args:
        console: where to print; by default a `rich.console.Console(stderr=True)`. Whether it
            animates and uses colour follows the console (`is_terminal`, ``TERM=dumb``,
            ``NO_COLOR``, ``FORCE_COLOR``), so pass ``Console(force_terminal=...)`` to override.
        message: the text shown with the code: a string (printed as it is, without markup), or
            a function given the `LoctocatAuthInfo` that returns it. ``None`` shows the default
            text; ``""`` shows nothing. Its line breaks are kept; any other control character
            (the server's values may hold some) is shown as an escape such as ``\\x1b``.
        success_message: the text after ``✓`` once a token arrives. ``None`` shows
            "Authentication complete."; ``""`` shows nothing.
        spinner: a rich spinner name (``python -m rich.spinner`` lists them), your own
            `SpinnerLike` object (e.g. a ``halo.Halo``), or ``None`` for no waiting indicator.
        open_browser: offer "Press Enter to open <page> in your browser". ``None`` (the
            default) offers it when someone can press Enter: stdin and the console are
            terminals, ``CI`` is not set, and `webbrowser` finds a browser that runs beside the
            terminal (set ``BROWSER`` to choose one; a text browser such as lynx or w3m, which
            would take over the terminal, is used only when ``BROWSER`` names it). ``True``
            offers it in CI too; ``False`` never. The page is `verification_uri_complete` when
            the server sent one. Only an ``https://`` page (or ``http://`` on this machine) is
            opened: for any other a line says why not, and the user opens it if they trust it.
            Not offered on Windows.
        qr: show a QR code of the page, for signing in from a phone. ``None`` (the default) shows
            it on a terminal over SSH (``SSH_CONNECTION`` or ``SSH_TTY`` set) when `segno` is
            installed; ``True`` always (as plain text off a terminal; without `segno`, a line
            says to ``pip install 'loctocat[qr]'``); ``False`` never.
        copy_code: put the code on the clipboard (with ``pbcopy``, ``wl-copy``, ``xclip``,
            ``xsel`` or ``clip.exe``, whichever is found first and works) and say so. When none
            works nothing is printed and the flow goes on. With an empty `message` (show
            nothing), the automatic choices above are all off; only an explicit ``True`` turns
            a feature on.

    Raises:
        ConfigurationError: `spinner` is an unknown name or not a spinner object.
    """

    def __init__(
        self,
        *,
        console: Console | None = None,
        message: str | Callable[[LoctocatAuthInfo], str] | None = None,
        success_message: str | None = None,
        spinner: str | SpinnerLike | None = _DEFAULT_SPINNER,
        open_browser: bool | None = None,
        qr: bool | None = None,
        copy_code: bool = False,
    ) -> None:
        # Without a console of yours, rich's default one is made when first needed (see
        # `_plain_stderr`): usually after the code is on the screen.
        self._rich_console = console
        self._message = message
        self._success_message = success_message
        self._open_browser = open_browser
        self._qr = qr
        self._copy_code = copy_code
        self._unicode = _can_encode(self._encoding(), "✓✗…")
        self._spinner_name: str | None = None
        self._user_spinner: SpinnerLike | None = None
        if isinstance(spinner, str):
            # rich always has its default: only a name of yours is looked up now, so the
            # default prompt loads nothing of rich before the code is on the screen.
            if spinner != _DEFAULT_SPINNER:
                _spinner_frames(spinner)
            self._spinner_name = spinner
        elif isinstance(spinner, SpinnerLike):
            self._user_spinner = spinner
        elif spinner is not None:
            raise ConfigurationError(
                "spinner must be a rich spinner name such as 'dots', an object with start() "
                f"and stop() methods (like halo.Halo), or None; got {type(spinner).__name__}"
            )
        # Reentrant, so a user's spinner or message callback that calls back in cannot deadlock.
        self._lock = threading.RLock()
        self._auth_info: LoctocatAuthInfo | None = None
        self._user_spinner_running = False
        self._live: Live | None = None
        self._rich_spinner: Spinner | None = None
        self._refresher: threading.Thread | None = None
        self._stop_refreshing = threading.Event()
        self._reader: _EnterReader | None = None
        self._echo_off: _EchoOff | None = None

    @property
    def console(self) -> Console:
        """The rich console this prompt prints to."""
        if self._rich_console is None:
            from rich.console import Console

            self._rich_console = Console(stderr=True)
        return self._rich_console

    def _plain(self) -> tuple[bool, bool] | None:
        """(is_terminal, styled) while rich's default console is not made yet, when that can be
        told without it; otherwise None (ask the console)."""
        return _plain_stderr() if self._rich_console is None else None

    def _encoding(self) -> str:
        if self._rich_console is None:
            return _stderr_encoding()
        return self._rich_console.encoding

    def show_code(self, auth_info: LoctocatAuthInfo) -> None:
        """Print the code and where to go (or the custom `message`), then the extras.

        The extras are the "Press Enter" offer, the QR code and the clipboard copy, as the
        `open_browser`, `qr` and `copy_code` options say.
        """
        with self._lock:
            self._auth_info = auth_info
            url = _browser_url(auth_info)
            custom = None
            if self._message is not None:
                custom = self._message(auth_info) if callable(self._message) else self._message
            # The automatic extras come with the default text or a message of the caller's;
            # an empty message turns them off.
            auto = custom is None or bool(custom)
            enter_fd = self._enter_fd(auto=auto)
            refused = enter_fd is not None and not _is_web_page(url)
            if refused:
                enter_fd = None
            if custom is None:
                self._show_default_text(auth_info, press_enter=enter_fd is not None)
            elif custom:
                self._print_line(_printable_lines(custom))
            if refused:
                self._print_line(
                    f"Not opening {printable(url)} in a browser: only https:// pages are "
                    "opened; open it yourself if you trust it."
                )
            elif enter_fd is not None and custom is not None:
                # The default text says what Enter does; the caller's own message does not.
                self._print_line(f"Press Enter to open {printable(url)} in your browser...")
            self._show_qr(url, auto=auto)
            # A code with control characters is not copied: pasted into a terminal, they would
            # act there.
            code = auth_info.user_code
            if self._copy_code and printable(code) == code and _copy_to_clipboard(code):
                self._print_line("Copied the code to the clipboard.")
            if enter_fd is not None:
                self._stop_reader()
                self._reader = _EnterReader(enter_fd, lambda: self._enter_pressed(url))
                self._reader.start()

    def start_waiting(self) -> None:
        """Start the spinner; without a terminal, print the waiting line once instead."""
        with self._lock:
            if self._user_spinner is not None:
                if not self._user_spinner_running:
                    # The user's own spinner decides for itself how to behave off a terminal.
                    self._user_spinner.start()
                    self._user_spinner_running = True
            elif self._spinner_name is not None and self._live is None:
                if self._animates():
                    # Before the first frame; close() turns the echo back on, whatever happens.
                    self._echo_off = _EchoOff.start(self.console.file)
                    # A stream that cannot encode the frames would make rich raise mid-flow.
                    frames = _spinner_frames(self._spinner_name)
                    self._start_live(
                        self._spinner_name if _can_encode(self._encoding(), frames) else "line"
                    )
                else:
                    self._print(self._waiting_text())

    def succeeded(self, token: Token) -> None:
        """Stop the spinner and print the success line (unless `success_message` is ``""``)."""
        with self._lock:
            self._stop_reader()
            text = self._success_message
            if text is None:
                text = "Authentication complete."
            if self._user_spinner_running and text:
                succeed = getattr(self._user_spinner, "succeed", None)
                if callable(succeed):
                    self._user_spinner_running = False
                    succeed(text)
                    return
            self._stop_spinners()
            if text:
                self._print(self._outcome_line("✓", "OK", "green", text))

    def failed(self, error: BaseException) -> None:
        """Stop the spinner and print one line saying why the flow ended."""
        with self._lock:
            self._stop_reader()
            text = failure_message(error)
            if self._user_spinner_running:
                fail = getattr(self._user_spinner, "fail", None)
                if callable(fail):
                    self._user_spinner_running = False
                    fail(text)
                    return
            self._stop_spinners()
            self._print(self._outcome_line("✗", "X", "red", text))

    def close(self) -> None:
        """Stop the spinner, stop waiting for Enter, show the cursor and echo typing again.

        Once it returns no thread of the prompt reads stdin, so the program can, and the
        terminal's settings are as they were before the spinner started. A browser already
        being started is left to finish. Safe to call repeatedly.
        """
        with self._lock:
            self._stop_reader()
            self._stop_spinners()

    # -- text -------------------------------------------------------------------------------

    def _styled(self) -> bool:
        # Colour and bold only on a real terminal that allows them: rich drops colours for
        # NO_COLOR itself but keeps bold, and NO_COLOR users expect plain text.
        plain = self._plain()
        if plain is not None:
            return plain[1]
        console = self.console
        return console.is_terminal and console.color_system is not None and not console.no_color

    def _animates(self) -> bool:
        # is_interactive already folds in TERM=dumb and TTY_INTERACTIVE; is_terminal is checked
        # too so that forcing interactivity never sends cursor codes into a file or pipe.
        console = self.console
        return console.is_interactive and console.is_terminal and not console.is_dumb_terminal

    def _fancy(self) -> bool:
        # Pictures (the QR code): a terminal that is not dumb (colour or not).
        return self.console.is_terminal and not self.console.is_dumb_terminal

    def _show_default_text(self, auth_info: LoctocatAuthInfo, *, press_enter: bool) -> None:
        styled = self._styled()
        # Everything shown comes from the server: its control characters are shown as escapes.
        code = printable(auth_info.user_code)
        # Microsoft-style `message` fields are left out on purpose: they repeat this, less clearly.
        where = _where_to_go(auth_info, press_enter=press_enter)
        plain = self._plain()
        if plain is not None and _can_encode(_stderr_encoding(), code + where):
            # The bytes rich would write (tests/test_prompt_plain.py compares them), without
            # loading rich first.
            bang, bold, reset = ("\x1b[1;33m", "\x1b[1m", "\x1b[0m") if styled else ("", "", "")
            header_line = f"{bang}!{reset} First copy your one-time code: {bold}{code}{reset}"
            sys.stderr.write(f"{header_line}\n{where}\n")
            sys.stderr.flush()
            return
        from rich.text import Text

        header = Text()
        header.append("!", style="bold yellow" if styled else "")
        header.append(" First copy your one-time code: ")
        header.append(code, style="bold" if styled else "")
        self._print(header)
        self._print(Text(where))

    def _show_qr(self, url: str, *, auto: bool) -> None:
        # Over SSH a phone can scan the page, unless it is on the remote machine's loopback
        # (a local test server): no phone or laptop can reach that.
        reachable = not _is_loopback(urllib.parse.urlsplit(url).hostname or "")
        automatic = auto and _over_ssh() and self._fancy() and reachable
        wanted = self._qr if self._qr is not None else automatic
        if not wanted:
            return
        try:
            qr = _qr_text(url, coloured=self._styled())
        except ImportError:
            if self._qr:  # asked for explicitly: say how to get it
                self._print_line(_QR_INSTALL_HINT)
            return
        if len(qr.plain.split("\n", 1)[0]) > self.console.width:
            if self._qr:
                self._print_line("The terminal is too narrow for the QR code.")
            return
        self._print_line("Or scan this QR code:")
        self._print(qr)

    # -- opening the browser ----------------------------------------------------------------

    def _enter_fd(self, *, auto: bool) -> int | None:
        """stdin's descriptor when "Press Enter" may be offered, as `open_browser` says, else
        None. Whether the page itself may be opened is checked apart (`_is_web_page`)."""
        if self._open_browser is False or (self._open_browser is None and not auto):
            return None
        if self._open_browser is None and _in_ci():
            return None
        plain = self._plain()
        if not (plain[0] if plain is not None else self.console.is_terminal):
            return None
        fd = _interactive_stdin()
        if fd is None or not _browser_available():
            return None
        return fd

    def _stop_reader(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.stop()

    def _enter_pressed(self, url: str) -> None:
        """In the reader's thread: Enter was pressed, open the page unless the flow is over."""
        from rich.text import Text

        with self._lock:
            reader = self._reader
            if reader is None or reader.stopped:
                return
            self._print(Text(f"Opening {printable(url)} in your browser."))
        if not _open_page(url):
            with self._lock:
                if self._reader is reader:  # only while the flow still runs
                    self._print(Text(f"Could not start a browser; open {printable(url)} yourself."))

    def _waiting_text(self) -> Text:
        from rich.text import Text

        dots = "…" if self._unicode else "..."
        text = f"Waiting for you to approve in the browser{dots}"
        if self._auth_info is not None:
            remaining = (self._auth_info.expires_at - datetime.now(UTC)).total_seconds()
            if remaining > 0:
                text += f" (expires in {_format_remaining(remaining)})"
            else:
                text += " (the code has expired)"
        return Text(text)

    def _outcome_line(self, symbol: str, ascii_symbol: str, colour: str, message: str) -> Text:
        from rich.text import Text

        line = Text()
        line.append(
            symbol if self._unicode else ascii_symbol, f"bold {colour}" if self._styled() else ""
        )
        line.append(f" {message}")
        return line

    def _print_line(self, line: str) -> None:
        from rich.text import Text

        self._print(Text(line))

    def _print(self, text: Text) -> None:
        # soft_wrap: never break the code or a URL across lines (a broken URL cannot be copied
        # or clicked); the terminal wraps long lines itself. highlight=False: no auto-colouring
        # of URLs and numbers, which would also ignore our own no-colour decisions.
        self.console.print(text, soft_wrap=True, highlight=False)

    # -- spinner ----------------------------------------------------------------------------

    def _start_live(self, name: str) -> None:
        from rich.live import Live
        from rich.spinner import Spinner

        self._rich_spinner = Spinner(name, style="status.spinner" if self._styled() else None)
        # We refresh from our own thread (auto_refresh=False) so close() can join it: rich's
        # thread is only told to stop, and could outlive the prompt. stdout is never redirected:
        # when it is piped, rich would send the program's output to our stderr console.
        live = Live(
            console=self.console,
            get_renderable=self._waiting_renderable,
            auto_refresh=False,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=self.console.file is sys.stderr,
        )
        live.start(refresh=True)
        self._live = live
        self._stop_refreshing.clear()
        self._refresher = threading.Thread(
            target=self._refresh_loop, args=(live,), name="loctocat-spinner", daemon=True
        )
        self._refresher.start()

    def _waiting_renderable(self) -> RenderableType:
        # Called by rich under the Live's lock, from our refresh thread or from start/stop.
        spinner = self._rich_spinner
        if spinner is None:
            return ""
        spinner.update(text=self._waiting_text())
        return spinner

    def _refresh_loop(self, live: Live) -> None:
        while not self._stop_refreshing.wait(_REFRESH_SECONDS):
            try:
                live.refresh()
            except Exception:
                # A broken terminal must not kill the login; just stop animating.
                return

    def _stop_spinners(self) -> None:
        if self._user_spinner is not None and self._user_spinner_running:
            self._user_spinner_running = False
            self._user_spinner.stop()
        refresher, live = self._refresher, self._live
        self._refresher = self._live = None
        if refresher is not None:
            self._stop_refreshing.set()
            if refresher is not threading.current_thread():
                refresher.join()
        echo_off, self._echo_off = self._echo_off, None
        try:
            if live is not None:
                # Clears the spinner line (transient) and shows the cursor again.
                live.stop()
        finally:
            if echo_off is not None:
                echo_off.restore()


def prompt_from_options(
    *,
    use_default_message: bool = True,
    message: str | Callable[[LoctocatAuthInfo], str] | None = None,
    use_default_success_message: bool = True,
    success_message: str | None = None,
    use_default_spinner: bool = True,
    spinner: str | SpinnerLike | None = None,
    console: Console | None = None,
    open_browser: bool | None = None,
    qr: bool | None = None,
    copy_code: bool = False,
) -> TerminalPrompt:
    """Build the `TerminalPrompt` that loctocat 1.0's `authenticate()` keywords describe.

    - `message` (a string, or a function of the `LoctocatAuthInfo`) replaces the default text
      whenever it is non-empty; with no message, ``use_default_message=False`` shows nothing.
    - `success_message` likewise replaces "Authentication complete."; with none,
      ``use_default_success_message=False`` just stops the spinner.
    - `spinner` is a rich spinner name (``"dots"``, ``"line"``, ...) or an object with
      ``start()``/``stop()`` and optionally ``succeed(text)``/``fail(text)``, like the
      ``halo.Halo`` that 1.0 took. With none, ``use_default_spinner`` picks rich's ``"dots"``
      or no spinner at all.
    - `console` is where to print; stderr by default.
    - `open_browser`, `qr` and `copy_code` are passed on to `TerminalPrompt`, which describes
      them: "Press Enter to open" the page, a QR code of it, the code on the clipboard.

    Raises:
        ConfigurationError: `spinner` is an unknown name or not a spinner object.
    """
    if not message:
        message = None if use_default_message else ""
    if not success_message:
        success_message = None if use_default_success_message else ""
    if spinner is None or (isinstance(spinner, str) and not spinner):
        spinner = _DEFAULT_SPINNER if use_default_spinner else None
    return TerminalPrompt(
        console=console,
        message=message,
        success_message=success_message,
        spinner=spinner,
        open_browser=open_browser,
        qr=qr,
        copy_code=copy_code,
    )
