"""Pod logs through ``kubectl``: the tool every user with a kubeconfig has (no Kubernetes client).

One ``kubectl logs -l <selector> --prefix`` reads every pod of a chain (or of one chainlet); each
line comes back as ``[pod/<pod>/<container>] text`` and is turned into a `LogLine` by the pod's
Deployment, whose name is the chainlet's DNS label (`plan.names.chainlet_labels`). Following
streams lines as kubectl writes them; closing the iterator stops kubectl.

```
KubectlNotFoundError (ChainsUsageError)   no kubectl executable where we looked
KubectlError         (DeploymentError)    kubectl exited non-zero: command, code, stderr tail
```
"""

from __future__ import annotations

import collections
import os
import pathlib
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import IO

from infra_chains.errors import ChainsUsageError, DeploymentError
from infra_chains.targets.base import LogLine

#: Names the ``kubectl`` executable to use; checked before PATH.
KUBECTL_ENV = "INFRA_CHAINS_KUBECTL"
#: Most pods one followed ``kubectl logs`` streams at once (kubectl's own default, 5, is below
#: a chain's chainlets × replicas).
MAX_LOG_REQUESTS = 100
#: Lines of kubectl's stderr kept for an error message.
TAIL_LINES = 20
#: How long kubectl gets to exit after it is told to stop, before it is killed.
STOP_TIMEOUT_SEC = 5.0

#: Kubernetes cuts a generated name's prefix to this, before its 5 random characters.
_POD_STEM_MAX = 58
_PREFIXED = re.compile(r"^\[pod/(?P<pod>[^/\]]+)/(?P<container>[^\]]+)\] ?(?P<text>.*)$")


class KubectlNotFoundError(ChainsUsageError):
    """No ``kubectl`` executable was found; says what to install and how to point at one."""

    def __init__(self, looked: str) -> None:
        super().__init__(
            f"The kubernetes target reads pod logs with kubectl, and none was found ({looked}). "
            "Install kubectl (https://kubernetes.io/docs/tasks/tools/) or point at an existing "
            f"one with the environment variable {KUBECTL_ENV}=/path/to/kubectl."
        )


class KubectlError(DeploymentError):
    """A ``kubectl`` command exited with a non-zero code."""

    def __init__(self, argv: Sequence[str], code: int, stderr: str) -> None:
        super().__init__(
            f"`kubectl {' '.join(argv)}` failed with exit code {code}."
            + (f" Its last output:\n{stderr}" if stderr else " It wrote nothing.")
            + "\nCheck the kubeconfig context and namespace (`kubectl config current-context`)."
        )
        self.argv = list(argv)
        self.code = code
        self.stderr = stderr


def find_kubectl(environ: Mapping[str, str] | None = None) -> pathlib.Path:
    """``$INFRA_CHAINS_KUBECTL`` (when set, it must be an executable), else ``kubectl`` on PATH."""
    env = os.environ if environ is None else environ
    explicit = env.get(KUBECTL_ENV, "")
    if explicit:
        path = pathlib.Path(explicit)
        if path.is_file() and os.access(path, os.X_OK):
            return path.absolute()
        raise KubectlNotFoundError(f"{KUBECTL_ENV}={explicit!r} is not an executable file")
    on_path = shutil.which("kubectl", path=env.get("PATH", ""))
    if on_path is None:
        raise KubectlNotFoundError(f"{KUBECTL_ENV} is unset and PATH has no kubectl")
    return pathlib.Path(on_path)


def logs_args(*, namespace: str, selector: Mapping[str, str], lines: int, follow: bool,
              context: str | None = None, max_log_requests: int = MAX_LOG_REQUESTS) -> list[str]:
    """The arguments of ``kubectl logs`` for every pod matching ``selector`` in ``namespace``."""
    args = ["logs", "-n", namespace, "-l", ",".join(f"{k}={v}" for k, v in selector.items()),
            "--prefix", "--tail", str(lines), "--max-log-requests", str(max_log_requests)]
    if follow:
        args.append("--follow")
    if context:
        args += ["--context", context]
    return args


def chainlet_of_pod(pod: str, labels: Mapping[str, str]) -> str:
    """The chainlet whose Deployment runs ``pod`` (``labels``: chainlet → DNS label).

    A Deployment's pod is named ``<deployment>-<template hash>-<5 random>``; when that was too
    long, the part before the random suffix was cut to 58 characters, so the longest label that
    part starts with (or that starts with it) wins. A pod of no known chainlet (one removed
    since) is named by its Deployment.
    """
    by_label = {label: chainlet for chainlet, label in labels.items()}
    deployment = pod.rsplit("-", 2)[0]
    if deployment in by_label:
        return by_label[deployment]
    stem = pod[:-5]
    cut = len(stem) == _POD_STEM_MAX
    candidates = [label for label in by_label
                  if stem.startswith(f"{label}-") or (cut and label.startswith(stem))]
    return by_label[max(candidates, key=len)] if candidates else deployment


def stream_logs(kubectl: pathlib.Path, args: Sequence[str], labels: Mapping[str, str]) -> Iterator[LogLine]:
    """Run ``kubectl ARGS`` and yield its prefixed lines as `LogLine` s as they arrive.

    Stopping iteration (``close()``, garbage collection) stops kubectl; a non-zero exit raises
    `KubectlError` with its stderr tail once its output is read.
    """
    process = subprocess.Popen(
        [str(kubectl), *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, encoding="utf-8", errors="replace",
    )
    assert process.stdout is not None and process.stderr is not None  # PIPE given above
    stderr: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    reader = threading.Thread(target=_keep_tail, args=(process.stderr, stderr), daemon=True)
    reader.start()
    only = next(iter(labels)) if len(labels) == 1 else "kubectl"
    try:
        for raw in iter(process.stdout.readline, ""):
            line = raw.rstrip("\n")
            match = _PREFIXED.match(line)
            if match is None:
                yield LogLine(chainlet=only, text=line)
            else:
                yield LogLine(chainlet=chainlet_of_pod(match["pod"], labels), text=match["text"])
        code = process.wait()
        reader.join()
        if code != 0:
            raise KubectlError(args, code, "\n".join(s for s in stderr if s.strip()))
    finally:
        _stop(process)
        reader.join(timeout=STOP_TIMEOUT_SEC)


def _keep_tail(stream: IO[str], tail: collections.deque[str]) -> None:
    for line in iter(stream.readline, ""):
        tail.append(line.rstrip("\n"))
    stream.close()


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_SEC)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert process.stdout is not None
    process.stdout.close()
