"""The `infra-chains` command: one module per command, joined here.

Results go to stdout; progress, warnings and errors to stderr. Exit codes: 0 success, 1 the
operation failed, 2 bad usage (a chain definition or argument to fix).
"""

from __future__ import annotations

import importlib
import logging
import sys

import typer
from rich.markup import escape

from infra_chains.cli import down, init, logs, preview, push, run, serve, status, watch
from infra_chains.cli.assignments import SECRETS_HINT
from infra_chains.cli.console import err_console
from infra_chains.errors import ChainsError, ChainsUsageError
from infra_chains.framework.loading import NoEntrypointError
from infra_chains.targets.secrets import MissingSecretsError

app = typer.Typer(
    name="infra-chains",
    help="Deploy truss-chains style chains to infrastructure you own.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("push")(push.push)
app.command("preview")(preview.preview)
app.command("run")(run.run)
app.command("status")(status.status)
app.command("logs")(logs.logs)
app.command("down")(down.down)
app.command("watch")(watch.watch)
app.command("init")(init.init)
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


def _click_exception_types() -> tuple[type[Exception], ...]:
    """click's exception base as Typer raises it: its vendored copy (Typer ≥ 0.2x ships
    ``typer._click``) and/or the separate ``click`` package (older Typer), whichever exist."""
    found: list[type[Exception]] = []
    for module in ("typer._click.exceptions", "click.exceptions"):
        try:
            found.append(getattr(importlib.import_module(module), "ClickException"))
        except (ImportError, AttributeError):
            continue
    return tuple(found)


def _exit_types(name: str) -> tuple[type[BaseException], ...]:
    """Typer's own ``Exit``/``Abort`` and click's (older Typer re-exports click's)."""
    found: list[type[BaseException]] = [getattr(typer, name)]
    for module in ("typer._click.exceptions", "click.exceptions"):
        try:
            found.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            continue
    return tuple(found)


def in_cli_terms(error: ChainsError) -> ChainsError:
    """``error`` with the fix said in the CLI's words: library errors name arguments (the
    library never speaks of options), and this is where the CLI puts its option names in."""
    if isinstance(error, NoEntrypointError):
        return error.with_hint("name it with --entrypoint")
    if isinstance(error, MissingSecretsError):
        return error.with_hint(SECRETS_HINT)
    return error


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point: library errors become a short message and an exit code.

    Exit codes: 0 success, 1 the operation failed, 2 bad usage (click's usage errors included).
    """
    try:
        result = app(args=argv, prog_name="infra-chains", standalone_mode=False)
    except ChainsError as error:
        if state.debug:
            err_console.print_exception()
        exc = in_cli_terms(error)
        err_console.print(f"[bold red]Error:[/] {escape(str(exc))}", highlight=False)
        return 2 if isinstance(exc, ChainsUsageError) else 1
    except _click_exception_types() as exc:  # unknown option or command, bad value, ...
        exc.show()  # type: ignore[attr-defined]
        code: int = getattr(exc, "exit_code", 2)
        return code
    except _exit_types("Exit") as exc:
        exit_code: int = getattr(exc, "exit_code", 0)
        return exit_code
    except _exit_types("Abort"):
        err_console.print("Aborted.")
        return 1
    except KeyboardInterrupt:
        return 130
    # Without standalone mode, Typer returns an `Exit`'s code (e.g. after --help) as the result.
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
