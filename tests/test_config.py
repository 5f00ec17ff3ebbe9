"""Config models: `infra_chains/remote_config.py` and the runtime values of `public_types.py`.

Good values are accepted; each bad value fails with a message naming the value and the rule.
"""

import pathlib
import sys
from typing import Any

import pydantic
import pytest

import infra_chains as chains
from infra_chains._config_model import ConfigModel
from infra_chains.errors import ConfigValueError
from infra_chains.remote_config import KNOWN_GPUS


def error_of(model: type[pydantic.BaseModel], **fields: Any) -> str:
    """The message of constructing ``model`` with bad ``fields``: a `ConfigValueError` for the
    config a user writes in a chain file, pydantic's own error for the other models."""
    expected = ConfigValueError if issubclass(model, ConfigModel) else pydantic.ValidationError
    with pytest.raises(expected) as info:
        model(**fields)
    return str(info.value)


# --- Compute -----------------------------------------------------------------------------------


def test_compute_defaults() -> None:
    compute = chains.Compute()
    assert (compute.cpu_count, compute.memory, compute.gpu, compute.gpu_count) == (1, "2Gi", None, 1)
    assert compute.predict_concurrency == 1
    assert compute.memory_bytes == 2 * 1024**3


def test_compute_takes_truss_chains_positional_arguments() -> None:
    # truss-chains' Compute is a plain class: `chains.Compute(4, "1Gi")` in its tests.
    assert chains.Compute(4, "1Gi", "T4") == chains.Compute(cpu_count=4, memory="1Gi", gpu="T4")
    assert chains.Compute(2, predict_concurrency=3).predict_concurrency == 3
    with pytest.raises(TypeError, match=r"Compute\(\) got multiple values for cpu_count"):
        chains.Compute(4, cpu_count=2)
    with pytest.raises(TypeError, match=r"at most 5 positional arguments .* but 6 were given"):
        chains.Compute(1, "1Gi", None, 1, 1, 9)
    with pytest.raises(TypeError, match=r"RemoteConfig\(\) takes keyword arguments only"):
        chains.RemoteConfig(chains.DockerImage())


@pytest.mark.parametrize(
    ("memory", "size"),
    [("2Gi", 2 * 1024**3), ("512Mi", 512 * 1024**2), ("1.5G", 1_500_000_000), ("100", 100),
     (" 1Ti ", 1024**4), ("64Ki", 64 * 1024)],
)
def test_memory_accepts_quantities(memory: str, size: int) -> None:
    compute = chains.Compute(memory=memory)
    assert compute.memory_bytes == size
    assert compute.memory == memory.strip()


@pytest.mark.parametrize("memory", ["2GB", "lots", "", "2 Gi", "-1Gi", "Gi"])
def test_memory_rejects_other_strings(memory: str) -> None:
    message = error_of(chains.Compute, memory=memory)
    assert f"memory {memory!r}" in message and "'512Mi'" in message


def test_memory_must_be_positive() -> None:
    assert "more than zero" in error_of(chains.Compute, memory="0Gi")


@pytest.mark.parametrize("cpu_count", [0, -2])
def test_cpu_count_at_least_one(cpu_count: int) -> None:
    message = error_of(chains.Compute, cpu_count=cpu_count)
    assert "cpu_count" in message and "greater than or equal to 1" in message


def test_gpu_from_known_list() -> None:
    assert chains.Compute(gpu="A10G").gpu == "A10G"
    message = error_of(chains.Compute, gpu="RTX9090")
    assert "unknown gpu 'RTX9090'" in message
    assert all(name in message for name in KNOWN_GPUS)


@pytest.mark.parametrize(("given", "canonical"), [("a10g", "A10G"), ("h100", "H100"), ("l40s", "L40S")])
def test_gpu_is_case_insensitive(given: str, canonical: str) -> None:
    assert chains.Compute(gpu=given).gpu == canonical


def test_gpu_count_in_gpu_string() -> None:
    compute = chains.Compute(gpu="A10G:2")
    assert (compute.gpu, compute.gpu_count) == ("A10G", 2)
    assert chains.Compute(gpu="t4", gpu_count=4).gpu_count == 4


@pytest.mark.parametrize("gpu", ["A10G:0", "A10G:x", "A10G:-1"])
def test_gpu_count_in_gpu_string_must_be_positive(gpu: str) -> None:
    assert "positive integer" in error_of(chains.Compute, gpu=gpu)


