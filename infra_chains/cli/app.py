"""The `infra-chains` command: one module per command, joined here.

Results go to stdout; progress, warnings and errors to stderr. Exit codes: 0 success, 1 the
operation failed, 2 bad usage (a chain definition or argument to fix).
"""

from __future__ import annotations

import logging
import sys

import typer
from rich.markup import escape

from infra_chains.cli import down, logs, push, run, serve, status
from infra_chains.cli.console import err_console
from infra_chains.errors import ChainsError, ChainsUsageError

app = typer.Typer(
    name="infra-chains",
    help="Deploy truss-chains style chains to infrastructure you own.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("push")(push.push)
app.command("run")(run.run)
app.command("status")(status.status)
app.command("logs")(logs.logs)
app.command("down")(down.down)
app.command("serve-chainlet")(serve.serve_chainlet)


@app.callback()
def _options(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks and debug logs."),
) -> None:
    state.debug = debug
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, stream=sys.stderr)


class _State:
    debug = False


state = _State()


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point: library errors become a short message and an exit code."""
    try:
        app(args=argv, standalone_mode=False)
    except ChainsError as exc:
        if state.debug:
            err_console.print_exception()
        err_console.print(f"[bold red]Error:[/] {escape(str(exc))}", highlight=False)
        return 2 if isinstance(exc, ChainsUsageError) else 1
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        err_console.print("Aborted.")
        return 1
    except Exception as exc:  # click's usage errors and the like
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            return exc.exit_code
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
