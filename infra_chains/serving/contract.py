"""The runtime contract: the one document a target hands the serving runtime.

A target writes it (a JSON file whose path is in ``INFRA_CHAINS_RUNTIME``, or the JSON itself in
``INFRA_CHAINS_RUNTIME_JSON``); the runtime reads it; nothing else passes between them. Secret
*values* never appear here: only the directory holding one 0600 file per secret.
"""

from __future__ import annotations

import os
import pathlib
from typing import Any, Literal

import pydantic

from infra_chains.errors import ConfigError
from infra_chains.fetch.items import FetchItem
from infra_chains.public_types import ServiceDescriptor

CONTRACT_FILE_ENV = "INFRA_CHAINS_RUNTIME"
CONTRACT_JSON_ENV = "INFRA_CHAINS_RUNTIME_JSON"


class AssetMount(pydantic.BaseModel):
    """One asset fetched before ``__init__`` and the absolute path where the chainlet sees it."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    item: FetchItem
    path: pathlib.Path
    expose: Literal["file", "directory"] = pydantic.Field(
        description="`file`: `path` is the fetched file; `directory`: the item's cache directory.")


class RuntimeContract(pydantic.BaseModel):
    """Everything a serving process needs to load and serve one chainlet."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    chain_name: str = pydantic.Field(min_length=1)
    chainlet_name: str = pydantic.Field(min_length=1)
    import_path: str = pydantic.Field(
        # Module parts are file names (`my-chain:Entry` is `my-chain.py`), found by
        # `importlib.import_module` from workspace_dir; see framework/loading.py `module_name`.
        pattern=r"^[\w-]+(\.[\w-]+)*:[A-Za-z_][\w.]*$",
        description="`module:QualName` of the chainlet class, importable from `workspace_dir`.",
    )
    workspace_dir: pathlib.Path
    extra_python_paths: list[pathlib.Path] = pydantic.Field(default_factory=list)
    chainlet_to_service: dict[str, ServiceDescriptor] = pydantic.Field(default_factory=dict)
    user_env: dict[str, str] = pydantic.Field(default_factory=dict)
    env_variables: dict[str, str] = pydantic.Field(
        default_factory=dict, description="`ChainletOptions.env_variables`: set in the process "
        "environment by the runtime before the chainlet's module is imported (every target).")
    user_config: dict[str, Any] | None = None
    environment: str | None = None
    data_dir: pathlib.Path | None = None
    secrets_dir: pathlib.Path | None = None
    # -- assets (docs/assets.md): fetched into the cache, then visible at each mount's path ------
    assets: list[AssetMount] = pydantic.Field(default_factory=list)
    asset_cache_dir: pathlib.Path | None = pydantic.Field(
        default=None, description="The fetcher's cache (shared by chains on one machine or volume).")
    assets_in_place: bool = pydantic.Field(
        default=False, description="The target fetched the assets and mounted each at its path "
        "(Kubernetes' init container, docker's fetch container): the runtime only checks them.")
    image_data_dir: pathlib.Path | None = pydantic.Field(
        default=None, description="Set when `data_dir` is a directory of its own holding assets: "
        "the chainlet's shipped data (DockerImage.data_dir), linked into `data_dir` beside them.")
    model_cache_dir: pathlib.Path | None = pydantic.Field(
        default=None, description="Where ModelRepo assets appear (`<dir>/<volume_folder>`); "
        "exported to the chainlet as $INFRA_CHAINS_MODEL_CACHE_DIR.")
    host: str = "127.0.0.1"
    port: int = pydantic.Field(ge=0, le=65535)
    predict_concurrency: int = pydantic.Field(default=1, ge=1)
    max_queued_requests: int = pydantic.Field(
        default=1024, ge=0, description="Requests waiting beyond predict_concurrency before 503."
    )
    max_request_bytes: int = pydantic.Field(default=128 * 1024 * 1024, ge=1024)
    graceful_shutdown_sec: float = pydantic.Field(default=30.0, ge=0)
    log_level: str = "INFO"
    # -- who may call, and how much a caller may hold (issue 13 items 8 and 9) ----------------
    entrypoint: bool = pydantic.Field(
        default=False, description="This chainlet is the chain's entrypoint: called from outside "
        "the chain (with `api_key_file`'s key when set), not with the chain token.")
    chain_token_file: pathlib.Path | None = pydantic.Field(
        default=None, description="File (0600) holding the chain's shared token. Stubs send it to "
        "their dependencies; a chainlet that is not the `entrypoint` then accepts /run_remote "
        "only with it. None: no token (any caller that reaches the port).")
    api_key_file: pathlib.Path | None = pydantic.Field(
        default=None, description="File holding the API key the entrypoint requires "
        "(`Authorization: Api-Key <key>`). None: no key required.")
    allowed_hosts: list[str] | None = pydantic.Field(
        default=None, description="Host header values /run_remote accepts: `name` (any port) or "
        "`name:port`, e.g. `127.0.0.1:8000`; a web page reached through another name (DNS "
        "rebinding) is refused. None: any host.")
    request_memory_bytes: int = pydantic.Field(
        default=256 * 1024 * 1024, ge=1024, description="Request bodies held by this process at "
        "once (all requests together; raised to max_request_bytes if below). Beyond it a request "
        "waits up to `request_memory_wait_sec`, then gets 503.")
    request_memory_wait_sec: float = pydantic.Field(default=2.0, ge=0)
    header_timeout_sec: float = pydantic.Field(
        default=5.0, gt=0, description="A request's headers must arrive within this time.")
    body_timeout_sec: float = pydantic.Field(
        default=5.0, gt=0, description="Longest pause while a request body arrives.")
    instance_id: str | None = pydantic.Field(
        default=None,
        description="A nonce naming this incarnation (process, container or deploy); `/readyz` and "
        "`/healthz` echo it in `x-infra-chains-instance`, so a probe never counts another program "
        "on the port as this chainlet.",
    )
    liveness_budget_sec: float | None = pydantic.Field(
        default=None, gt=0,
        description="About how long this process's event loop may leave `/healthz` unanswered "
        "before the target restarts it (from the chainlet's `health_checks`); None: not known. "
        "The runtime names it when warning of a blocking call on the event loop.",
    )
    listen_fd: int | None = pydantic.Field(
        default=None, ge=0,
        description="An inherited, already listening socket to serve traffic on instead of binding "
        "host:port (the target owns it across incarnations, so connections wait in its backlog "
        "while a chainlet restarts). With `probe_fd`, accepted on only once `__init__` is done.",
    )
    probe_fd: int | None = pydantic.Field(
        default=None, ge=0,
        description="An inherited, listening socket private to this incarnation: served from the "
        "start, for the target's readiness and liveness probes.",
    )

    @classmethod
    def from_environment(cls, environ: os._Environ[str] | dict[str, str] | None = None) -> RuntimeContract:
        """Read the contract from the file or inline JSON named by the environment."""
        environ = os.environ if environ is None else environ
        if inline := environ.get(CONTRACT_JSON_ENV):
            return cls.parse(inline, source=f"${CONTRACT_JSON_ENV}")
        path = environ.get(CONTRACT_FILE_ENV)
        if not path:
            raise ConfigError(
                f"No runtime contract: set {CONTRACT_FILE_ENV} to the path of a contract JSON "
                f"file (or {CONTRACT_JSON_ENV} to the JSON itself)."
            )
        return cls.read(pathlib.Path(path))

    @classmethod
    def read(cls, path: pathlib.Path) -> RuntimeContract:
        try:
            text = path.read_text()
        except OSError as exc:
            raise ConfigError(f"Cannot read runtime contract {path}: {exc.strerror}.") from exc
        return cls.parse(text, source=str(path))

    @classmethod
    def parse(cls, text: str, *, source: str) -> RuntimeContract:
        try:
            return cls.model_validate_json(text)
        except pydantic.ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or '(document)'}: {err['msg']}"
                for err in exc.errors()
            )
            raise ConfigError(f"Invalid runtime contract {source}: {problems}.") from exc

    def write(self, path: pathlib.Path) -> None:
        """Write atomically, so a process starting meanwhile never reads half a file."""
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(self.model_dump_json(indent=2))
        os.replace(tmp, path)

    def read_chain_token(self) -> str | None:
        """The chain's shared token (`chain_token_file`), or None when the chain has none."""
        return _read_credential(self.chain_token_file, "chain_token_file", self.chainlet_name)

    def read_api_key(self) -> str | None:
        """The API key the entrypoint requires (`api_key_file`), or None."""
        return _read_credential(self.api_key_file, "api_key_file", self.chainlet_name)

    def read_secrets(self) -> dict[str, str]:
        """Secret values from ``secrets_dir`` (one file per secret, named after its key)."""
        if self.secrets_dir is None:
            return {}
        if not self.secrets_dir.is_dir():
            raise ConfigError(f"secrets_dir {self.secrets_dir} of chainlet "
                              f"{self.chainlet_name!r} does not exist.")
        return {p.name: p.read_text() for p in sorted(self.secrets_dir.iterdir()) if p.is_file()}


def _read_credential(path: pathlib.Path | None, field: str, chainlet: str) -> str | None:
    if path is None:
        return None
    try:
        value = path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"Cannot read {field} {path} of chainlet {chainlet!r}: {exc.strerror}. "
                          "The target writes it; push again to restore it.") from exc
    if not value:
        raise ConfigError(f"{field} {path} of chainlet {chainlet!r} is empty.")
    return value
