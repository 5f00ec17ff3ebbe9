"""Render a chain's Kubernetes objects under Pulumi's mocks: unit tests of a deployment with no
Pulumi CLI, no provider plugin and no cluster.

    from infra_chains.testing import render

    def test_my_chain_gets_a_gpu():
        rendered = render("my_chain.py", settings=StackSettings(namespace="ml"),
                          secrets={"hf_access_token": "test"})
        deployment = rendered.manifest("Deployment", "my-chain-llm")
        limits = deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
        assert limits["nvidia.com/gpu"] == "1"

`render` runs the same `Chain` component a ``pulumi up`` runs, under ``pulumi.runtime.set_mocks``,
and returns each Kubernetes object as the manifest the provider would apply (wire form:
camelCase, numbers as ints, secret values unwrapped and their paths listed), plus the resource
tree. The mocks do what the providers would: every resource gets an id, auto-named objects get a
name (``<resource name>-<8 hex>``, stable), images a ``repoDigest`` that follows their tag (a local image ID when not pushed), LoadBalancer
Services an address (`LOAD_BALANCER_IP`); and
they catch what Pulumi's mocks let through: two resources with one URN, or two Kubernetes objects
with one kind, namespace and name.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import hashlib
import pathlib
import tempfile
from collections.abc import Iterator, Mapping
from typing import Any

from infra_chains._optional import require
from infra_chains.errors import ChainsUsageError

#: How Pulumi's wire format marks a secret value: ``{SIG_KEY: SECRET_SIG, "value": ...}``
#: (``pulumi.runtime.rpc``'s private constants, fixed by the Pulumi protocol).
_SIG_KEY = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
_K8S_PREFIX = "kubernetes:"
_DEFAULT_SECRET = "render-placeholder-secret"
#: A fixed chain token, so two renders of an unchanged chain are identical.
RENDER_CHAIN_TOKEN = "render-chain-token"
#: The address a LoadBalancer Service gets under the mocks (a documentation range, RFC 5737).
LOAD_BALANCER_IP = "203.0.113.10"


@dataclasses.dataclass(frozen=True)
class RenderedResource:
    """One resource the program registered (components included)."""

    type: str
    name: str
    urn: str
    parent: str | None  # the parent's name (None: the stack)
    custom: bool
    inputs: dict[str, Any]  # wire form, secrets unwrapped
    secret_paths: tuple[str, ...]  # dotted paths of inputs that were secret
    #: The resource's ``custom_timeouts`` that are set (``{"create": "900s", ...}``).
    custom_timeouts: dict[str, str] = dataclasses.field(default_factory=dict)
    #: Input paths whose changes Pulumi ignores (``ignore_changes``).
    ignore_changes: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class RenderedChain:
    """What ``pulumi up`` would create: the resource tree, manifests, the Chain's outputs."""

    resources: list[RenderedResource]
    manifests: list[dict[str, Any]]
    outputs: dict[str, Any]

    def resource(self, name: str) -> RenderedResource:
        matches = [r for r in self.resources if r.name == name]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} resources are named {name!r}; names: "
                           f"{sorted(r.name for r in self.resources)}")
        return matches[0]

    def children(self, name: str) -> list[RenderedResource]:
        return [r for r in self.resources if r.parent == name]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.manifests if m["kind"] == kind]

    def manifest(self, kind: str, name: str) -> dict[str, Any]:
        """The ``kind`` object whose ``metadata.name`` (or Pulumi resource name) is ``name``."""
        for resource, manifest in self._pairs():
            if manifest["kind"] == kind and name in (manifest["metadata"].get("name"), resource.name):
                return manifest
        raise KeyError(f"no {kind} named {name!r}; have: "
                       f"{[m['metadata'].get('name') for m in self.of_kind(kind)]}")

    def _pairs(self) -> Iterator[tuple[RenderedResource, dict[str, Any]]]:
        k8s = [r for r in self.resources if r.type.startswith(_K8S_PREFIX)]
        return zip(k8s, self.manifests)


