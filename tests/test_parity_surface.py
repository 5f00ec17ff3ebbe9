"""truss-chains' current public surface (0.18) in infra_chains: the names and fields its examples
and tests use, what each does here, and the clear error where a name exists only for Baseten."""

from __future__ import annotations

import logging
import pathlib
import re
import textwrap

import pytest

import infra_chains as chains
from infra_chains import utils
from infra_chains.build.dockerfile import dockerfile
from infra_chains.build.layout import ChainletLayout
from infra_chains.deploy import chain_name_for, plan_chain
from infra_chains.framework.graph import build_graph
from infra_chains.framework.loading import load_entrypoint
from infra_chains.plan.models import stable_hash
from infra_chains.targets.contracts import runtime_contract

NOT_SUPPORTED = "not supported by infra_chains"


# -- ChainletOptions ------------------------------------------------------------------------
def test_chainlet_options_takes_truss_chains_fields() -> None:
    options = chains.ChainletOptions(
        enable_debug_logs=True,
        env_variables={"HF_HOME": "/data/hf"},
        health_checks={"restart_threshold_seconds": 600, "stop_traffic_threshold_seconds": 60},
        metadata={"team": "search", "tags": ["a", 1]},
        streaming_read_timeout=120,
        transport={"kind": "websocket", "ping_interval_seconds": 5},
    )
    config = chains.RemoteConfig(options=options)
    assert config.options.env_variables == {"HF_HOME": "/data/hf"}
    assert config.options.health_checks.restart_threshold_seconds == 600
    assert config.options.transport is not None and config.options.transport.kind == "websocket"
    assert chains.RemoteConfig().options == chains.ChainletOptions()


@pytest.mark.parametrize(("fields", "message"), [
    ({"transport": {"kind": "grpc"}}, f"'grpc' is {NOT_SUPPORTED}"),
    ({"enable_b10_tracing": True}, f"enable_b10_tracing is {NOT_SUPPORTED}"),
    ({"env_variables": {"1BAD": "x"}}, "not a valid variable name"),
    ({"env_variables": {"INFRA_CHAINS_RUNTIME": "x"}}, "reserves"),
    ({"streaming_read_timeout": 0}, "streaming_read_timeout"),
    ({"env_varables": {}}, "env_varables"),
])
def test_chainlet_options_refuses(fields: dict[str, object], message: str) -> None:
    with pytest.raises(chains.ChainsUsageError, match=re.escape(message)) as info:
        chains.ChainletOptions(**fields)  # type: ignore[arg-type]
    assert "[chainlet-options-value]" in str(info.value)


# -- DockerImage.requirements_file ----------------------------------------------------------
def test_requirements_file_and_its_older_name_are_one_setting(tmp_path: pathlib.Path) -> None:
    path = chains.make_abs_path_here(str(tmp_path / "requirements.txt"))
    for image in (chains.DockerImage(requirements_file=path),
                  chains.DockerImage(pip_requirements_file=path)):
        assert image.requirements_file == image.pip_requirements_file == path
    with pytest.raises(chains.ChainsUsageError, match="set only requirements_file"):
        chains.DockerImage(requirements_file=path,
                           pip_requirements_file=chains.make_abs_path_here(str(tmp_path / "b.txt")))


@pytest.mark.parametrize("name", ["pyproject.toml", "uv.lock"])
def test_requirements_files_truss_chains_reads_but_we_do_not_are_refused(name: str) -> None:
    with pytest.raises(chains.ChainsUsageError, match=f"{re.escape(name)}.*{NOT_SUPPORTED}"):
        chains.DockerImage(requirements_file=chains.make_abs_path_here(name))


# -- a chain file using the options, planned, built and given a contract ----------------------
CHAIN = '''
import infra_chains as chains


@chains.mark_entrypoint("My Search Chain")
class Entry(chains.ChainletBase):
    remote_config = chains.RemoteConfig(
        docker_image=chains.DockerImage(
            requirements_file=chains.make_abs_path_here("requirements.txt"),
        ),
        build_commands=["echo built > /opt/marker", "pip install --no-deps tinylib==1.0"],
        options=chains.ChainletOptions(
            env_variables={"GREETING": "hi"},
            enable_debug_logs=True,
            metadata={"owner": "search"},
            health_checks={"stop_traffic_threshold_seconds": 30},
        ),
    )

    def run_remote(self, text: str) -> str:
        return text
'''


