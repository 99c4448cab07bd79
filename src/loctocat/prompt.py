"""What the user sees during `authenticate()`: the code to enter, a spinner, and the outcome.

`authenticate()` talks to the user only through a `Prompt`. The default, `TerminalPrompt`,
prints to stderr (stdout stays free for your program's output)::

    ! First copy your one-time code: WDJB-MJHT
    Open https://example.com/device in your browser and enter the code.
    ⠋ Waiting for you to approve in the browser… (expires in 14:59)
    ✓ Authentication complete.

On a terminal the spinner animates and counts down. Anywhere else (CI, pipes, a redirected
stderr, ``TERM=dumb``) the same lines are printed once as plain text, with no control codes.
``NO_COLOR`` turns off colour and bold; ``FORCE_COLOR`` and rich's other variables work as usual.

To change the wording, pass options (the loctocat 1.0 keywords, see `prompt_from_options`) or a
`TerminalPrompt`; to show the code somewhere else entirely (a GUI, a log), pass any object with
the five `Prompt` methods.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from loctocat._models import LoctocatAuthInfo, Token
from loctocat.errors import AccessDenied, ConfigurationError, ExpiredToken

if TYPE_CHECKING:
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
    # Error messages may span lines (e.g. server descriptions); the failure line must not.
    text = " ".join(str(error).split())
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


def _can_encode(console: Console, text: str) -> bool:
    """Whether the console's stream can write `text` (not so with PYTHONIOENCODING=ascii)."""
    try:
        text.encode(console.encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


class TerminalPrompt:
    """The default `Prompt`: prints the code, a spinner and the outcome to a rich console.

    Args:
        console: where to print; by default a `rich.console.Console(stderr=True)`. Whether it
            animates and uses colour follows the console (`is_terminal`, ``TERM=dumb``,
            ``NO_COLOR``, ``FORCE_COLOR``), so pass ``Console(force_terminal=...)`` to override.
        message: the text shown with the code: a string (printed as-is, no markup), or a
            function given the `LoctocatAuthInfo` that returns it. ``None`` shows the default
            text; ``""`` shows nothing.
        success_message: the text after ``✓`` once a token arrives. ``None`` shows
            "Authentication complete."; ``""`` shows nothing.
        spinner: a rich spinner name (``python -m rich.spinner`` lists them), your own
            `SpinnerLike` object (e.g. a ``halo.Halo``), or ``None`` for no waiting indicator.

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
    ) -> None:
        from rich.console import Console

        self._console = console if console is not None else Console(stderr=True)
        self._message = message
        self._success_message = success_message
        self._unicode = _can_encode(self._console, "✓✗…")
        self._spinner_name: str | None = None
        self._user_spinner: SpinnerLike | None = None
        if isinstance(spinner, str):
            self._spinner_name = self._checked_spinner_name(spinner)
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

    @property
    def console(self) -> Console:
        """The rich console this prompt prints to."""
        return self._console

    def show_code(self, auth_info: LoctocatAuthInfo) -> None:
        """Print where to go and the code to enter (or the custom `message`)."""
        with self._lock:
            self._auth_info = auth_info
            text = self._code_text(auth_info)
            if text is not None:
                self._print(text)

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
                    self._start_live(self._spinner_name)
                else:
                    self._print(self._waiting_text())

    def succeeded(self, token: Token) -> None:
        """Stop the spinner and print the success line (unless `success_message` is ``""``)."""
        with self._lock:
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
        """Stop any spinner and its thread and show the cursor again. Safe to call repeatedly."""
        with self._lock:
            self._stop_spinners()

    # -- text -------------------------------------------------------------------------------

    def _styled(self) -> bool:
        # Colour and bold only on a real terminal that allows them: rich drops colours for
        # NO_COLOR itself but keeps bold, and NO_COLOR users expect plain text.
        console = self._console
        return console.is_terminal and console.color_system is not None and not console.no_color

    def _animates(self) -> bool:
        # is_interactive already folds in TERM=dumb and TTY_INTERACTIVE; is_terminal is checked
        # too so that forcing interactivity never sends cursor codes into a file or pipe.
        console = self._console
        return console.is_interactive and console.is_terminal and not console.is_dumb_terminal

    def _code_text(self, auth_info: LoctocatAuthInfo) -> Text | None:
        from rich.text import Text

        if self._message is None:
            return self._default_code_text(auth_info)
        custom = self._message(auth_info) if callable(self._message) else self._message
        return Text(custom) if custom else None

    def _default_code_text(self, auth_info: LoctocatAuthInfo) -> Text:
        from rich.text import Text

        styled = self._styled()
        text = Text()
        text.append("!", style="bold yellow" if styled else "")
        text.append(" First copy your one-time code: ")
        text.append(auth_info.user_code, style="bold" if styled else "")
        text.append(f"\nOpen {auth_info.verification_uri} in your browser and enter the code.")
        # Microsoft-style `message` fields are left out on purpose: they repeat this, less clearly.
        if auth_info.verification_uri_complete:
            text.append(f"\nOr open {auth_info.verification_uri_complete} to skip typing it.")
        return text

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

    def _print(self, text: Text) -> None:
        # soft_wrap: never break the code or a URL across lines (a broken URL cannot be copied
        # or clicked); the terminal wraps long lines itself. highlight=False: no auto-colouring
        # of URLs and numbers, which would also ignore our own no-colour decisions.
        self._console.print(text, soft_wrap=True, highlight=False)

    # -- spinner ----------------------------------------------------------------------------

    def _checked_spinner_name(self, name: str) -> str:
        from rich.spinner import Spinner

        try:
            frames = "".join(Spinner(name).frames)
        except KeyError:
            raise ConfigurationError(
                f"unknown spinner {name!r}: use a rich spinner name such as "
                f"{', '.join(repr(n) for n in _SUGGESTED_SPINNERS)} "
                "(`python -m rich.spinner` shows them all)"
            ) from None
        # A stream that cannot encode the frames would make rich raise mid-flow; fall back.
        return name if _can_encode(self._console, frames) else "line"

    def _start_live(self, name: str) -> None:
        from rich.live import Live
        from rich.spinner import Spinner

        self._rich_spinner = Spinner(name, style="status.spinner" if self._styled() else None)
        # We refresh from our own thread (auto_refresh=False) so close() can join it: rich's
        # thread is only told to stop, and could outlive the prompt. stdout is never redirected:
        # when it is piped, rich would send the program's output to our stderr console.
        live = Live(
            console=self._console,
            get_renderable=self._waiting_renderable,
            auto_refresh=False,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=self._console.file is sys.stderr,
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
        if live is not None:
            # Clears the spinner line (transient) and shows the cursor again.
            live.stop()


def prompt_from_options(
    *,
    use_default_message: bool = True,
    message: str | Callable[[LoctocatAuthInfo], str] | None = None,
    use_default_success_message: bool = True,
    success_message: str | None = None,
    use_default_spinner: bool = True,
    spinner: str | SpinnerLike | None = None,
    console: Console | None = None,
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
        console=console, message=message, success_message=success_message, spinner=spinner
    )
