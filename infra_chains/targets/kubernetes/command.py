"""The `pulumi` executable behind one command object.

Everything the Kubernetes target asks of Pulumi goes through `PulumiCli.run`: the Automation
API's `LocalWorkspace` is handed an adapter over it (`workspace.py`), so tests point the whole
path at a fake ``pulumi`` script that records its argv and environment. Finding the executable
happens first and fails at once with what to install: the Automation API would otherwise raise a
bare ``FileNotFoundError`` from deep inside ``LocalWorkspace()``.

```
PulumiNotFoundError (ChainsUsageError)   no pulumi executable where we looked
PulumiCommandError  (DeploymentError)    a pulumi command exited non-zero: command, code, tail
```
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import IO

import pydantic

from infra_chains.errors import ChainsUsageError, DeploymentError

#: Names the `pulumi` executable to use (a file, or a directory holding ``pulumi`` or
#: ``bin/pulumi``); checked before PATH.
PULUMI_ENV = "INFRA_CHAINS_PULUMI"
#: Lines of output kept for an error message.
TAIL_LINES = 25

OnLine = Callable[[str], object]


class PulumiNotFoundError(ChainsUsageError):
    """No `pulumi` executable was found; says where we looked, what to install and how to point
    at an existing one."""

    def __init__(self, looked: Sequence[str]) -> None:
        super().__init__(
            "The Kubernetes target drives the Pulumi CLI, and no `pulumi` executable was found "
            f"(looked at: {'; '.join(looked)}). Install it (https://www.pulumi.com/docs/install/, "
            "e.g. `curl -fsSL https://get.pulumi.com | sh`, which puts it in ~/.pulumi/bin), or "
            f"point at an existing one with the environment variable {PULUMI_ENV}=/path/to/pulumi "
            "or KubernetesTarget(pulumi=...)."
        )
        self.looked = list(looked)


class PulumiCommandError(DeploymentError):
    """A `pulumi` command exited with a non-zero code."""

    def __init__(self, args: Sequence[str], code: int, stdout: str, stderr: str) -> None:
        tail = _tail(stderr) or _tail(stdout)
        super().__init__(
            f"`pulumi {' '.join(args)}` failed with exit code {code}."
            + (f" Its last output:\n{tail}" if tail else " It wrote nothing.")
            + "\nRun the same command with `pulumi` in a shell for the full output."
        )
        self.args_run = list(args)
        self.code = code
        self.stdout = stdout
        self.stderr = stderr


class CommandResult(pydantic.BaseModel):
    """What a finished `pulumi` command wrote, and its exit code."""

    args: list[str]
    code: int
    stdout: str
    stderr: str


def _tail(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return "\n".join(lines[-TAIL_LINES:])


def find_pulumi(explicit: str | os.PathLike[str] | None = None,
                environ: Mapping[str, str] | None = None) -> pathlib.Path:
    """The `pulumi` executable: ``explicit``, else ``$INFRA_CHAINS_PULUMI``, else PATH, else
    ``~/.pulumi/bin`` (where Pulumi's installer puts it). `PulumiNotFoundError` if none is."""
    env = os.environ if environ is None else environ
    looked: list[str] = []
    for origin, value in (("the given path", explicit), (PULUMI_ENV, env.get(PULUMI_ENV))):
        if value is None or str(value) == "":
            continue
        found = _executable_at(pathlib.Path(value))
        if found is not None:
            return found
        looked.append(f"{origin} {str(value)!r} (no executable pulumi there)")
        # An explicit choice that is wrong is an error, not a reason to run another pulumi.
        raise PulumiNotFoundError(looked)
    looked.append(f"{PULUMI_ENV} (unset)")
    on_path = shutil.which("pulumi", path=env.get("PATH", ""))
    if on_path is not None:
        return pathlib.Path(on_path)
    looked.append("PATH")
    home = pathlib.Path(env.get("HOME") or pathlib.Path.home()) / ".pulumi" / "bin"
    found = _executable_at(home)
    if found is not None:
        return found
    looked.append(str(home))
    raise PulumiNotFoundError(looked)


def _executable_at(path: pathlib.Path) -> pathlib.Path | None:
    for candidate in (path, path / "pulumi", path / "bin" / "pulumi"):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate.absolute()
    return None


class PulumiCli:
    """One `pulumi` executable and how to run it.

    Every command runs non-interactively (a prompt would hang a deploy) with the update check
    off; ``env`` adds to (never replaces) the caller's environment, so a backend login, a
    kubeconfig or ``PULUMI_CONFIG_PASSPHRASE`` set by the user reach the engine.
    """

    def __init__(self, executable: str | os.PathLike[str] | None = None,
                 env: Mapping[str, str] | None = None) -> None:
        self.executable = find_pulumi(executable)
        self.env = dict(env or {})
        self._version: str | None = None

    def version(self) -> str:
        """The CLI's version without a leading ``v`` (e.g. ``3.200.0``), asked once."""
        if self._version is None:
            out = self.run(["version"]).stdout.strip()
            self._version = out[1:] if out.startswith("v") else out
        return self._version

    def run(
        self,
        args: Sequence[str],
        *,
        cwd: str | os.PathLike[str] | None = None,
        env: Mapping[str, str] | None = None,
        on_stdout: OnLine | None = None,
        on_stderr: OnLine | None = None,
    ) -> CommandResult:
        """Run ``pulumi ARGS``; each output line goes to its callback as it arrives.

        Raises `PulumiCommandError` (the command, its exit code, the tail of its output) when it
        exits non-zero.
        """
        argv = list(args)
        if "--non-interactive" not in argv and argv != ["version"]:
            # Before any `--` separator, or cobra would take it for a positional argument.
            argv.insert(0, "--non-interactive")
        full_env = {**os.environ, **self.env, **(env or {}),
                    "PULUMI_SKIP_UPDATE_CHECK": "true"}
        # Plugins shipped beside the executable (language hosts, providers) win over others.
        full_env["PATH"] = os.pathsep.join([str(self.executable.parent), full_env.get("PATH", "")])
        stdout: list[str] = []
        stderr: list[str] = []
        with subprocess.Popen(
            [str(self.executable), *argv], cwd=cwd, env=full_env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, encoding="utf-8", errors="replace",
        ) as process:
            assert process.stdout is not None and process.stderr is not None  # PIPE given above
            readers = [
                threading.Thread(target=_pump, args=(process.stdout, stdout, on_stdout), daemon=True),
                threading.Thread(target=_pump, args=(process.stderr, stderr, on_stderr), daemon=True),
            ]
            for reader in readers:
                reader.start()
            for reader in readers:
                reader.join()
            code = process.wait()
        result = CommandResult(args=argv, code=code, stdout="\n".join(stdout), stderr="\n".join(stderr))
        if code != 0:
            raise PulumiCommandError(argv, code, result.stdout, result.stderr)
        return result

    def __repr__(self) -> str:
        return f"PulumiCli({str(self.executable)!r})"


def _pump(stream: IO[str], lines: list[str], callback: OnLine | None) -> None:
    for line in iter(stream.readline, ""):
        text = line.rstrip("\n")
        lines.append(text)
        if callback is not None:
            callback(text)
    stream.close()