@pytest.fixture
def chain_file(tmp_path: pathlib.Path) -> pathlib.Path:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "requirements.txt").write_text("requests==2.32.3\n")
    path = workspace / "options_chain.py"
    path.write_text(textwrap.dedent(CHAIN))
    return path


def test_the_plan_carries_build_commands_in_the_image_and_options_in_the_deployment(
    chain_file: pathlib.Path,
) -> None:
    plan = plan_chain(load_entrypoint(chain_file))
    spec = plan.entrypoint_spec
    assert spec.image.build_commands == ["echo built > /opt/marker", "pip install --no-deps tinylib==1.0"]
    assert "requests==2.32.3" in spec.image.pip_requirements  # read through `requirements_file`
    assert spec.deployment.env_variables == {"GREETING": "hi"}
    assert spec.deployment.log_level == "DEBUG"
    assert spec.deployment.metadata == {"owner": "search"}
    assert spec.deployment.health_checks.stop_traffic_threshold_seconds == 30


def test_build_commands_are_part_of_the_image_hash(chain_file: pathlib.Path) -> None:
    spec = plan_chain(load_entrypoint(chain_file)).entrypoint_spec
    assert spec.image_hash == stable_hash(spec.image)
    other = spec.image.model_copy(update={"build_commands": ["echo other"]})
    assert stable_hash(other) != spec.image_hash


def test_options_are_in_the_deployment_part_not_the_image(chain_file: pathlib.Path) -> None:
    spec = plan_chain(load_entrypoint(chain_file)).entrypoint_spec
    assert spec.deployment_hash == stable_hash(spec.deployment)
    image_fields = spec.image.model_dump()
    for field in ("env_variables", "log_level", "metadata", "health_checks"):
        assert field not in image_fields
        other = spec.deployment.model_copy(update={field: None})
        assert stable_hash(other) != spec.deployment_hash


def test_build_commands_run_after_the_requirements_and_before_the_code(chain_file: pathlib.Path) -> None:
    image = plan_chain(load_entrypoint(chain_file)).entrypoint_spec.image
    lines = dockerfile(image).splitlines()
    # The requirements are installed in a stage of their own; the image gets the venv here.
    install = next(i for i, line in enumerate(lines) if line.startswith("COPY --from=requirements /opt/venv"))
    first_copy_of_code = next(i for i, line in enumerate(lines) if line.startswith("COPY runtime"))
    user = next(i for i, line in enumerate(lines) if line.startswith("USER "))
    assert lines[install + 1:install + 3] == [
        "RUN echo built > /opt/marker", "RUN pip install --no-deps tinylib==1.0",
    ]
    assert install + 2 < first_copy_of_code < user  # as root, before the code


def test_every_targets_contract_carries_env_variables_and_the_log_level(chain_file: pathlib.Path) -> None:
    plan = plan_chain(load_entrypoint(chain_file))
    spec = plan.entrypoint_spec
    for layout in (ChainletLayout.in_image(spec.image), ChainletLayout.on_host(plan, spec)):
        contract = runtime_contract(plan, spec, layout, base_urls={}, port=8000)
        assert contract.env_variables == {"GREETING": "hi"}
        assert contract.log_level == "DEBUG"


def test_mark_entrypoint_with_a_name_gives_the_default_chain_name(chain_file: pathlib.Path) -> None:
    entry = load_entrypoint(chain_file)
    assert plan_chain(entry).chain_name == "my-search-chain"
    assert plan_chain(entry, "explicit").chain_name == "explicit"


def test_mark_entrypoint_without_a_name_keeps_the_class_name() -> None:
    @chains.mark_entrypoint
    class PlainEntry(chains.ChainletBase):
        def run_remote(self) -> str:
            return "x"

    assert chain_name_for(PlainEntry) == "plain-entry"


def test_mark_entrypoint_refuses_an_empty_name() -> None:
    with pytest.raises(chains.ChainsUsageError, match="empty chain name"):
        chains.mark_entrypoint("  ")


