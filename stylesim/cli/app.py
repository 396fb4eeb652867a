"""The typer application every command registers on, and how the command line fails: every
error is one line on stderr in our words, with an exit status (see ``stylesim.cli``)."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Sequence
from typing import Annotated, ParamSpec, TypeVar

import typer
from rich.console import Console

from stylesim import __version__
from stylesim.errors import StylesimError, UsageError

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_SKIPPED = 3
EXIT_INTERRUPTED = 130

app = typer.Typer(
    add_completion=False,
    rich_markup_mode=None,  # plain Click help: paragraphs re-wrapped at word boundaries
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    help="Find images that look alike (style) separately from images that show the same thing "
    "(content), and restyle pictures in the styles found.",
)
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)  # file names print as they are

P = ParamSpec("P")
R = TypeVar("R")


def _show_version(value: bool) -> None:
    if value:
        sys.stdout.write(f"stylesim {__version__}\n")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Find images that look alike (style) separately from images that show the same thing
    (content), and restyle pictures in the styles found.

    Start with: stylesim index FOLDER, then stylesim search IMAGE --by style (or --by content).
    """


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Every error becomes one line on stderr and an exit status (1 unless the error says
    otherwise): ours as they are, the operating system's naming the file, any other library's
    in one line (``STYLESIM_DEBUG=1`` shows its traceback)."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as error:  # noqa: BLE001 - the one place every failure is put in words
            if os.environ.get("STYLESIM_DEBUG") and not isinstance(error, StylesimError):
                raise
            err.print(f"stylesim: error: {error_line(error)}", markup=False)
            raise typer.Exit(getattr(error, "exit_code", EXIT_ERROR)) from None

    return wrapper


def error_line(error: Exception) -> str:
    """One line naming what went wrong, in our words."""
    if isinstance(error, StylesimError):
        return str(error)
    if isinstance(error, OSError):
        where = error.filename or "a file"
        what = (error.strerror or str(error)).lower()
        return f"{where}: {what}"
    first = (str(error).strip().splitlines() or [""])[0]
    return f"unexpected {type(error).__name__} ({first[:200]}); run with STYLESIM_DEBUG=1 to see where"


def choice(value: str, allowed: Sequence[str], option: str) -> str:
    """``value`` if it is one of ``allowed``; UsageError naming it and the choices otherwise."""
    if value not in allowed:
        raise UsageError(f"{option} {value!r}: use one of {', '.join(allowed)}")
    return value


def at_least(value: float, minimum: float, option: str, maximum: float | None = None) -> None:
    """UsageError unless minimum <= value (<= maximum)."""
    if value < minimum or (maximum is not None and value > maximum):
        allowed = f"between {minimum:g} and {maximum:g}" if maximum is not None else f"{minimum:g} or more"
        raise UsageError(f"{option} {value:g}: give a number {allowed}")


def main(argv: Sequence[str] | None = None) -> None:
    """The ``stylesim`` entry point: usage errors in one line (exit 2), help with no arguments."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        args = ["--help"]
    try:
        code = app(args=args, prog_name="stylesim", standalone_mode=False)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(EXIT_INTERRUPTED)
    except Exception as error:  # noqa: BLE001 - Click's usage errors (typer vendors Click privately)
        if not hasattr(error, "format_message"):
            raise
        sys.exit(_usage_error(error))
    sys.exit(code if isinstance(code, int) else 0)


def _usage_error(error: Exception) -> int:
    """Print Click's usage error as one line with where to look, and return its exit status."""
    context = getattr(error, "ctx", None)
    command = context.command_path if context is not None else "stylesim"
    message = error.format_message()  # type: ignore[attr-defined]  # a Click exception
    err.print(f"{command}: {message[:1].lower()}{message[1:]} (see {command} --help)", markup=False)
    return int(getattr(error, "exit_code", EXIT_USAGE))
