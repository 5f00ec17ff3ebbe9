"""A stack's settings → its Pulumi config, as the repo's program reads it back.

Keys are `StackSettings`' camelCase names in the ``infra-chains`` namespace; text fields are
written as they are, the others as JSON (`StackSettings.from_pulumi_config` parses them so). No
secret is ever config here: secret values go to the inline program in memory (`program.py`).
"""

from __future__ import annotations

import json

from infra_chains.components.settings import CONFIG_NAMESPACE, StackSettings

_TEXT_TYPES = (str,)


def stack_config(settings: StackSettings, *, chain_name: str | None = None,
                 kube_context: str | None = None) -> dict[str, str]:
    """``{"infra-chains:namespace": "default", "infra-chains:userEnv": "{...}", ...}``: every
    field that is set, plus the chain's name and the kubeconfig context when given."""
    config: dict[str, str] = {}
    for key, value in settings.model_dump(mode="json", by_alias=True).items():
        if value is None:
            continue
        config[f"{CONFIG_NAMESPACE}:{key}"] = value if isinstance(value, _TEXT_TYPES) else json.dumps(value, sort_keys=True)
    if chain_name is not None:
        config[f"{CONFIG_NAMESPACE}:chainName"] = chain_name
    if kube_context is not None:
        config["kubernetes:context"] = kube_context
    return config