def render(
    chain_file_or_entrypoint: str | pathlib.Path | type[Any],
    stack: str = "dev",
    settings: Any | None = None,
    secrets: Mapping[str, str] | None = None,
    *,
    entrypoint: str | None = None,
    chain_name: str | None = None,
    context_root: pathlib.Path | None = None,
    chain_token: str = RENDER_CHAIN_TOKEN,
) -> RenderedChain:
    """The objects `Chain` creates for a chain file (or entrypoint class) with a stack's settings.

    ``settings`` is a `StackSettings` (default: the defaults, with ``environment=stack``);
    ``secrets`` maps secret keys to test values (a key not given gets a placeholder). Build
    contexts are written under ``context_root`` (default: a temporary directory) unless
    ``settings.build_images`` is false; nothing is built and no cluster is called.
    """
    require("pulumi", extra="kubernetes", purpose="infra_chains.testing.render")
    import pulumi

    from infra_chains.components.chain import Chain, ChainArgs
    from infra_chains.components.settings import StackSettings
    from infra_chains.deploy import plan_chain
    from infra_chains.framework.loading import load_entrypoint

    stack_settings = settings if settings is not None else StackSettings(environment=stack)
    if isinstance(chain_file_or_entrypoint, type):
        entry = chain_file_or_entrypoint
    else:
        entry = load_entrypoint(pathlib.Path(chain_file_or_entrypoint), entrypoint)
    plan = plan_chain(entry, chain_name, user_env=stack_settings.user_env,
                      environment=stack_settings.environment or stack)
    values = {key: (secrets or {}).get(key, _DEFAULT_SECRET) for key in plan.secret_keys}
    mocks_class, monitor_class = _mock_classes()
    monitor = monitor_class(mocks_class())
    outputs: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="infra-chains-render-") as scratch:
        root = context_root if context_root is not None else pathlib.Path(scratch)

        def program() -> Any:
            chain = Chain(plan.chain_name, ChainArgs(
                plan=plan, settings=stack_settings, context_root=root, chain_token=chain_token,
                secrets={key: pulumi.Output.secret(value) for key, value in values.items()},
            ))
            return pulumi.Output.all(
                entrypoint_url=chain.entrypoint_url, chainlet_urls=chain.chainlet_urls,
                image_hashes=chain.image_hashes, deployment_hashes=chain.deployment_hashes,
                image_refs=chain.image_refs,
            ).apply(outputs.update)

        _run(program, monitor, stack)
    resources = [_rendered(record, monitor) for record in monitor.records]
    manifests = [_manifest(r, monitor.states[r.urn]) for r in resources if r.type.startswith(_K8S_PREFIX)]
    _check_unique_objects(manifests)
    return RenderedChain(resources=resources, manifests=manifests, outputs=outputs)


def _run(program: Any, monitor: Any, stack: str) -> None:
    """Run ``program`` under fresh mocks: config reset, its own event loop (Python ≥ 3.12 has no
    implicit one), every registration awaited."""
    import pulumi

    previous = _current_loop()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        pulumi.runtime.set_all_config({})
        pulumi.runtime.set_mocks(monitor.mocks, project="infra-chains", stack=stack, preview=False,
                                 monitor=monitor)
        pulumi.runtime.test(program)()  # type: ignore[no-untyped-call]  # untyped in pulumi
    finally:
        loop.run_until_complete(loop.shutdown_default_executor())
        monitor.close()
        asyncio.set_event_loop(previous)
        loop.close()
    if monitor.duplicates:
        raise ChainsUsageError(
            f"Two resources have the URN {monitor.duplicates[0]}: rename one of them (a real "
            "engine refuses the second; Pulumi's mocks accept it)."
        )


