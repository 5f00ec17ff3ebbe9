"""How a chainlet is deployed: its image, compute and assets (``RemoteConfig``).

These are user-facing: every field is documented for users and validated, and ``extra="forbid"``
makes a typo an error instead of a silently ignored setting. A bad value raises a
`ConfigValueError` naming the chain file, line and chainlet member (see `_config_model`).
"""

from __future__ import annotations

import enum
import pathlib
import re
from collections.abc import Mapping
from typing import Annotated, ClassVar, Literal

import pydantic

from infra_chains._config_model import ConfigModel
from infra_chains.asset_config import Assets, ExternalDataItem, ModelRepo, WeightsSource
from infra_chains.errors import ProblemCode
from infra_chains.paths import AbsPath

__all__ = [
    "Assets", "BasetenImage", "ChainletOptions", "Compute", "CustomImage", "DockerAuthSettings",
    "DockerImage", "ExternalDataItem", "HTTPOptions", "HealthChecks", "KNOWN_GPUS", "ModelRepo",
    "RemoteConfig", "WebsocketOptions", "WeightsSource", "memory_to_bytes",
]


class BasetenImage(enum.Enum):
    """Curated default base images (name kept for truss-chains compatibility).

    Each maps to the official ``python:3.X-slim`` image, or to a CUDA runtime image with a Python
    when the chainlet asks for a GPU (the map: ``infra_chains/plan/base_images.py``). The runtime
    needs Python 3.11 or newer: ``PY39`` and ``PY310`` are kept so truss-chains code imports, and
    are rejected when the chain is planned.
    """

    PY39 = "py39"
    PY310 = "py310"
    PY311 = "py311"
    PY312 = "py312"
    PY313 = "py313"

    @property
    def python_version(self) -> str:
        return f"3.{self.value[3:]}"


class DockerAuthSettings(ConfigModel):
    """Credentials for pulling a private base image; the secret's *name*, never its value."""

    __problem_code__: ClassVar[ProblemCode] = "docker-auth-value"

    auth_method: Literal["GCP_SERVICE_ACCOUNT_JSON", "AWS_IAM", "DOCKER_CONFIG"] = "DOCKER_CONFIG"
    secret_name: str
    registry: str = ""


class CustomImage(ConfigModel):
    """A base image of your own, e.g. ``CustomImage(image="python:3.11-slim")``.

    Args:
        image: Image reference, as ``docker pull`` takes it.
        python_executable_path: Absolute path of the Python to use, if ``python3`` is ambiguous.
        docker_auth: Credentials for a private registry.
    """

    __problem_code__: ClassVar[ProblemCode] = "custom-image-value"

    image: str = pydantic.Field(min_length=1)
    python_executable_path: str | None = None
    docker_auth: DockerAuthSettings | None = None

    @pydantic.field_validator("python_executable_path")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("/"):
            raise ValueError(f"python_executable_path must be absolute, got {value!r}")
        return value


#: Requirements files truss-chains reads but infra_chains does not.
_NOT_PIP_FILES = frozenset({"pyproject.toml", "uv.lock"})


