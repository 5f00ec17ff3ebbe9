"""`infra_chains.testing.render`'s own guards: what Pulumi's mocks let through is caught."""

from __future__ import annotations

import pathlib

import pytest

pytest.importorskip("pulumi")

from infra_chains import testing  # noqa: E402
from infra_chains.errors import ChainsUsageError  # noqa: E402

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def test_two_resources_with_one_urn_are_an_error() -> None:
    """Pulumi's mocks accept a second registration of a URN; a real engine refuses it."""
    import pulumi_kubernetes as k8s

    def program() -> None:
        for _ in range(2):
            k8s.core.v1.ConfigMap("same-name", metadata={"namespace": "ns"}, data={"a": "b"})

    mocks_class, monitor_class = testing._mock_classes()
    monitor = monitor_class(mocks_class())
    with pytest.raises(ChainsUsageError, match=r"Two resources have the URN .*same-name"):
        testing._run(program, monitor, "dev")


def test_two_objects_with_one_kind_namespace_and_name_are_an_error() -> None:
    """Different Pulumi names, one Kubernetes object: the second apply would overwrite the first."""
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "chunker", "namespace": "ml"}}
    testing._check_unique_objects([service, {**service, "metadata": {"name": "chunker", "namespace": "other"}}])
    with pytest.raises(ChainsUsageError, match=r"Two Service objects are named 'chunker' in namespace 'ml'"):
        testing._check_unique_objects([service, dict(service)])


def test_every_resource_gets_an_id_so_outputs_resolve() -> None:
    """A mock returning no id silently skips every apply on the resource: outputs would be empty."""
    rendered = testing.render(EXAMPLES / "hello.py")
    assert rendered.outputs["chainlet_urls"] and rendered.outputs["image_refs"]
    assert all(m["metadata"]["name"] for m in rendered.manifests)  # provider-computed names filled