def _current_loop() -> asyncio.AbstractEventLoop | None:
    """The thread's loop if one is set, without making one (``get_event_loop`` would, and leak it)."""
    local = getattr(asyncio.get_event_loop_policy(), "_local", None)
    loop = getattr(local, "_loop", None)
    return loop if isinstance(loop, asyncio.AbstractEventLoop) and not loop.is_closed() else None


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _provider_state(typ: str, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """What the provider would compute: names of auto-named objects, image digests."""
    state = copy.deepcopy(inputs)
    if typ.startswith(_K8S_PREFIX):
        metadata = state.setdefault("metadata", {})
        metadata.setdefault("name", f"{name}-{_short_hash(name)}")
        if typ == "kubernetes:core/v1:Service" and (inputs.get("spec") or {}).get("type") == "LoadBalancer":
            # The provider waits for the cloud to assign an address (TEST-NET-3 stands in).
            state["status"] = {"loadBalancer": {"ingress": [{"ip": LOAD_BALANCER_IP}]}}
    elif typ == "docker:index/image:Image":
        image_name = str(inputs["imageName"])
        repository = image_name.rsplit(":", 1)[0]
        digest = hashlib.sha256(image_name.encode()).hexdigest()
        # As pulumi-docker does: a pushed image's registry digest; an unpushed one's image ID.
        repo_digest = f"sha256:{digest}" if inputs.get("skipPush") else f"{repository}@sha256:{digest}"
        state.update(repoDigest=repo_digest, baseImageName=image_name)
    return state


def _mock_classes() -> tuple[type[Any], type[Any]]:
    """Pulumi's `Mocks` and mock monitor, extended; made on first use (pulumi is optional)."""
    import pulumi
    from pulumi.runtime.mocks import MockMonitor

    class Mocks(pulumi.runtime.Mocks):
        """Ids for every resource, provider-computed values filled."""

        def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
            inputs, _ = _unwrap(args.inputs)
            if not args.custom:
                return f"{args.name}-id", {}
            state = _provider_state(args.typ, args.name, inputs)
            metadata = state.get("metadata", {})
            namespace, name = metadata.get("namespace"), metadata.get("name", args.name)
            return (f"{namespace}/{name}" if namespace else f"{args.name}-id"), state

        def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], None]:
            return {}, None

    class Monitor(MockMonitor):
        """Pulumi's mock monitor, recording each registration's parent and catching URN clashes.

        Pulumi's monitor gives each worker thread an event loop and never closes it; this one
        makes them itself, so `close` can.
        """

        def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
            super().__init__(mocks)
            self.records: list[tuple[str, Any]] = []
            self.states: dict[str, dict[str, Any]] = {}
            self.names: dict[str, str] = {}
            self.thread_loops: list[asyncio.AbstractEventLoop] = []
            #: URNs registered twice: raised once the program is done (raising here would fail
            #: Pulumi's pending futures too, each logged as never retrieved).
            self.duplicates: list[str] = []

        def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (Pulumi's name)
            if _current_loop() is None:
                loop = asyncio.new_event_loop()
                asyncio.set_event_loop(loop)
                self.thread_loops.append(loop)
            urn = self.make_urn(request.parent, request.type, request.name)
            if urn in self.names:
                self.duplicates.append(urn)
            response = super().RegisterResource(request)  # type: ignore[no-untyped-call]  # untyped in pulumi
            if request.type == "pulumi:pulumi:Stack":
                return response
            self.names[response.urn] = request.name
            self.records.append((response.urn, request))
            self.states[response.urn] = self.resources[response.urn].state
            return response

        def close(self) -> None:
            for loop in self.thread_loops:
                loop.close()

    return Mocks, Monitor


def _rendered(record: tuple[str, Any], monitor: Any) -> RenderedResource:
    from pulumi.runtime import rpc

    urn, request = record
    inputs, secret_paths = _unwrap(rpc.deserialize_properties(request.object))
    timeouts = request.customTimeouts
    return RenderedResource(
        type=request.type, name=request.name, urn=urn, custom=bool(request.custom),
        parent=monitor.names.get(request.parent) if request.parent else None,
        inputs=inputs, secret_paths=tuple(secret_paths),
        custom_timeouts={op: getattr(timeouts, op) for op in ("create", "update", "delete")
                         if getattr(timeouts, op)},
        ignore_changes=tuple(request.ignoreChanges),
    )


def _unwrap(value: Any, path: str = "") -> tuple[Any, list[str]]:
    """``value`` with secrets unwrapped and integral floats as ints; the secrets' dotted paths."""
    if isinstance(value, dict):
        if value.get(_SIG_KEY) == _SECRET_SIG:
            inner, paths = _unwrap(value.get("value"), path)
            return inner, [path or "(root)", *paths]
        result: dict[str, Any] = {}
        found: list[str] = []
        for key, item in value.items():
            result[key], paths = _unwrap(item, f"{path}.{key}" if path else str(key))
            found += paths
        return result, found
    if isinstance(value, list):
        items, found = [], []
        for index, item in enumerate(value):
            unwrapped, paths = _unwrap(item, f"{path}[{index}]")
            items.append(unwrapped)
            found += paths
        return items, found
    if isinstance(value, float) and value.is_integer():
        return int(value), []
    return value, []


def _manifest(resource: RenderedResource, state: dict[str, Any]) -> dict[str, Any]:
    """The object as ``kubectl apply`` would get it: the inputs, with the provider's name."""
    body = copy.deepcopy(resource.inputs)
    metadata = body.pop("metadata", {}) or {}
    metadata.setdefault("name", _unwrap(state.get("metadata", {}))[0].get("name"))
    head = {"apiVersion": body.pop("apiVersion"), "kind": body.pop("kind"), "metadata": metadata}
    return {**head, **dict(sorted(body.items()))}


def _check_unique_objects(manifests: list[dict[str, Any]]) -> None:
    seen: set[tuple[str, str, str]] = set()
    for manifest in manifests:
        key = (manifest["kind"], manifest["metadata"].get("namespace", ""), manifest["metadata"]["name"])
        if key in seen:
            raise ChainsUsageError(
                f"Two {key[0]} objects are named {key[2]!r} in namespace {key[1]!r}: rename one."
            )
        seen.add(key)