def test_gpu_count_at_least_one() -> None:
    assert "gpu_count" in error_of(chains.Compute, gpu="T4", gpu_count=0)


def test_predict_concurrency() -> None:
    assert chains.Compute(predict_concurrency=8).resolved_predict_concurrency == 8
    compute = chains.Compute(cpu_count=4, predict_concurrency="cpu_count")
    assert compute.predict_concurrency == "cpu_count"
    assert compute.resolved_predict_concurrency == 4


@pytest.mark.parametrize("value", [0, -1, "cpus", "many"])
def test_predict_concurrency_rejects(value: Any) -> None:
    assert "predict_concurrency" in error_of(chains.Compute, predict_concurrency=value)


# --- extra fields, frozen models -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "typo"),
    [(chains.Compute, "cpus"), (chains.RemoteConfig, "computes"), (chains.Assets, "secrets"),
     (chains.DockerImage, "pip_requirement"), (chains.RPCOptions, "retry"),
     (chains.CustomImage, "tag"), (chains.ExternalDataItem, "path"),
     (chains.ServiceDescriptor, "url"), (chains.DeploymentContext, "secret")],
)
def test_typos_are_errors(model: type[pydantic.BaseModel], typo: str) -> None:
    message = error_of(model, **{typo: "x"})
    if issubclass(model, ConfigModel):
        assert f"has no field `{typo}`" in message
    else:
        assert typo in message and "Extra inputs are not permitted" in message


def test_config_is_frozen() -> None:
    compute = chains.Compute()
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        compute.cpu_count = 4  # type: ignore[misc]


# --- a bad config value is a definition problem at the user's line ---------------------------------


def test_bad_value_names_file_line_code_and_fix() -> None:
    line = sys._getframe().f_lineno + 2
    with pytest.raises(chains.ChainsUsageError) as info:
        chains.Compute(cpu_count=0)
    error = info.value
    assert isinstance(error, ValueError)  # as the pydantic error it replaces was
    (problem,) = error.problems
    assert (problem.file, problem.line, problem.code) == (__file__, line, "compute-value")
    assert problem.location == "test_bad_value_names_file_line_code_and_fix"
    assert str(problem) == (
        f"{__file__}:{line} (test_bad_value_names_file_line_code_and_fix) [compute-value]: "
        "cpu_count=0 in `Compute(...)`: input should be greater than or equal to 1 — change "
        "`cpu_count`; see help(chains.Compute)"
    )
    assert str(error).startswith("1 problem in the chain definition:\n  ")


def test_bad_value_in_a_class_body_names_the_chainlet_member() -> None:
    with pytest.raises(chains.ChainsUsageError) as info:

        class Worker(chains.ChainletBase):
            remote_config = chains.RemoteConfig(
                assets=chains.Assets(secret_keys=["ok"]),
                compute=chains.Compute(
                    memory="lots",
                ),
            )

            def run_remote(self) -> int:
                return 1

    (problem,) = info.value.problems
    assert problem.location.endswith("Worker.remote_config")
    assert problem.code == "compute-value" and "memory='lots'" in problem.message


def test_typo_suggests_the_field() -> None:
    message = error_of(chains.RemoteConfig, replicass=2)
    assert "[remote-config-value]" in message
    assert "has no field `replicass` — did you mean `replicas`?" in message
    nested = error_of(chains.RemoteConfig, compute={"cpus": 2})
    assert "has no field `compute.cpus` — did you mean `cpu_count`?" in nested


def test_every_bad_value_is_reported() -> None:
    with pytest.raises(chains.ChainsUsageError) as info:
        chains.Compute(cpu_count=0, gpu_count=0)
    assert [p.message.split("=")[0] for p in info.value.problems] == ["cpu_count", "gpu_count"]
    assert str(info.value).startswith("2 problems in the chain definition:")


def test_documents_keep_pydantic_errors() -> None:
    # A contract or state file is validated, not called: its reader wraps the pydantic error.
    with pytest.raises(pydantic.ValidationError):
        chains.RPCOptions.model_validate({"retries": 0})
    with pytest.raises(pydantic.ValidationError):
        chains.RemoteConfig.model_validate({"compute": {"cpu_count": 0}})


# --- RemoteConfig, DockerImage, images ---------------------------------------------------------


def test_remote_config_defaults() -> None:
    config = chains.RemoteConfig()
    assert config.docker_image == chains.DockerImage()
    assert config.compute == chains.Compute()
    assert config.assets == chains.Assets()
    assert (config.name, config.replicas) == (None, 1)