# -- one class per dependency argument ------------------------------------------------------
def test_the_same_dependency_class_twice_in_one_init_is_refused() -> None:
    class Dep(chains.ChainletBase):
        def run_remote(self) -> str:
            return "d"

    class Reuses(chains.ChainletBase):
        def __init__(self, a: Dep = chains.depends(Dep), b: Dep = chains.depends(Dep, retries=3)) -> None:
            self.a, self.b = a, b

        def run_remote(self) -> str:
            return "r"

    with pytest.raises(chains.ChainsUsageError) as info:
        build_graph(Reuses)
    message = str(info.value)
    assert "(Reuses.__init__) [dependency-reused]" in message
    assert "`b` depends on `Dep`, which argument `a` already depends on" in message


# -- names that exist only for Baseten ------------------------------------------------------
def test_subclassing_a_baseten_only_chainlet_says_it_is_not_supported() -> None:
    with pytest.raises(chains.ChainsUsageError) as info:

        class Llama(chains.EngineBuilderLLMChainlet):
            pass

    message = str(info.value)
    assert f"[not-supported]: {NOT_SUPPORTED}: `EngineBuilderLLMChainlet`" in message
    assert f"{__file__}:" in message  # the class statement's file and line

    with pytest.raises(chains.ChainsUsageError, match=f"{NOT_SUPPORTED}: `TrussChainlet`"):

        class Wrapped(chains.TrussChainlet):
            truss_dir = "plain_truss"


def test_instantiating_engine_builder_input_says_it_is_not_supported() -> None:
    with pytest.raises(chains.ChainsUsageError, match=f"{NOT_SUPPORTED}: `EngineBuilderLLMInput`"):
        chains.EngineBuilderLLMInput(messages=[{"role": "user", "content": "hi"}])


def test_depending_on_a_baseten_only_chainlet_says_it_is_not_supported() -> None:
    with pytest.raises(chains.ChainsUsageError, match=f"depends\\(TrussChainlet\\).*{NOT_SUPPORTED}"):

        class UsesTruss(chains.ChainletBase):
            def __init__(self, model: object = chains.depends(chains.TrussChainlet)) -> None:
                self.model = model

            def run_remote(self) -> str:
                return "x"


@pytest.mark.parametrize("name", ["EngineBuilderLLMChainlet", "TrussChainlet"])
def test_a_baseten_only_class_as_entrypoint_says_it_is_not_supported(name: str) -> None:
    cls = getattr(chains, name)
    with pytest.raises(chains.ChainsUsageError, match=NOT_SUPPORTED):
        chains.mark_entrypoint(cls)
    with pytest.raises(chains.ChainsUsageError, match=NOT_SUPPORTED):
        build_graph(cls)


# -- errors and descriptors -----------------------------------------------------------------
def test_generic_remote_exception_is_what_a_stub_raises_for_a_user_exception() -> None:
    # truss-chains raises GenericRemoteException where the remote class is not a built-in;
    # our stubs raise RemoteChainletError there, so `except chains.GenericRemoteException` works.
    assert chains.GenericRemoteException is chains.RemoteChainletError
    assert issubclass(chains.GenericRemoteException, chains.RemoteError)


def test_deployed_service_descriptor_is_built_as_truss_chains_documents_it() -> None:
    descriptor = chains.DeployedServiceDescriptor(
        name="SomeChainlet", display_name="SomeChainlet",
        predict_url="https://example.com/run_remote", options=chains.RPCOptions(),
    )
    assert isinstance(descriptor, chains.ServiceDescriptor)
    context = chains.DeploymentContext(chainlet_to_service={"SomeChainlet": descriptor})
    assert context.get_service_descriptor("SomeChainlet") is descriptor
    with chains.run_local(chainlet_to_service={"SomeChainlet": descriptor}):
        pass
    with pytest.raises(ValueError, match=f"internal_url is {NOT_SUPPORTED}"):
        chains.DeployedServiceDescriptor(
            name="x", display_name="x", options=chains.RPCOptions(),
            internal_url={"gateway_run_remote_url": "https://g", "hostname": "h"},
        )


def test_environment_reaches_the_context() -> None:
    context = chains.DeploymentContext(environment=chains.Environment(name="staging"))
    assert context.environment is not None and context.environment.name == "staging"


