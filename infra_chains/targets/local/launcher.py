"""Start a chain's supervisor detached from push, with its fork server beside it.

A stdlib-only launcher (``python -I -S -c LAUNCHER``: it must start in milliseconds) forks and
exits at once: push holds no child process, the supervisor outlives the terminal. Its child
starts a session of its own (one ``killpg`` stops the supervisor with everything it started),
forks the fork server (``infra_chains.serve --fork-server``; the control socket's descriptor is
appended to its argv) and execs the supervisor with ``--fork-server <pid> <fd>``, which adopts
it (`forkserver.ForkServer.adopt`).

Why both at once: each process imports for ~0.3 s (pydantic and the package); started in turn,
those imports added up on push's critical path, started together they overlap. Why this shape:
the fork server must be the supervisor's *child* (its double fork re-parents chainlets to the
nearest child subreaper, the supervisor), and a pid keeps its children across ``exec``.

Should the supervisor not come up, the fork server's control socket closes (the supervisor held
the only other end) and the fork server exits, before or after its imports: nothing is left.
"""

from __future__ import annotations

import pathlib
import subprocess
from collections.abc import Mapping, Sequence

from infra_chains.targets.local.processes import ADOPT_FORK_SERVER_OPTION

#: Run as ``python -c LAUNCHER <supervisor argv...> [-- <fork server argv...>]``.
LAUNCHER = """\
import os, socket, sys
args = sys.argv[1:]
split = args.index("--") if "--" in args else len(args)
supervisor, fork_server = args[:split], args[split + 1:]
if os.fork() == 0:
    os.setsid()
    if fork_server:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:
            try:
                ours.close()
                os.set_inheritable(theirs.fileno(), True)
                os.environ["PYTHONUNBUFFERED"] = "1"
                os.execv(fork_server[0], [*fork_server, str(theirs.fileno())])
            finally:
                os._exit(127)
        theirs.close()
        os.set_inheritable(ours.fileno(), True)
        supervisor += [%r, str(pid), str(ours.fileno())]
    os.execv(supervisor[0], supervisor)
""" % ADOPT_FORK_SERVER_OPTION


def launch(
    python: str,
    supervisor: Sequence[str],
    fork_server: Sequence[str] | None,
    *,
    log: pathlib.Path,
    cwd: pathlib.Path,
    env: Mapping[str, str],
    timeout_sec: float,
) -> int:
    """Start ``supervisor`` (an argv) detached, and ``fork_server`` (an argv but for the control
    descriptor) as its child if given; output appended to ``log``. Returns the launcher's exit
    code (0: the supervisor was forked; whether it comes up is for the caller to watch)."""
    command = [python, "-I", "-S", "-c", LAUNCHER, *supervisor]
    if fork_server:
        command += ["--", *fork_server]
    with open(log, "ab") as out:
        # -I -S: the launcher needs neither site-packages nor PYTHON* settings (the processes it
        # execs still get all of ``env``); ~10 ms sooner.
        return subprocess.run(
            command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            close_fds=True, cwd=cwd, env=dict(env), timeout=timeout_sec,
        ).returncode