@pytest.mark.parametrize("name", ["", "1abc", "has space", "x" * 64])
def test_remote_config_name_rejects(name: str) -> None:
    assert "name" in error_of(chains.RemoteConfig, name=name)


def test_remote_config_replicas_at_least_one() -> None:
    assert "replicas" in error_of(chains.RemoteConfig, replicas=0)


def test_docker_image_base_images() -> None:
    assert chains.DockerImage().base_image is chains.BasetenImage.PY311
    assert chains.DockerImage(base_image="python:3.12-slim").base_image == chains.CustomImage(
        image="python:3.12-slim"
    )
    assert all(i.value == "py" + i.python_version.replace(".", "") for i in chains.BasetenImage)


def test_docker_image_rejects_blank_requirements() -> None:
    assert "empty strings" in error_of(chains.DockerImage, pip_requirements=["numpy", " "])
    assert "empty strings" in error_of(chains.DockerImage, apt_requirements=[""])


def test_docker_image_paths_are_abs_paths(tmp_path: pathlib.Path) -> None:
    requirements = chains.make_abs_path_here(str(tmp_path / "requirements.txt"))
    image = chains.DockerImage(pip_requirements_file=requirements, data_dir=chains.make_abs_path_here("."))
    assert image.pip_requirements_file == requirements
    assert image.data_dir is not None and str(image.data_dir) == str(pathlib.Path(__file__).parent)


def test_docker_image_rejects_an_empty_image_name() -> None:
    assert "base_image is empty" in error_of(chains.DockerImage, base_image=" ")


def test_custom_image() -> None:
    assert "image" in error_of(chains.CustomImage, image="")
    message = error_of(chains.CustomImage, image="x", python_executable_path="bin/python")
    assert "must be absolute" in message and "'bin/python'" in message
    auth = chains.DockerAuthSettings(secret_name="registry-creds")
    assert chains.CustomImage(image="x", docker_auth=auth).docker_auth == auth
    assert "auth_method" in error_of(chains.DockerAuthSettings, secret_name="s", auth_method="PASSWORD")


# --- Assets -------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["hf_access_token", "API-KEY", "a.b", "X9"])
def test_secret_keys_accept_names(key: str) -> None:
    assert chains.Assets(secret_keys=[key]).secret_keys == [key]


@pytest.mark.parametrize("key", ["", "has space", "a/b", "tok$n", "ключ"])
def test_secret_keys_reject_other_names(key: str) -> None:
    message = error_of(chains.Assets, secret_keys=["fine", key])
    assert f"secret key {key!r}" in message and "letters, digits" in message


def test_external_data_item() -> None:
    item = chains.ExternalDataItem(url="https://example.com/w.bin", local_data_path="models/w.bin")
    assert chains.Assets(external_data=[item]).external_data == [item]


@pytest.mark.parametrize("path", ["/etc/passwd", "../outside", "a/../../b"])
def test_external_data_path_must_stay_inside_data_dir(path: str) -> None:
    message = error_of(chains.ExternalDataItem, url="https://example.com/x", local_data_path=path)
    assert f"got {path!r}" in message and "relative inside data_dir" in message


@pytest.mark.parametrize("url", ["ftp://example.com/x", "example.com/x", "s3://bucket/key"])
def test_external_data_url_must_be_http(url: str) -> None:
    message = error_of(chains.ExternalDataItem, url=url, local_data_path="x")
    assert f"got {url!r}" in message


def test_model_repo() -> None:
    assert chains.ModelRepo(repo_id="org/model", revision="main").repo_id == "org/model"
    assert "repo_id" in error_of(chains.ModelRepo, repo_id="")


# --- RPCOptions, ServiceDescriptor, DeploymentContext --------------------------------------------


def test_rpc_options_defaults() -> None:
    options = chains.RPCOptions()
    assert (options.retries, options.timeout_sec, options.use_binary, options.concurrency_limit) == (
        1, 600.0, False, 300
    )


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [("retries", 0, "greater than or equal to 1"), ("timeout_sec", 0, "greater than 0"),
     ("timeout_sec", -1.5, "greater than 0"), ("concurrency_limit", 0, "greater than or equal to 1"),
     ("retries", "many", "valid integer")],
)
def test_rpc_options_ranges(field: str, value: Any, rule: str) -> None:
    message = error_of(chains.RPCOptions, **{field: value})
    assert field in message and rule in message


