"""A confined process for hostile bytes: what the desk runs its parsers in.

The desk holds the handler's decrypted keys, and some of what contacts
send must be parsed to be shown or forwarded: images decoded
(:mod:`._imaging`), files cleaned of their metadata (:mod:`._scrubbing`).
Parsers of images, PDFs, ZIP packages and videos are large, and some are C
with a long history of memory bugs; none of them runs in this process.
:func:`run_confined` starts a worker (``python -I -m shoal.desk.<worker>``)
by fork and exec (never a ``multiprocessing`` fork, which would copy the
keys into the process that parses hostile data) with an empty environment
(the parent's may hold a passphrase), no inherited file descriptors, ``/``
as its directory, the bytes on a pipe and, where the machine allows it:

- its own network namespace (``unshare --net``: no interface but a
  loopback that is down) and process namespace (it cannot name this
  process, let alone read its memory);
- no capabilities and no new privileges (``setpriv``), or user ``nobody``
  when that user can run this Python;
- resource limits (``prlimit``, and again by the worker itself before it
  parses anything: :meth:`Limits.apply`): address space, CPU time, the
  largest file it may write, few descriptors, no core dump;

and a wall-clock timeout here. Which of these hold is probed once per
process and told by :func:`isolation`.

What a worker answers is untrusted: it is read only to a bound here, and
each caller checks every field of it. What a worker writes to stderr is
discarded unread: a parser's error message may quote the data.

Not confined: what the worker can read. As root without capabilities (when
``nobody`` cannot run this Python) it still owns root's files; run the
desk as an ordinary user.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import resource
import selectors
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Limits", "Ran", "isolation", "run_confined", "worker_argv"]

_PIPE_CHUNK = 64 * 1024
_PROBE_TIMEOUT = 10.0
_GROUP_GRACE = 0.5
#: Where the wrappers are looked for: never the parent's PATH.
_TOOL_PATH = "/usr/bin:/bin:/usr/sbin:/sbin"
_NOBODY = 65534


@dataclass(frozen=True)
class Limits:
    """A worker's resource limits; no core dump is ever written.

    Applied twice: by ``prlimit`` before the worker starts, and by the
    worker itself (:meth:`apply`) before it reads its input, so one missing
    tool does not lift them. ``file_size`` is the largest file the worker
    (and any program it starts) may write: 0 for one that needs no file.
    """

    address_space: int
    cpu_seconds: int
    file_size: int
    open_files: int

    def _table(self) -> list[tuple[str, int, int]]:
        return [
            ("as", resource.RLIMIT_AS, self.address_space),
            ("cpu", resource.RLIMIT_CPU, self.cpu_seconds),
            ("fsize", resource.RLIMIT_FSIZE, self.file_size),
            ("nofile", resource.RLIMIT_NOFILE, self.open_files),
            ("core", resource.RLIMIT_CORE, 0),
        ]

    def options(self) -> list[str]:
        """These limits as ``prlimit`` options."""
        return [f"--{name}={value}:{value}" for name, _, value in self._table()]

    def apply(self) -> None:
        """Lower this process's limits to these; never raise one."""
        for _, which, value in self._table():
            soft, hard = resource.getrlimit(which)
            hard = value if hard == resource.RLIM_INFINITY else min(hard, value)
            soft = hard if soft == resource.RLIM_INFINITY else min(soft, hard)
            resource.setrlimit(which, (soft, hard))


@dataclass(frozen=True)
class Ran:
    """How a confined process ended: ``status`` as Popen's returncode."""

    status: int
    out: bytes
    timed_out: bool = False
    overflowed: bool = False


def worker_argv(module: str, *args: str) -> list[str]:
    """The command that runs ``module`` (``shoal.desk._…_worker``) as a worker."""
    return [sys.executable, "-I", "-m", module, *args]


def isolation() -> str:
    """How workers are confined on this machine, for the desk's about text."""
    found = _confinement()
    limits = "rlimits" if found.prlimit else "rlimits set by the worker itself"
    return f"{found.description}, {limits}"


def run_confined(
    argv: Sequence[str], data: bytes, *, limits: Limits, timeout: float, limit: int
) -> Ran:
    """Run ``argv`` confined, ``data`` on its stdin; its stdout, read to ``limit`` bytes.

    The process and everything it started are killed when the time is up,
    when it writes more than ``limit``, and after it exits (a process it
    left behind would outlive its limits' purpose); this returns once they
    are gone, or half a second later if some are not yet reaped.

    :class:`OSError` if the interpreter or a wrapper does not start.
    """
    found = _confinement()
    prlimit = [found.prlimit, *limits.options(), "--"] if found.prlimit else []
    deadline = time.monotonic() + timeout
    proc = subprocess.Popen(  # noqa: S603 (a fixed argv: no shell, no input in it)
        [*found.prefix, *prlimit, *argv],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={},
        cwd="/",
        close_fds=True,
        start_new_session=True,
        bufsize=0,
    )
    try:
        out, overflowed = _pump(proc, data, deadline, limit)
        exited = not overflowed and _await_exit(proc.pid, deadline)
        _kill_group(proc.pid)
        status = proc.wait()
    finally:
        if proc.returncode is None:
            _kill_group(proc.pid)
            proc.wait()
        _await_group_gone(proc.pid, time.monotonic() + _GROUP_GRACE)
    return Ran(status, out, timed_out=not exited and not overflowed, overflowed=overflowed)


#: The longest JSON head a worker may answer with.
MAX_HEADER = 64 * 1024


