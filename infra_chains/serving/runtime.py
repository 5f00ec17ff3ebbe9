"""Load a chainlet from its runtime contract and serve it: the body of ``python -m infra_chains.serve``.

Order matters: the HTTP server starts *before* ``__init__`` runs (in a thread), so ``/healthz``
answers during a slow init (model download, warm-up) while ``/readyz`` says 503 until it is done;
probes and the local supervisor tell "starting" from "dead" that way. A failing ``__init__``
stops the process with exit code 1.

SIGTERM (and SIGINT) shut down gracefully: the server stops accepting, answers every request
with ``Connection: close``, closes a keep-alive connection only once it was told so or has been
idle `drain.DRAIN_IDLE_SEC`, lets in-flight requests finish, all within ``graceful_shutdown_sec``,
and the process exits 0.

Sockets a target owns (``listen_fd``, ``probe_fd`` in the contract; see docs/architecture.md,
"Supervision, readiness, drain, identity"): with a private probe socket, the process answers
probes there from the start and begins accepting on the shared traffic socket only once
``__init__`` is done, so a new incarnation started beside a serving one takes no request before
it can answer it. On SIGTERM it stops accepting on the shared socket (whose backlog then waits for
the next incarnation) and drains what it accepted.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import math
import os
import signal
import socket
import sys
import threading
import time
from types import FrameType
from typing import Any

import pydantic
import uvicorn

from infra_chains.errors import ChainsUsageError, ConfigError
from infra_chains.framework.chainlet import (
    ChainletBase,
    construct,
    definition_of,
    new_instance,
)
from infra_chains.framework.definition import ChainletDefinition
from infra_chains.public_types import DeploymentContext, Environment
from infra_chains.serving import drain, http_protocol, transport, websocket
from infra_chains.fetch.errors import AssetFetchError
from infra_chains.serving.app import ChainletApp
from infra_chains.serving.assets import place_assets
from infra_chains.serving.contract import RuntimeContract
from infra_chains.serving.endpoint import EndpointCodec
from infra_chains.serving.stub import make_chainlet_stub

logger = logging.getLogger(__name__)

#: Server keep-alive; above the client idle timeout (`transport.CLIENT_IDLE_SEC`), so a pooled
#: client connection is dropped by the client before the server closes it (PERF.md).
SERVER_KEEP_ALIVE_SEC = 15
_WEBSOCKET_PROTOCOL = "infra_chains.serving.websocket_protocol:RefusableWebSocketProtocol"


def load_chainlet_class(contract: RuntimeContract) -> type[ChainletBase]:
    """Import ``contract.import_path`` with the workspace (and extra paths) on ``sys.path``."""
    for path in reversed([contract.workspace_dir, *contract.extra_python_paths]):
        entry = str(path)
        if entry not in sys.path:
            sys.path.insert(0, entry)
    module_name, _, qualname = contract.import_path.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module_name.startswith(exc.name):
            raise ConfigError(
                f"import_path {contract.import_path!r} of chainlet {contract.chainlet_name!r}: "
                f"module {exc.name!r} not found under workspace_dir {contract.workspace_dir}. "
                "The path is relative to workspace_dir (`package.module:Class`)."
            ) from exc
        raise
    for part in qualname.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ConfigError(
                f"import_path {contract.import_path!r} of chainlet {contract.chainlet_name!r}: "
                f"module {module_name!r} has no attribute {part!r}."
            ) from None
    if not (isinstance(obj, type) and issubclass(obj, ChainletBase)):
        raise ConfigError(
            f"import_path {contract.import_path!r} names {obj!r}, not a chainlet class "
            "(a chains.ChainletBase subclass)."
        )
    return obj


def build_context(contract: RuntimeContract, definition: ChainletDefinition) -> DeploymentContext[Any]:
    """The ``DeploymentContext`` from the contract: secrets from files, user_config validated."""
    user_config: Any = contract.user_config
    default = definition.default_user_config
    if default is not None:
        overrides = contract.user_config or {}
        try:
            user_config = type(default).model_validate({**default.model_dump(), **overrides})
        except pydantic.ValidationError as exc:
            problems = "; ".join(
                f"user_config.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
                for err in exc.errors(include_url=False)
            )
            raise ConfigError(
                f"user_config of chainlet {contract.chainlet_name!r} does not fit "
                f"{type(default).__name__}: {problems}."
            ) from exc
    return DeploymentContext[Any](
        data_dir=contract.data_dir,
        user_config=user_config,
        chainlet_to_service=contract.chainlet_to_service,
        secrets=contract.read_secrets(),
        user_env=contract.user_env,
        environment=Environment(name=contract.environment) if contract.environment else None,
    )


def build_init_kwargs(
    contract: RuntimeContract, definition: ChainletDefinition, context: DeploymentContext[Any]
) -> dict[str, Any]:
    """``__init__`` arguments: a typed stub per dependency, and the context."""
    kwargs: dict[str, Any] = {}
    services = contract.chainlet_to_service
    chain_token = contract.read_chain_token()
    for dependency in definition.dependencies:
        if not dependency.is_chainlet:
            # A StubBase dependency: injected if the contract names a service for its class,
            # otherwise the user builds it from the context (`MyStub.from_url(...)`).
            descriptor = services.get(dependency.chainlet_cls.__name__)
            if descriptor is not None:
                kwargs[dependency.arg_name] = dependency.chainlet_cls(descriptor)
            continue
        dep_definition = definition_of(dependency.chainlet_cls)
        descriptor = services.get(dep_definition.name)
        if descriptor is None:
            known = ", ".join(sorted(services)) or "none"
            raise ConfigError(
                f"Chainlet {definition.name!r} depends on {dep_definition.name!r} (argument "
                f"`{dependency.arg_name}`), but the runtime contract's chainlet_to_service has no "
                f"entry {dep_definition.name!r} (it has: {known}). The target must list every "
                "dependency with its URL."
            )
        kwargs[dependency.arg_name] = make_chainlet_stub(
            dep_definition, descriptor, caller_is_async=definition.endpoint.is_async,
            caller=definition.name, chain_token=chain_token,
            liveness_budget_sec=contract.liveness_budget_sec,
        )
    if definition.context_arg is not None:
        kwargs[definition.context_arg] = context
    return kwargs


class _Server(uvicorn.Server):
    """uvicorn's server with a drain that resets no keep-alive client (`drain.py`)."""

    def __init__(self, config: uvicorn.Config, app: ChainletApp, grace_sec: float) -> None:
        super().__init__(config)
        self._app = app
        self._grace_sec = grace_sec
        self._loop: asyncio.AbstractEventLoop | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """Stop accepting at once, not at uvicorn's next tick (up to 0.1 s later): a connection
        opened after SIGTERM belongs to the incarnation that replaces this one."""
        super().handle_exit(sig, frame)
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._stop_accepting)

    def _stop_accepting(self) -> None:
        for listener in self.servers:
            listener.close()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().startup(sockets=sockets)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self._stop_accepting()
        self._app.closing = True  # every response now says `Connection: close`
        # A websocket session never turns idle, so the drain would wait out the grace period for
        # it: its client is told now instead (1012, service restart) and reconnects to the next.
        websocket_protocol = self.config.ws_protocol_class
        if websocket_protocol is not None:
            for connection in list(self.server_state.connections):
                if isinstance(connection, websocket_protocol):
                    connection.shutdown()
        loop = asyncio.get_running_loop()
        started = loop.time()
        await drain.drain_connections(
            self.server_state.connections, self._grace_sec, lambda: self.force_exit
        )
        if self._grace_sec:  # what is left of the grace period, for requests still running
            remaining = self._grace_sec - (loop.time() - started)
            self.config.timeout_graceful_shutdown = max(1, math.ceil(remaining))
        await super().shutdown(sockets=sockets)


