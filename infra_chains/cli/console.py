"""The CLI's consoles: results on stdout, everything else on stderr.

Written to a pipe or a file (CI logs, ``| grep``), rich would lay tables out for 80 columns and
cut a chainlet's URL short with an ellipsis; there, results get room for a whole row instead
(``COLUMNS`` still wins when set).
"""

import os
import sys

from rich.console import Console

#: Width of results written to something that is not a terminal.
PIPE_WIDTH = 200


def _results_width() -> int | None:
    if "COLUMNS" in os.environ or sys.stdout.isatty():
        return None  # rich's own choice: the terminal's width, or COLUMNS
    return PIPE_WIDTH


out_console = Console(highlight=False, soft_wrap=True, width=_results_width())
err_console = Console(stderr=True, highlight=False)