# -- infra_chains.utils ---------------------------------------------------------------------
def test_utils_offers_what_truss_chains_examples_import() -> None:
    assert utils.make_abs_path_here is chains.make_abs_path_here
    assert utils.expect_one([7]) == 7
    with pytest.raises(ValueError, match="none"):
        utils.expect_one([])
    with pytest.raises(ValueError, match="more than one"):
        utils.expect_one([1, 2])
    assert utils.issubclass_safe(chains.ChainletBase, object)
    assert not utils.issubclass_safe("not a class", object)


def test_random_fail_fails_at_probability_one_and_never_at_zero() -> None:
    utils.random_fail(0.0, "never")
    with pytest.raises(utils.InjectedError, match="wave_info"):
        utils.random_fail(1.0, "wave_info")
    with pytest.raises(ValueError, match="between 0 and 1"):
        utils.random_fail(1.5, "bad")


def test_log_level_restores_the_root_level() -> None:
    root = logging.getLogger()
    before = root.level
    with utils.log_level(logging.DEBUG):
        assert root.level == logging.DEBUG
    assert root.level == before


def test_setup_dev_logging_sets_level_and_format() -> None:
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    formatters = [h.formatter for h in handlers]
    try:
        utils.setup_dev_logging(logging.DEBUG)
        assert root.level == logging.DEBUG
        assert root.handlers and all(
            h.formatter is not None and "%(filename)s:%(lineno)d" in (h.formatter._fmt or "")
            for h in root.handlers
        )
    finally:
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
        for handler, formatter in zip(handlers, formatters, strict=True):
            handler.setFormatter(formatter)
        root.setLevel(level)


def test_cli_dry_run_names_the_chain_after_mark_entrypoint(
    chain_file: pathlib.Path, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from infra_chains.cli.app import main

    out = tmp_path / "generated"
    assert main(["push", str(chain_file), "--dry-run", "--out", str(out)]) == 0
    assert "chain my-search-chain" in " ".join(capsys.readouterr().out.split())
    assert (out / "my-search-chain").is_dir()


# -- ChainletOptions.transport against the endpoint (truss-chains' checks) ---------------------
def test_a_websocket_transport_on_an_http_endpoint_is_refused() -> None:
    class HttpWebsocketTransport(chains.ChainletBase):
        remote_config = chains.RemoteConfig(
            options=chains.ChainletOptions(transport={"kind": "websocket"})
        )

        async def run_remote(self) -> None: ...

    with pytest.raises(chains.ChainsUsageError,
                       match=r"\(HttpWebsocketTransport.remote_config\) \[transport-mismatch\].*"
                             r"can only be used for websocket endpoints"):
        build_graph(HttpWebsocketTransport)


def test_an_http_transport_on_a_websocket_endpoint_is_refused() -> None:
    class WebsocketHttpTransport(chains.ChainletBase):
        remote_config = chains.RemoteConfig(options=chains.ChainletOptions(transport={"kind": "http"}))

        async def run_remote(self, websocket: chains.WebSocketProtocol) -> None: ...

    with pytest.raises(chains.ChainsUsageError, match=r"must be `WebsocketOptions`.*got `HTTPOptions`"):
        build_graph(WebsocketHttpTransport)


def test_a_websocket_transport_on_a_websocket_endpoint_is_fine() -> None:
    class Socket(chains.ChainletBase):
        remote_config = chains.RemoteConfig(
            options=chains.ChainletOptions(transport={"kind": "websocket", "ping_interval_seconds": 5})
        )

        async def run_remote(self, websocket: chains.WebSocketProtocol) -> None: ...

    assert build_graph(Socket).entrypoint.endpoint.is_websocket


def test_remote_error_detail_nests_its_frame_type_as_truss_chains_does() -> None:
    frame = chains.RemoteErrorDetail.StackFrame(filename="f.py", lineno=3, name="run_remote", line="x")
    detail = chains.RemoteErrorDetail(remote_name="Leaf", exception_cls_name="ValueError",
                                      exception_message="bad", user_stack_trace=[frame])
    assert "StackFrame" not in chains.RemoteErrorDetail.model_fields
    assert chains.RemoteErrorDetail.model_validate_json(detail.model_dump_json()) == detail