def test_service_descriptor() -> None:
    descriptor = chains.ServiceDescriptor(name="Leaf", predict_url="https://leaf.example/predict")
    assert descriptor.options == chains.RPCOptions()


@pytest.mark.parametrize("url", ["leaf:8000/predict", "ftp://leaf/predict", ""])
def test_service_descriptor_url_must_be_http(url: str) -> None:
    message = error_of(chains.ServiceDescriptor, name="Leaf", predict_url=url)
    assert f"got {url!r}" in message and "http(s) URL" in message


class MyConfig(pydantic.BaseModel):
    threshold: float = 0.5


def test_deployment_context_is_generic_in_its_user_config() -> None:
    context = chains.DeploymentContext[MyConfig](user_config=MyConfig(threshold=0.9))
    assert context.user_config.threshold == 0.9
    assert "user_config" in error_of(chains.DeploymentContext[MyConfig], user_config={"threshold": "high"})


def test_deployment_context_api_key() -> None:
    context = chains.DeploymentContext(secrets={"infra_chains_api_key": "k"})
    assert context.get_api_key() == "k"
    assert context.get_baseten_api_key() == "k"


def test_deployment_context_without_api_key_says_how_to_add_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INFRA_CHAINS_API_KEY", raising=False)
    with pytest.raises(chains.ChainsRuntimeError, match="secret_keys"):
        chains.DeploymentContext().get_api_key()


def test_deployment_context_environment() -> None:
    context = chains.DeploymentContext(environment=chains.Environment(name="prod"))
    assert context.environment is not None and context.environment.name == "prod"


# --- DeploymentContext.secrets never shows a value -------------------------------------------------

SENTINEL = "s3cret-SENTINEL-value"


def context_with_secret() -> chains.DeploymentContext[None]:
    return chains.DeploymentContext(secrets={"api_token": SENTINEL, "other": "x"})


def test_secrets_read_by_name() -> None:
    secrets = context_with_secret().secrets
    assert secrets["api_token"] == SENTINEL
    assert secrets.get("api_token") == SENTINEL and secrets.get("missing", "d") == "d"
    assert "api_token" in secrets and "missing" not in secrets
    assert len(secrets) == 2 and list(secrets) == ["api_token", "other"]
    assert set(secrets.keys()) == {"api_token", "other"}
    assert dict(secrets) == {"api_token": SENTINEL, "other": "x"}  # asked for by name, explicitly


def test_a_missing_secret_names_the_known_ones_and_not_their_values() -> None:
    with pytest.raises(KeyError) as info:
        context_with_secret().secrets["nope"]  # noqa: B018
    message = str(info.value)
    assert "'api_token'" in message and "secret_keys" in message and SENTINEL not in message


@pytest.mark.parametrize(
    "render",
    [repr, str, lambda c: repr(c.secrets), lambda c: str(c.secrets), lambda c: f"{c.secrets}",
     lambda c: c.model_dump_json(), lambda c: str(c.model_dump()),
     lambda c: str(c.model_dump(mode="json")), lambda c: str(c.model_copy())],
    ids=["repr", "str", "repr-secrets", "str-secrets", "format", "dump-json", "dump", "dump-json-mode",
         "copy"],
)
def test_secret_values_never_rendered(render: Any) -> None:
    text = render(context_with_secret())
    assert SENTINEL not in text
    assert "api_token" in text  # the names are not secret


def test_bulk_reads_of_values_refuse() -> None:
    secrets = context_with_secret().secrets
    with pytest.raises(TypeError, match="one at a time by name"):
        secrets.items()
    with pytest.raises(TypeError, match="one at a time by name"):
        secrets.values()


def test_secrets_are_read_only() -> None:
    context = context_with_secret()
    with pytest.raises(TypeError):
        context.secrets["api_token"] = "y"  # type: ignore[index]
    given = {"api_token": "a"}
    copied = chains.DeploymentContext(secrets=given)
    given["api_token"] = "changed"
    assert copied.secrets["api_token"] == "a"


def test_secrets_survive_copies_but_not_pickles() -> None:
    import copy
    import pickle

    context = context_with_secret()
    assert copy.deepcopy(context).secrets["api_token"] == SENTINEL
    assert copy.copy(context.secrets)["api_token"] == SENTINEL
    with pytest.raises(TypeError, match="not pickled"):
        pickle.dumps(context)


def test_secrets_reject_non_string_values() -> None:
    assert "names and values must be strings" in error_of(chains.DeploymentContext, secrets={"k": 1})
