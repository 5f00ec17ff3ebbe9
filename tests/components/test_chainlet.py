"""The objects a `Chainlet` renders, under Pulumi's mocks, for every example and both stacks."""

from __future__ import annotations

import json
import pathlib
import re
from typing import Any

import kubernetes_validate
import pytest

from infra_chains.components.settings import StackSettings
from infra_chains.testing import RenderedChain, render

from .conftest import DEV, EXAMPLE_FILES, EXAMPLES, PROD, SENTINEL, STACKS

TEXT_PIPELINE = EXAMPLES / "text_pipeline.py"

DNS_1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
DNS_1123_SUBDOMAIN = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_PER_CHAINLET = {"docker:index/image:Image", "kubernetes:core/v1:ConfigMap",
                 "kubernetes:apps/v1:Deployment", "kubernetes:core/v1:Service"}


def _render(path: pathlib.Path, settings: StackSettings, tmp_path: pathlib.Path) -> RenderedChain:
    return render(path, settings=settings, secrets={"pipeline_token": SENTINEL, "hf_token": SENTINEL},
                  context_root=tmp_path / "contexts")


@pytest.fixture(params=[(p, s) for p in EXAMPLE_FILES for s in STACKS], ids=lambda v: f"{v[0].stem}-{v[1]}")
def rendered(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> RenderedChain:
    path, stack = request.param
    return _render(path, STACKS[stack], tmp_path)


def _containers(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    return list(deployment["spec"]["template"]["spec"]["containers"])


def _contract(rendered: RenderedChain, deployment: dict[str, Any]) -> dict[str, Any]:
    volumes = deployment["spec"]["template"]["spec"]["volumes"]
    (name,) = [v["configMap"]["name"] for v in volumes if "configMap" in v]
    config_map = rendered.manifest("ConfigMap", name)
    return dict(json.loads(config_map["data"]["contract.json"]))


def test_each_chainlets_objects_are_children_of_its_component(rendered: RenderedChain) -> None:
    chain = [r for r in rendered.resources if r.type == "infra-chains:index:Chain"]
    assert len(chain) == 1 and chain[0].parent is None
    chainlets = [r for r in rendered.resources if r.type == "infra-chains:index:Chainlet"]
    assert chainlets and all(c.parent == chain[0].name for c in chainlets)
    for component in chainlets:
        children = rendered.children(component.name)
        assert {c.type for c in children} >= _PER_CHAINLET, component.name
        assert all(c.name.startswith(f"{component.name}-") for c in children)
    custom = [r for r in rendered.resources if r.custom]
    assert all(r.parent is not None for r in custom)  # nothing hangs off the stack directly


def test_names_are_dns_1123_and_unique(rendered: RenderedChain) -> None:
    assert len({r.urn for r in rendered.resources}) == len(rendered.resources)
    keys = [(m["kind"], m["metadata"]["namespace"], m["metadata"]["name"]) for m in rendered.manifests]
    assert len(set(keys)) == len(keys)
    for manifest in rendered.manifests:
        name = manifest["metadata"]["name"]
        pattern = DNS_1123_LABEL if manifest["kind"] in {"Service", "Deployment"} else DNS_1123_SUBDOMAIN
        assert pattern.match(name), (manifest["kind"], name)
        assert DNS_1123_LABEL.match(manifest["metadata"]["namespace"])


def test_dependents_are_wired_to_their_dependencies_service_urls(rendered: RenderedChain) -> None:
    services = {m["metadata"]["name"]: m for m in rendered.of_kind("Service")}
    for deployment in rendered.of_kind("Deployment"):
        contract = _contract(rendered, deployment)
        namespace = deployment["metadata"]["namespace"]
        for dependency, descriptor in contract["chainlet_to_service"].items():
            url = rendered.outputs["chainlet_urls"][dependency]
            label = url.removeprefix("http://").split(".")[0]
            assert label in services
            assert url == f"http://{label}.{namespace}.svc.cluster.local:8080"
            assert descriptor["predict_url"] == f"{url}/run_remote"
        assert contract["host"] == "0.0.0.0" and contract["port"] == 8080
        assert contract["instance_id"] and contract["chain_token_file"]


def test_probes_labels_security_and_rollout(rendered: RenderedChain) -> None:
    for deployment in rendered.of_kind("Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        (container,) = _containers(deployment)
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        startup = container["startupProbe"]
        assert startup["periodSeconds"] * startup["failureThreshold"] >= 600
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert {"app.kubernetes.io/name", "app.kubernetes.io/part-of", "app.kubernetes.io/instance",
                "app.kubernetes.io/version"} <= labels.keys()
        security = container["securityContext"]
        assert security["runAsNonRoot"] and security["runAsUser"] == 10001
        assert security["allowPrivilegeEscalation"] is False and security["readOnlyRootFilesystem"]
        assert security["capabilities"] == {"drop": ["ALL"]}
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["terminationGracePeriodSeconds"] > _contract(rendered, deployment)["graceful_shutdown_sec"]
        assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
        repository, _, digest = container["image"].partition("@")
        if repository.startswith("ghcr.io/acme/"):  # pushed: the registry digest, not the tag
            assert digest.startswith("sha256:") and container["imagePullPolicy"] == "Always"
        else:  # no registry: never pushed, the content-hash tag a local cluster has loaded
            assert not digest and repository.startswith("infra-chains/")
            assert container["imagePullPolicy"] == "IfNotPresent"


def test_deployments_wait_for_model_loads(rendered: RenderedChain) -> None:
    """A Deployment's create/update timeout covers the startup probe's budget (pulumi-kubernetes'
    default of 10 minutes would fail a slower model load); only Deployments wait that long."""
    for resource in rendered.resources:
        if resource.type == "kubernetes:apps/v1:Deployment":
            startup = _containers(rendered.manifest("Deployment", resource.inputs["metadata"]["name"]))[0]["startupProbe"]
            budget = startup["periodSeconds"] * startup["failureThreshold"]
            for op in ("create", "update"):
                assert int(resource.custom_timeouts[op].removesuffix("s")) > budget, resource.name
    assert not [r.name for r in rendered.resources if r.custom_timeouts and r.type != "kubernetes:apps/v1:Deployment"]


def test_compute_is_each_containers_requests_and_limits(rendered: RenderedChain) -> None:
    """Requests = limits = the chainlet's `Compute` (Guaranteed QoS), for every example."""
    from infra_chains.deploy import plan_chain
    from infra_chains.framework.loading import load_entrypoint

    any_deployment = rendered.of_kind("Deployment")[0]
    chain = any_deployment["metadata"]["labels"]["app.kubernetes.io/part-of"]
    example = next(p for p in EXAMPLE_FILES if render_name(p) == chain)
    plan = plan_chain(load_entrypoint(example), chain)
    labels = {url.removeprefix("http://").split(".")[0]: name for name, url in rendered.outputs["chainlet_urls"].items()}
    specs = {spec.name: spec for spec in plan.chainlets}
    for deployment in rendered.of_kind("Deployment"):
        compute = specs[labels[deployment["metadata"]["name"]]].compute
        expected = {"cpu": str(compute.cpu_count), "memory": str(compute.memory_bytes)}
        (container,) = _containers(deployment)
        assert container["resources"] == {"requests": expected, "limits": expected}, deployment["metadata"]["name"]


def render_name(path: pathlib.Path) -> str:
    from infra_chains.deploy import chain_name_for
    from infra_chains.framework.loading import load_entrypoint

    return chain_name_for(load_entrypoint(path))


def test_image_reference_follows_the_registry(rendered: RenderedChain) -> None:
    images = [r for r in rendered.resources if r.type == "docker:index/image:Image"]
    for image in images:
        tag = image.inputs["imageName"].rsplit(":", 1)[1]
        assert tag in rendered.outputs["image_hashes"].values()
        assert image.inputs["build"]["dockerfile"].endswith("Dockerfile")
    registry_images = [i.inputs["imageName"].startswith("ghcr.io/acme/") for i in images]
    assert all(registry_images) or not any(registry_images)


def test_without_a_registry_the_pod_runs_the_local_tag_not_an_image_id(tmp_path: pathlib.Path) -> None:
    """pulumi-docker's repoDigest of an unpushed image is the engine's image ID (``sha256:…``),
    which no node can pull: the pod must name the content-hash tag instead."""
    rendered = _render(TEXT_PIPELINE, DEV, tmp_path)
    (image,) = [r for r in rendered.children("text-pipeline-chunker") if r.type == "docker:index/image:Image"]
    assert image.inputs["skipPush"] is True
    (container,) = _containers(rendered.manifest("Deployment", "text-pipeline-chunker"))
    hash_ = rendered.outputs["image_hashes"]["Chunker"]
    assert container["image"] == f"infra-chains/text-pipeline-chunker:{hash_}"
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert rendered.outputs["image_refs"]["Chunker"] == container["image"]


def test_replicas_hpa_and_pdb_per_stack(tmp_path: pathlib.Path) -> None:
    text = TEXT_PIPELINE
    dev = _render(text, DEV, tmp_path / "dev")
    prod = _render(text, PROD, tmp_path / "prod")
    assert not dev.of_kind("HorizontalPodAutoscaler") and not dev.of_kind("PodDisruptionBudget")
    assert all(d["spec"]["replicas"] == 1 for d in dev.of_kind("Deployment"))
    chunker = prod.manifest("Deployment", "text-pipeline-chunker")
    assert chunker["spec"]["replicas"] == 3
    (hpa,) = prod.of_kind("HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": "text-pipeline-text-pipeline"}
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 6)
    assert "replicas" not in prod.manifest("Deployment", "text-pipeline-text-pipeline")["spec"]
    pdbs = {p["metadata"]["name"] for p in prod.of_kind("PodDisruptionBudget")}
    assert pdbs == {"text-pipeline-chunker", "text-pipeline-text-pipeline"}
    (ingress,) = prod.of_kind("Ingress")
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == "text-pipeline-text-pipeline"
    assert prod.outputs["entrypoint_url"] == "http://chains.example.com"


def test_load_balancer_exposure_is_the_entrypoints_service_and_url(tmp_path: pathlib.Path) -> None:
    from infra_chains.components.chain import _load_balancer_url
    from infra_chains.testing import LOAD_BALANCER_IP

    settings = DEV.model_copy(update={"exposure": "load-balancer"})
    rendered = _render(TEXT_PIPELINE, settings, tmp_path)
    types = {m["metadata"]["name"]: m["spec"]["type"] for m in rendered.of_kind("Service")}
    assert types == {"text-pipeline-text-pipeline": "LoadBalancer", "text-pipeline-chunker": "ClusterIP",
                     "text-pipeline-summarizer": "ClusterIP"}
    # Outside callers use the balancer's address; chainlets keep calling each other in-cluster.
    assert rendered.outputs["entrypoint_url"] == f"http://{LOAD_BALANCER_IP}:8080"
    assert rendered.outputs["chainlet_urls"]["TextPipeline"].endswith(".chains-dev.svc.cluster.local:8080")
    entry = _contract(rendered, rendered.manifest("Deployment", "text-pipeline-text-pipeline"))
    assert entry["allowed_hosts"] is None  # the balancer's address is not known ahead
    assert not rendered.of_kind("Ingress")
    # AWS gives a hostname, others an IP; none yet (or no cloud controller): the in-cluster URL.
    hostname = {"load_balancer": {"ingress": [{"hostname": "a1.elb.amazonaws.com"}]}}
    assert _load_balancer_url(hostname, "http://in") == "http://a1.elb.amazonaws.com:8080"
    assert _load_balancer_url(None, "http://in") == _load_balancer_url({"load_balancer": {}}, "http://in") == "http://in"


def test_secrets_only_in_a_secret_marked_secret_and_mounted_as_files(tmp_path: pathlib.Path) -> None:
    text = TEXT_PIPELINE
    rendered = _render(text, PROD, tmp_path)
    holders = [m for m in rendered.manifests if SENTINEL in json.dumps(m)]
    assert [m["kind"] for m in holders] == ["Secret"]
    (secret,) = holders
    assert secret["stringData"] == {"pipeline_token": SENTINEL}
    resource = rendered.resource(next(r.name for r in rendered.resources
                                      if r.type == "kubernetes:core/v1:Secret" and "secrets" in r.name))
    assert "stringData" in resource.secret_paths
    assert SENTINEL not in json.dumps(rendered.outputs)
    for deployment in rendered.of_kind("Deployment"):
        (container,) = _containers(deployment)
        assert SENTINEL not in json.dumps(container.get("env", []))
        assert all("valueFrom" not in e for e in container.get("env", []))  # no secret as env
        assert all(m.get("readOnly") for m in container["volumeMounts"]
                   if m["name"] in {"secrets", "chain-token", "contract"})
    summarizer = rendered.manifest("Deployment", "text-pipeline-summarizer")
    volumes = {v["name"]: v for v in summarizer["spec"]["template"]["spec"]["volumes"]}
    assert volumes["secrets"]["secret"]["secretName"] == secret["metadata"]["name"]
    assert _contract(rendered, summarizer)["secrets_dir"] == "/var/run/infra-chains/secrets"
    chunker = rendered.manifest("Deployment", "text-pipeline-chunker")
    assert "secrets" not in {v["name"] for v in chunker["spec"]["template"]["spec"]["volumes"]}


def test_gpu_chainlet_resources_scheduling_and_rollout(gpu_chain: pathlib.Path, tmp_path: pathlib.Path) -> None:
    settings = StackSettings(namespace="ml", gpu_node_selectors={"A10G": {"pool": "a10g"}})
    rendered = _render(gpu_chain, settings, tmp_path)
    embedder = rendered.manifest("Deployment", "search-embedder")
    (container,) = _containers(embedder)
    assert container["resources"] == {
        "requests": {"cpu": "4", "memory": str(16 * 1024**3)},
        "limits": {"cpu": "4", "memory": str(16 * 1024**3), "nvidia.com/gpu": "2"},
    }
    pod = embedder["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"pool": "a10g"}  # the stack's override wins
    assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert embedder["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": 1}
    search = rendered.manifest("Deployment", "search-search")
    (cpu_container,) = _containers(search)
    assert cpu_container["resources"]["limits"] == {"cpu": "1", "memory": str(512 * 1024**2)}
    assert "nodeSelector" not in search["spec"]["template"]["spec"]
    default = _render(gpu_chain, StackSettings(namespace="ml"), tmp_path / "default")
    selector = default.manifest("Deployment", "search-embedder")["spec"]["template"]["spec"]["nodeSelector"]
    assert selector == {"nvidia.com/gpu.product": "NVIDIA-A10G"}


def test_two_renders_of_an_unchanged_chain_are_identical(tmp_path: pathlib.Path) -> None:
    text = TEXT_PIPELINE
    first = _render(text, PROD, tmp_path / "a")
    second = _render(text, PROD, tmp_path / "b")

    def comparable(rendered: RenderedChain) -> list[Any]:
        return [(r.type, r.name, r.parent, json.dumps(r.inputs, sort_keys=True).replace(str(tmp_path / "a"), "")
                 .replace(str(tmp_path / "b"), "")) for r in sorted(rendered.resources, key=lambda r: r.urn)]

    # Registration order is the event loop's; what is registered must be the same.
    assert comparable(first) == comparable(second)
    assert sorted(map(json.dumps, first.manifests)) == sorted(map(json.dumps, second.manifests))


def test_build_images_false_runs_the_registry_tag_and_builds_nothing(tmp_path: pathlib.Path) -> None:
    text = TEXT_PIPELINE
    settings = PROD.model_copy(update={"build_images": False})
    rendered = _render(text, settings, tmp_path)
    assert not [r for r in rendered.resources if r.type == "docker:index/image:Image"]
    assert not (tmp_path / "contexts").exists()
    chunker = rendered.manifest("Deployment", "text-pipeline-chunker")
    hash_ = rendered.outputs["image_hashes"]["Chunker"]
    assert _containers(chunker)[0]["image"] == f"ghcr.io/acme/text-pipeline-chunker:{hash_}"


def test_only_the_chains_pods_reach_a_chainlet_but_anyone_the_entrypoint(tmp_path: pathlib.Path) -> None:
    rendered = _render(TEXT_PIPELINE, DEV, tmp_path)
    chunker = rendered.manifest("NetworkPolicy", "text-pipeline-chunker")["spec"]
    assert chunker["podSelector"]["matchLabels"]["app.kubernetes.io/instance"] == "text-pipeline-chunker"
    assert chunker["ingress"] == [{"ports": [{"port": 8080, "protocol": "TCP"}], "from": [
        {"podSelector": {"matchLabels": {"app.kubernetes.io/part-of": "text-pipeline"}}}]}]
    entry = rendered.manifest("NetworkPolicy", "text-pipeline-text-pipeline")["spec"]
    assert "from" not in entry["ingress"][0]


HEALTH_CHAIN = """
import infra_chains as chains


@chains.mark_entrypoint
class Patient(chains.ChainletBase):
    remote_config = chains.RemoteConfig(options=chains.ChainletOptions(health_checks={
        "restart_check_delay_seconds": 20, "restart_threshold_seconds": 30,
        "stop_traffic_threshold_seconds": 10, "startup_threshold_seconds": 1800}))

    async def run_remote(self, text: str) -> str:
        return text
"""


def test_health_checks_set_the_probes(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "patient.py"
    path.write_text(HEALTH_CHAIN)
    rendered = render(path, settings=DEV, context_root=tmp_path / "contexts")
    (deployment,) = rendered.of_kind("Deployment")
    kubernetes_validate.validate(deployment, "1.33.0", strict=True)
    (container,) = _containers(deployment)
    liveness, readiness, startup = (container[k] for k in ("livenessProbe", "readinessProbe", "startupProbe"))
    assert (liveness["periodSeconds"], liveness["failureThreshold"], liveness["initialDelaySeconds"]) == (1, 30, 20)
    assert (readiness["periodSeconds"], readiness["failureThreshold"]) == (2, 5)
    assert startup["periodSeconds"] * startup["failureThreshold"] == 1800  # beyond the stack's 600 s
    assert _contract(rendered, deployment)["liveness_budget_sec"] == 30.0
    # The rollout waits for the longer startup too.
    assert deployment["spec"]["progressDeadlineSeconds"] > 1800


def test_unset_health_checks_keep_the_default_probes(rendered: RenderedChain) -> None:
    for deployment in rendered.of_kind("Deployment"):
        (container,) = _containers(deployment)
        liveness, readiness = container["livenessProbe"], container["readinessProbe"]
        assert (liveness["periodSeconds"], liveness["timeoutSeconds"], liveness["failureThreshold"]) == (1, 1, 3)
        assert "initialDelaySeconds" not in liveness
        assert (readiness["periodSeconds"], readiness["timeoutSeconds"], readiness["failureThreshold"]) == (2, 1, 1)
        assert _contract(rendered, deployment)["liveness_budget_sec"] == 3.0
