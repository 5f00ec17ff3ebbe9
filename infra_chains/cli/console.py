"""The CLI's consoles: results on stdout, everything else on stderr."""

from rich.console import Console

out_console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False)