class DockerImage(ConfigModel):
    """The image a chainlet runs in.

    Args:
        base_image: A curated ``BasetenImage`` or a ``CustomImage`` (a plain string is taken as
            ``CustomImage(image=...)``).
        requirements_file: A pip-style requirements file (``make_abs_path_here(...)``); its lines
            are concatenated with ``pip_requirements``. truss-chains also reads
            ``pyproject.toml`` and ``uv.lock`` here; infra_chains does not (yet): list the
            requirements in a ``requirements.txt``.
        pip_requirements_file: The older name of ``requirements_file`` (truss-chains deprecated
            it); either name sets both fields.
        pip_requirements: Requirements to install.
        apt_requirements: Debian packages to install.
        data_dir: Directory copied into the image, visible at run time as ``context.data_dir``.
        external_package_dirs: Directories of importable Python packages outside the chain's
            workspace (e.g. a shared library), copied alongside it.
    """

    __problem_code__: ClassVar[ProblemCode] = "docker-image-value"

    base_image: BasetenImage | CustomImage = BasetenImage.PY311
    pip_requirements_file: AbsPath | None = None
    pip_requirements: list[str] = pydantic.Field(default_factory=list)
    apt_requirements: list[str] = pydantic.Field(default_factory=list)
    requirements_file: AbsPath | None = None
    data_dir: AbsPath | None = None
    external_package_dirs: list[AbsPath] | None = None

    @pydantic.model_validator(mode="before")
    @classmethod
    def _one_requirements_file(cls, data: object) -> object:
        # Two names, one setting: the planner reads `requirements_file`, and code written for the
        # older name still reads its own field back.
        if not isinstance(data, dict):
            return data
        old, new = data.get("pip_requirements_file"), data.get("requirements_file")
        if old is not None and new is not None and old != new:
            raise ValueError(
                "both requirements_file and pip_requirements_file are set, to different files; "
                "pip_requirements_file is the older name of requirements_file: set only "
                "requirements_file"
            )
        value = new if new is not None else old
        if isinstance(value, AbsPath) and pathlib.PurePath(value.abs_file_path).name in _NOT_PIP_FILES:
            raise ValueError(
                f"requirements_file {value.original_path!r} is not supported by infra_chains: "
                "only pip-style requirements files are read (truss-chains also reads "
                "pyproject.toml and uv.lock); export the requirements to a requirements.txt, "
                "e.g. `uv export --no-hashes > requirements.txt`"
            )
        return {**data, "requirements_file": value, "pip_requirements_file": value}

    @pydantic.field_validator("base_image", mode="before")
    @classmethod
    def _string_image(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        if not value.strip():
            raise ValueError("base_image is empty; name an image, e.g. 'python:3.11-slim'")
        return CustomImage(image=value)

    @pydantic.field_validator("pip_requirements", "apt_requirements")
    @classmethod
    def _no_blank(cls, value: list[str]) -> list[str]:
        for item in value:
            if not item.strip():
                raise ValueError("requirements must not contain empty strings")
        return value


#: GPU types a chainlet may ask for; the Kubernetes target maps each to a node label.
KNOWN_GPUS: tuple[str, ...] = (
    "T4", "L4", "A10G", "V100", "A100", "A100_40GB", "A100_80GB", "L40S", "H100", "H100_40GB",
    "H200", "B200",
)

_MEMORY_RE = re.compile(r"^(?P<number>\d+(\.\d+)?)(?P<unit>Ki|Mi|Gi|Ti|k|K|M|G|T)?$")
_MEMORY_UNITS = {
    None: 1, "k": 1000, "K": 1000, "M": 1000**2, "G": 1000**3, "T": 1000**4,
    "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4,
}


def memory_to_bytes(memory: str) -> int:
    """Parse a Kubernetes-style quantity such as ``"2Gi"`` or ``"512Mi"``."""
    match = _MEMORY_RE.match(memory.strip())
    if match is None:
        raise ValueError(
            f"memory {memory!r} is not a quantity like '512Mi', '2Gi' or '1.5G' "
            "(units: Ki, Mi, Gi, Ti, K, M, G, T)"
        )
    return int(float(match["number"]) * _MEMORY_UNITS[match["unit"]])


class Compute(ConfigModel):
    """Compute resources of one replica of a chainlet.

    Args:
        cpu_count: Minimum number of CPUs (>= 1).
        memory: Minimum memory, e.g. ``"2Gi"`` or ``"512Mi"``.
        gpu: GPU type (one of ``KNOWN_GPUS``), or ``None``; a ``"A10G:2"`` form sets ``gpu_count``.
        gpu_count: Number of GPUs, when ``gpu`` is set.
        predict_concurrency: Requests one replica serves at once: on the event loop for
            ``async def run_remote``, in a thread pool of this size for ``def``. ``"cpu_count"``
            takes the value of ``cpu_count``.
    """

    __problem_code__: ClassVar[ProblemCode] = "compute-value"
    __positional__: ClassVar[tuple[str, ...]] = (
        "cpu_count", "memory", "gpu", "gpu_count", "predict_concurrency",
    )

    cpu_count: int = pydantic.Field(default=1, ge=1)
    memory: str = "2Gi"
    gpu: str | None = None
    gpu_count: int = pydantic.Field(default=1, ge=1)
    predict_concurrency: int | Literal["cpu_count"] = 1

    @pydantic.field_validator("memory")
    @classmethod
    def _memory(cls, value: str) -> str:
        if memory_to_bytes(value) <= 0:
            raise ValueError(f"memory {value!r} must be more than zero, e.g. '512Mi' or '2Gi'")
        return value.strip()

    @pydantic.field_validator("predict_concurrency")
    @classmethod
    def _concurrency(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value < 1:
            raise ValueError(f"predict_concurrency must be >= 1 or 'cpu_count', got {value}")
        return value

    @pydantic.model_validator(mode="before")
    @classmethod
    def _gpu(cls, data: object) -> object:
        if not isinstance(data, dict) or data.get("gpu") is None:
            return data
        gpu = str(getattr(data["gpu"], "value", data["gpu"]))
        name, _, count = gpu.partition(":")
        canonical = {g.upper(): g for g in KNOWN_GPUS}.get(name.strip().upper())
        if canonical is None:
            raise ValueError(f"unknown gpu {name!r}; choose one of: {', '.join(KNOWN_GPUS)}")
        data = dict(data, gpu=canonical)
        if count:
            if not count.isdigit() or int(count) < 1:
                raise ValueError(f"gpu {gpu!r}: the count after ':' must be a positive integer")
            data["gpu_count"] = int(count)
        return data

    @property
    def memory_bytes(self) -> int:
        return memory_to_bytes(self.memory)

    @property
    def resolved_predict_concurrency(self) -> int:
        """``predict_concurrency`` as a number (``"cpu_count"`` resolved)."""
        if self.predict_concurrency == "cpu_count":
            return self.cpu_count
        return int(self.predict_concurrency)


class HealthChecks(ConfigModel):
    """When an unhealthy replica (``is_healthy()`` false, or no answer) loses traffic or restarts.

    truss-chains' ``truss_config.HealthChecks``, kept in the plan's deployment part and applied
    by every target through `infra_chains.serving.health.health_policy` (local supervisor,
    Docker ``HEALTHCHECK``, Kubernetes probes; see docs/architecture.md). Unset, each target
    keeps its own numbers: a process that stops answering ``/healthz`` for ~3 s is restarted.
    ``stop_traffic_threshold_seconds`` only matters where traffic follows readiness after start
    (Kubernetes). ``restart_threshold_seconds`` is what lets an ``async def run_remote`` block
    on a sync dependency's stub for longer.

    Args:
        restart_check_delay_seconds: Delay before restart checks begin.
        restart_threshold_seconds: Time unhealthy after which a replica is restarted.
        stop_traffic_threshold_seconds: Time unhealthy after which a replica gets no traffic.
        startup_threshold_seconds: Time a replica may take to start before it counts as unhealthy.
    """

    __problem_code__: ClassVar[ProblemCode] = "chainlet-options-value"

    restart_check_delay_seconds: int | None = pydantic.Field(default=None, ge=0)
    restart_threshold_seconds: int | None = pydantic.Field(default=None, ge=1)
    stop_traffic_threshold_seconds: int | None = pydantic.Field(default=None, ge=1)
    startup_threshold_seconds: int | None = pydantic.Field(default=None, ge=1)


class HTTPOptions(ConfigModel):
    """The chainlet serves HTTP requests (the default transport)."""

    __problem_code__: ClassVar[ProblemCode] = "chainlet-options-value"

    kind: Literal["http"] = "http"


class WebsocketOptions(ConfigModel):
    """The chainlet serves a websocket (its ``run_remote`` takes a ``WebSocketProtocol``).

    Args:
        ping_interval_seconds: Seconds between the server's keep-alive pings (None: the default).
        ping_timeout_seconds: Seconds to wait for a ping's answer before closing (None: default).
    """

    __problem_code__: ClassVar[ProblemCode] = "chainlet-options-value"

    kind: Literal["websocket"] = "websocket"
    ping_interval_seconds: float | None = pydantic.Field(default=None, gt=0)
    ping_timeout_seconds: float | None = pydantic.Field(default=None, gt=0)


def _transport_kind(value: object) -> object:
    kind = value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)
    if kind == "grpc":
        raise ValueError("transport kind 'grpc' is not supported by infra_chains: chainlets "
                         "serve HTTP or a websocket; use {'kind': 'http'} or {'kind': 'websocket'}")
    return value


#: ``ChainletOptions.transport``: chosen by its ``kind``, as in truss-chains.
Transport = Annotated[
    HTTPOptions | WebsocketOptions,
    pydantic.Field(discriminator="kind"),
    pydantic.BeforeValidator(_transport_kind),
]

#: Environment variable names a chainlet may set (POSIX: letters, digits, underscores).
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: Prefix of the variables the runtime itself reads; a chainlet's env_variables may not set them.
_RESERVED_ENV_PREFIX = "INFRA_CHAINS_"


class ChainletOptions(ConfigModel):
    """How a deployed chainlet runs, beside its image and compute (``RemoteConfig(options=...)``).

    Args:
        enable_b10_tracing: Baseten-internal tracing; only ``False`` is accepted (not supported
            by infra_chains: instrument the chainlet with your own tracing instead).
        enable_debug_logs: Run the chainlet's process with log level DEBUG.
        env_variables: Static environment variables of the chainlet's process, on every target.
            They are set before the chain file is imported. Not for secrets: they are part of
            the plan and of the Kubernetes objects; use ``Assets(secret_keys=...)`` for those.
            ``run_local`` does not set them (all chainlets share one process there).
        health_checks: When an unhealthy replica loses traffic or restarts (see `HealthChecks`).
        metadata: Any JSON value describing the chainlet; kept in the plan, never interpreted.
        streaming_read_timeout: Longest pause, in seconds, between two items of a streamed
            result before the stream is given up.
        transport: ``{"kind": "http"}`` (the default) or ``{"kind": "websocket", ...}``.
    """

    __problem_code__: ClassVar[ProblemCode] = "chainlet-options-value"

    enable_b10_tracing: Literal[False] = False
    enable_debug_logs: bool = False
    env_variables: Mapping[str, str] = pydantic.Field(default_factory=dict)
    health_checks: HealthChecks = HealthChecks()
    metadata: pydantic.JsonValue = None
    streaming_read_timeout: int = pydantic.Field(default=60, ge=1)
    transport: Transport | None = None

    @pydantic.field_validator("enable_b10_tracing", mode="before")
    @classmethod
    def _no_b10_tracing(cls, value: object) -> object:
        if value is True:
            raise ValueError("enable_b10_tracing is not supported by infra_chains: it collects "
                             "traces for Baseten's engineers; remove it (or set it False)")
        return value

    @pydantic.field_validator("env_variables")
    @classmethod
    def _env_names(cls, value: Mapping[str, str]) -> dict[str, str]:
        for name in value:
            if not _ENV_NAME_RE.match(name):
                raise ValueError(f"env_variables: {name!r} is not a valid variable name "
                                 "(letters, digits and underscores, not starting with a digit)")
            if name.startswith(_RESERVED_ENV_PREFIX):
                raise ValueError(f"env_variables: {name!r} starts with {_RESERVED_ENV_PREFIX!r}, "
                                 "which the infra_chains runtime reserves; rename it")
        return dict(value)


class RemoteConfig(ConfigModel):
    """Everything needed to deploy one chainlet: set it as the class variable ``remote_config``.

    Args:
        docker_image: The image the chainlet runs in.
        compute: CPU, memory, GPU and request concurrency of one replica.
        assets: Secrets, cached models and external data.
        name: The chainlet's deployed name (default: the class name).
        options: Environment variables, debug logs, health checks, metadata, transport.
        build_commands: Shell commands run while the image is built, after the requirements
            are installed and before the chain's code is copied in (each a Dockerfile ``RUN``
            line; part of the image's hash).
        replicas: (ext) Number of replicas; the kubernetes target runs them (a stack may override
            or autoscale it). The local and docker targets run one process or container per
            chainlet and say so when more are asked for.
    """

    __problem_code__: ClassVar[ProblemCode] = "remote-config-value"

    docker_image: DockerImage = DockerImage()
    compute: Compute = Compute()
    assets: Assets = Assets()
    name: str | None = pydantic.Field(default=None, pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,62}$")
    options: ChainletOptions = ChainletOptions()
    build_commands: list[str] = pydantic.Field(default_factory=list)
    replicas: int = pydantic.Field(default=1, ge=1)

    @pydantic.field_validator("build_commands")
    @classmethod
    def _one_line_commands(cls, value: list[str]) -> list[str]:
        for command in value:
            if not command.strip():
                raise ValueError("build_commands must not contain empty commands")
            if "\n" in command.rstrip("\n"):
                raise ValueError(f"build command {command!r} spans several lines; give each "
                                 "command as its own list item (or join them with &&)")
        return [command.strip() for command in value]