class _Runtime:
    """One serving process: the app, the uvicorn server and the ``__init__`` thread."""

    def __init__(self, contract: RuntimeContract) -> None:
        self.contract = contract
        cls = load_chainlet_class(contract)
        try:
            self.definition = definition_of(cls)
        except ChainsUsageError as exc:
            raise ConfigError(f"Chainlet class {contract.import_path!r} is invalid: {exc}") from exc
        self.context = build_context(contract, self.definition)
        self.init_kwargs = build_init_kwargs(contract, self.definition, self.context)
        self.app = ChainletApp(
            chain_name=contract.chain_name,
            chainlet_name=contract.chainlet_name,
            endpoint=EndpointCodec(self.definition),
            predict_concurrency=contract.predict_concurrency,
            max_queued_requests=contract.max_queued_requests,
            max_request_bytes=contract.max_request_bytes,
            on_shutdown=transport.aclose_defaults,
            instance_id=contract.instance_id,
            # Only chainlets behind the entrypoint require the chain token (from their chain).
            chain_token=None if contract.entrypoint else contract.read_chain_token(),
            api_key=contract.read_api_key() if contract.entrypoint else None,
            allowed_hosts=contract.allowed_hosts,
            request_memory_bytes=contract.request_memory_bytes,
            request_memory_wait_sec=contract.request_memory_wait_sec,
        )
        ping_interval, ping_timeout = websocket.ping_settings(self.definition.remote_config.options)
        config = uvicorn.Config(
            self.app, host=contract.host, port=contract.port, loop="uvloop",
            http=http_protocol.protocol_class(contract.header_timeout_sec, contract.body_timeout_sec),
            # Websockets only where run_remote serves one (`websocket.py`), with uvicorn's sans-I/O
            # protocol (`websocket_protocol.py`); a message may be as big as a request body.
            ws=_WEBSOCKET_PROTOCOL if self.definition.endpoint.is_websocket else "none",
            ws_max_size=contract.max_request_bytes,
            ws_ping_interval=ping_interval, ws_ping_timeout=ping_timeout,
            lifespan="on", access_log=False, log_config=None,
            timeout_keep_alive=SERVER_KEEP_ALIVE_SEC,
            timeout_graceful_shutdown=math.ceil(contract.graceful_shutdown_sec) or None,
            server_header=False, date_header=False,
        )
        self.server = _Server(config, self.app, contract.graceful_shutdown_sec)
        self.exit_code = 0
        if contract.probe_fd is not None and contract.listen_fd is None:
            raise ConfigError("The runtime contract sets probe_fd but not listen_fd: a private probe "
                              "socket holds traffic back until __init__ is done, so the traffic "
                              "socket must be inherited too. Set listen_fd, or neither.")
        traffic = _inherited(contract.listen_fd)
        probes = _inherited(contract.probe_fd)
        # Serve probes at once; hold traffic back until __init__ is done when probes have a
        # socket of their own (otherwise the traffic socket answers 503 "initialising" meanwhile).
        self._sockets = [s for s in (probes or traffic,) if s is not None] or None
        self._deferred_traffic = traffic if probes is not None else None

    def run(self) -> int:
        # uvicorn re-raises a captured SIGTERM after shutting down, with the previous handler
        # in place; a Python handler here turns that into a normal return (exit 0), and covers a
        # signal arriving before uvicorn installs its own.
        def on_signal(signum: int, frame: object) -> None:
            self.server.should_exit = True

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        uvloop_run = _uvloop_run()
        uvloop_run(self._main())
        return self.exit_code

    async def _main(self) -> None:
        serving = asyncio.ensure_future(self.server.serve(sockets=self._sockets))
        while not self.server.started and not serving.done():
            await asyncio.sleep(0.005)
        if serving.done():  # could not bind, or a lifespan failure: uvicorn has logged why
            serving.result()
            self.exit_code = 1
            return
        port = self.contract.port or self.server.servers[0].sockets[0].getsockname()[1]
        logger.info("chainlet %s (chain %s) %s http://%s:%d, running __init__",
                    self.contract.chainlet_name, self.contract.chain_name,
                    "will serve" if self._deferred_traffic else "listening on",
                    self.contract.host, port)
        loop = asyncio.get_running_loop()
        started = time.monotonic()

        def init() -> None:
            try:
                # Assets first (serving/assets.py): /readyz says 503 meanwhile; a failure is one
                # line naming the asset and what its source answered, then exit 1.
                place_assets(self.contract)
            except AssetFetchError as exc:
                logger.error("chainlet %s not ready: %s; exiting", self.contract.chainlet_name, exc)
                loop.call_soon_threadsafe(self._fail)
                return
            try:
                instance = construct(new_instance(self.definition.cls), self.init_kwargs)
            except BaseException:
                logger.exception("__init__ of chainlet %s failed; exiting", self.contract.chainlet_name)
                loop.call_soon_threadsafe(self._fail)
                return
            loop.call_soon_threadsafe(self._ready, instance, started)

        # A daemon thread: a SIGTERM during a slow __init__ must not wait for it to finish.
        threading.Thread(target=init, name="chainlet-init", daemon=True).start()
        await serving
        logger.info("chainlet %s stopped", self.contract.chainlet_name)

    def _ready(self, instance: Any, started: float) -> None:
        self.app.set_ready(instance, self.definition.health_check_is_async)
        if self._deferred_traffic is not None:
            asyncio.ensure_future(self._accept_traffic(self._deferred_traffic))
        logger.info("chainlet %s ready (__init__ took %.2f s)", self.contract.chainlet_name,
                    time.monotonic() - started)

    async def _accept_traffic(self, sock: socket.socket) -> None:
        """Start accepting on the shared traffic socket (after ``__init__``)."""
        server = self.server
        if server.should_exit:  # SIGTERM during __init__: never take traffic
            return
        config = server.config
        # uvicorn creates its listeners at start-up only; this one joins later, built the way
        # uvicorn.Server.startup builds its own (same protocol class and server state), and
        # appended to `servers` so the graceful shutdown closes it and drains its connections.

        def protocol() -> asyncio.Protocol:
            return config.http_protocol_class(  # type: ignore[call-arg]
                config=config, server_state=server.server_state, app_state=server.lifespan.state,
            )

        listener = await asyncio.get_running_loop().create_server(
            protocol, sock=sock, backlog=config.backlog
        )
        if server.should_exit:  # shutdown began while we were adding it
            listener.close()
            return
        server.servers.append(listener)

    def _fail(self) -> None:
        self.exit_code = 1
        self.server.should_exit = True


