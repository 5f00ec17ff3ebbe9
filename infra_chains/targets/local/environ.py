"""The environment a chain's supervisor (and so each chainlet) starts with: an allow-list.

Push runs in a developer's shell, which holds cloud credentials, tokens and whatever else was
exported there (``AWS_SECRET_ACCESS_KEY``, ``GITHUB_TOKEN``...). None of it may leak into a
chainlet: a chainlet gets its configuration from the runtime contract (``user_env``) and its
secrets from its own secrets directory, as in every other target, where a container starts with
an empty environment. So the supervisor is spawned with only these variables, and chainlets
inherit the supervisor's:

- ``PATH``, ``HOME``, ``USER``, ``LOGNAME``, ``SHELL``, ``LANG``, ``LANGUAGE``, ``LC_*``, ``TZ``,
  ``TMPDIR``, ``TERM``: what a process needs to find programs, its home, its locale and clock;
- ``PYTHON*`` (``PYTHONPATH``, ``PYTHONHASHSEED``...): how the interpreter behaves;
- ``INFRA_CHAINS_*``: this library's own settings (state root, transport choice...);
- ``LD_LIBRARY_PATH``, ``CUDA_VISIBLE_DEVICES``, ``SSL_CERT_FILE``, ``SSL_CERT_DIR``: what an
  interpreter or a GPU library needs to load, and which certificates to trust;
- every name listed, comma-separated, in ``INFRA_CHAINS_PASS_ENV`` (an explicit opt-in, e.g.
  ``INFRA_CHAINS_PASS_ENV=HF_HOME,HTTPS_PROXY``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

#: Variables passed by exact name.
ALLOWED_NAMES = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TERM",
    "LD_LIBRARY_PATH", "CUDA_VISIBLE_DEVICES", "SSL_CERT_FILE", "SSL_CERT_DIR",
})
#: Variables passed by prefix.
ALLOWED_PREFIXES = ("LC_", "PYTHON", "INFRA_CHAINS_")
#: Comma-separated extra names the user opts in to pass.
PASS_ENV = "INFRA_CHAINS_PASS_ENV"


def allowed(name: str, extra: frozenset[str] = frozenset()) -> bool:
    return name in ALLOWED_NAMES or name in extra or name.startswith(ALLOWED_PREFIXES)


def supervisor_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The allow-listed part of ``environ`` (default: this process's environment)."""
    source = os.environ if environ is None else environ
    extra = frozenset(n.strip() for n in source.get(PASS_ENV, "").split(",") if n.strip())
    return {name: value for name, value in source.items() if allowed(name, extra)}