def split_answer(out: bytes) -> tuple[dict[str, object], bytes] | None:
    """A worker's answer: its JSON head and the bytes after it, or None if
    there is no such head (the caller refuses; the answer is untrusted)."""
    line, newline, rest = out.partition(b"\n")
    if not newline or len(line) > MAX_HEADER:
        return None
    try:
        head = json.loads(line)
    except ValueError:
        return None
    return (head, rest) if isinstance(head, dict) else None


def _pump(
    proc: subprocess.Popen[bytes], data: bytes, deadline: float, limit: int
) -> tuple[bytes, bool]:
    """Write ``data`` to the process while reading its output, until EOF or the deadline.

    Returns what was read and whether it overflowed ``limit``; stops
    without error at the deadline (the caller sees the process still alive).
    """
    assert proc.stdin is not None and proc.stdout is not None  # PIPE: both always set
    stdin, stdout = proc.stdin, proc.stdout
    view, sent, chunks, size = memoryview(data), 0, [], 0
    with selectors.DefaultSelector() as selector:
        os.set_blocking(stdin.fileno(), False)
        selector.register(stdin, selectors.EVENT_WRITE)
        selector.register(stdout, selectors.EVENT_READ)
        try:
            while len(selector.get_map()) and (left := deadline - time.monotonic()) > 0:
                for key, _ in selector.select(left):
                    if key.fileobj is stdin:
                        try:
                            sent += os.write(stdin.fileno(), view[sent : sent + _PIPE_CHUNK])
                        except BrokenPipeError:
                            sent = len(data)  # it stopped reading: its answer says why
                        if sent >= len(data):
                            selector.unregister(stdin)
                            stdin.close()
                        continue
                    chunk = os.read(stdout.fileno(), _PIPE_CHUNK)
                    if not chunk:
                        selector.unregister(stdout)
                        continue
                    size += len(chunk)
                    if size > limit:
                        return b"", True
                    chunks.append(chunk)
        finally:
            stdin.close()
            stdout.close()
    return b"".join(chunks), False


def _await_exit(pid: int, deadline: float) -> bool:
    """Whether ``pid`` exited before the deadline; it is left unreaped.

    Unreaped, its process group cannot be reused by another process, so
    killing the group afterwards cannot reach a stranger.
    """
    while True:
        if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.005)


def _await_group_gone(pgid: int, deadline: float) -> None:
    """Wait until no process of group ``pgid`` is left, or the deadline.

    Killed processes take a moment to die, and those in a process namespace
    die after its first one. A process orphaned by the kill (the worker,
    when its ``unshare`` was killed) is a zombie until init reaps it, and an
    init that is slow to reap costs the whole wait, on refusals only.
    """
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.005)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # the group is gone: nothing is left
        os.killpg(pid, signal.SIGKILL)


# -- what this machine permits ----------------------------------------------


@dataclass(frozen=True)
class _Confinement:
    """The wrappers' argv prefix, its words in :func:`isolation`, and prlimit's path."""

    prefix: tuple[str, ...]
    description: str
    prlimit: str | None = None


#: A wrapper's argv prefix, and its words in :func:`isolation`.
_Wrapper = tuple[list[str], str]


@functools.cache
def _confinement() -> _Confinement:
    """The strongest confinement this machine permits, probed once by running it.

    Namespaces, then dropped privileges, are each tried with the real
    interpreter (``nobody`` may not be able to read it) and the first that
    starts is kept; a probe that fails costs a few milliseconds, once.
    Each is probed under ``prlimit`` where there is one, as workers run.
    """
    unshare, setpriv, prlimit = (
        shutil.which(tool, path=_TOOL_PATH) for tool in ("unshare", "setpriv", "prlimit")
    )
    root = os.geteuid() == 0
    after = [prlimit, "--core=0:0", "--"] if prlimit is not None else []
    spaces: list[_Wrapper] = []
    if unshare is not None:
        # As root, a user namespace would add nothing; otherwise it is what
        # lets an unprivileged user make the others.
        user = [] if root else ["--map-root-user"]
        pid = ["--pid", "--fork", "--kill-child", "--mount-proc"]
        spaces = [
            ([unshare, "--net", *pid, *user, "--"], "network and process namespaces (unshare)"),
            ([unshare, "--net", *user, "--"], "network namespace (unshare -n)"),
        ]
    privileges: list[_Wrapper] = []
    if setpriv is not None:
        no_caps = [
            "--no-new-privs",
            "--bounding-set=-all",
            "--inh-caps=-all",
            "--ambient-caps=-all",
        ]
        if root:
            nobody = [f"--reuid={_NOBODY}", f"--regid={_NOBODY}", "--clear-groups"]
            privileges.append(([setpriv, *nobody, *no_caps, "--"], "user nobody"))
        privileges += [
            ([setpriv, *no_caps, "--"], "no capabilities"),
            ([setpriv, "--no-new-privs", "--"], "no new privileges"),
        ]
    space = _first_that_starts(spaces, [], after)
    privilege = _first_that_starts(privileges, space[0], after)
    parts = [space[1] or "no network namespace (unshare not permitted)"]
    parts += [privilege[1]] if privilege[1] else []
    return _Confinement(tuple(space[0] + privilege[0]), ", ".join(parts), prlimit)


def _first_that_starts(
    candidates: Sequence[_Wrapper], before: list[str], after: list[str]
) -> _Wrapper:
    for argv, words in candidates:
        if _starts([*before, *argv, *after]):
            return argv, words
    return [], ""


def _starts(prefix: Sequence[str]) -> bool:
    try:
        done = subprocess.run(  # noqa: S603 (fixed tools, found on a fixed path)
            [*prefix, sys.executable, "-I", "-c", "pass"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={},
            cwd="/",
            close_fds=True,
            timeout=_PROBE_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0