def _inherited(fd: int | None) -> socket.socket | None:
    """A socket object over an inherited listening descriptor (family and type read from it)."""
    if fd is None:
        return None
    try:
        sock = socket.socket(fileno=fd)
    except OSError as exc:
        raise ConfigError(f"listen_fd/probe_fd {fd} of the runtime contract is not an open socket "
                          f"({exc.strerror}); the target must pass it to the process "
                          "(e.g. subprocess pass_fds).") from exc
    sock.setblocking(False)
    return sock


def _uvloop_run() -> Any:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency except on Windows
        return asyncio.run
    return uvloop.run


def apply_env_variables(contract: RuntimeContract) -> None:
    """Set ``ChainletOptions.env_variables`` in this process's environment.

    Before the chain file is imported, so module-level code (``os.environ["HF_HOME"]`` read by a
    library at import) sees them, as it would see a container's environment; set here rather than
    by each target, so every target behaves the same and a local process (forked from a fork
    server that has no user environment) gets them too.
    """
    os.environ.update(contract.env_variables)


def serve(contract: RuntimeContract) -> int:
    """Serve the chainlet named by ``contract`` until SIGTERM; the process exit code."""
    # Relative paths in user code mean the same on every target: an image's WORKDIR is its
    # workspace, so a local process (started from its chain's state dir) moves there too.
    try:
        os.chdir(contract.workspace_dir)
    except OSError as exc:
        raise ConfigError(
            f"workspace_dir {contract.workspace_dir} of chainlet {contract.chainlet_name!r} "
            f"cannot be entered: {exc.strerror}."
        ) from exc
    apply_env_variables(contract)
    runtime = _Runtime(contract)
    code = runtime.run()
    busy = [t for t in threading.enumerate() if t.is_alive() and not t.daemon
            and t is not threading.main_thread()]
    if busy:
        # Worker threads still running user code after the graceful period would block the
        # interpreter's exit (it joins them); the grace period is over, so leave now.
        logger.warning("exiting with %d request thread(s) still running", len(busy))
        logging.shutdown()
        os._exit(code)
    return code
