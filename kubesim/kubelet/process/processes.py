"""One container instance as a host process: started, its output logged, its exit observed.

The process is started in a session of its own (`start_new_session`), so its process group is
the container: SIGTERM and SIGKILL go to the group, and when the main process exits whatever it
left in the group is killed, as a container's PID namespace would. Output and exit are watched
with the event loop's readers (pipes, and a pidfd for the exit) rather than asyncio's subprocess
transports, so that dropping a pod at any moment leaves nothing to finalize later.

Output goes, as it arrives, to the instance's log writer (`kubelet.logs.LogWriter`, which
writes CRI-format lines).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

__all__ = ["ContainerProcess", "exit_code"]

_CHUNK = 65536


def exit_code(returncode: int) -> int:
    """A container exit code: 128 + signal for a signalled process, as runtimes report it."""
    return 128 - returncode if returncode < 0 else returncode


class ContainerProcess:
    """A running container process and the readers that follow it."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: dict[str, str],
        on_data: Callable[[str, bytes], None],
        cwd: Path | None = None,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._on_data = on_data
        self._popen = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
        self.pid = self._popen.pid
        self.exited: asyncio.Future[int] = self._loop.create_future()
        self._pipes: dict[int, str] = {}
        self._files: dict[int, IO[bytes]] = {}
        for stream, pipe in (("stdout", self._popen.stdout), ("stderr", self._popen.stderr)):
            assert pipe is not None
            fd = pipe.fileno()
            os.set_blocking(fd, False)
            self._pipes[fd] = stream
            self._files[fd] = pipe
            self._loop.add_reader(fd, self._read, fd)
        self._pidfd = os.pidfd_open(self.pid)
        self._loop.add_reader(self._pidfd, self._reap)

    def signal_group(self, sig: signal.Signals) -> None:
        """Send `sig` to the container's process group (ignored once it is gone)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    def _read(self, fd: int, *, final: bool = False) -> None:
        stream = self._pipes[fd]
        try:
            data = os.read(fd, _CHUNK)
        except BlockingIOError:
            # Drained after the exit: a descendant that left the group may still hold the pipe.
            if final:
                self._close_pipe(fd)
            return
        except OSError:
            data = b""
        if not data:
            self._close_pipe(fd)
            return
        self._on_data(stream, data)

    def _close_pipe(self, fd: int) -> None:
        if fd not in self._pipes:
            return
        del self._pipes[fd]
        self._loop.remove_reader(fd)
        self._files.pop(fd).close()

    def _reap(self) -> None:
        code = self._popen.poll()
        if code is None:
            return
        self._loop.remove_reader(self._pidfd)
        os.close(self._pidfd)
        # What the main process left behind dies with the container.
        self.signal_group(signal.SIGKILL)
        for fd in list(self._pipes):
            while fd in self._pipes:
                self._read(fd, final=True)
        if not self.exited.done():
            self.exited.set_result(exit_code(code))

    def kill_now(self) -> None:
        """SIGKILL the group, wait for the main process and release everything (synchronous)."""
        self.signal_group(signal.SIGKILL)
        if not self.exited.done():
            self._popen.wait()
            self._reap()
        for fd in list(self._pipes):
            self._close_pipe(fd)
