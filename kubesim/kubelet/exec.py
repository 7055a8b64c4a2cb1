"""`kubectl exec`'s far end: a process started for a remote command, as the kubelet sees it.

The API server relays the remote-command protocol (stdin, stdout, stderr, resize, exit code) to an
`ExecProcess`, whatever runs it. `spawn` is the one way kubesim starts such a process on this host:
with pipes, or with a pseudo-terminal when the client asked for a TTY (then stdout carries the
terminal's output, there is no separate stderr, and `resize` sets the window size the program
sees). The process runtime passes a `prefix` (an `nsenter` into the pod's namespaces) so the
command runs inside the pod.

The process leads a session of its own, so `kill` reaches everything it started, and an exit by
signal N is reported as 128 + N, as a shell and the container runtimes report it.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import signal
import struct
import termios
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

__all__ = ["ExecProcess", "ExecRefused", "InputSink", "OutputSource", "spawn"]

_READ_SIZE = 65536


class ExecRefused(Exception):
    """The runtime cannot run a command in this container; the message says why (for the user)."""


class OutputSource(Protocol):
    """A byte stream out of the process (`asyncio.StreamReader` is one)."""

    async def read(self, n: int = -1) -> bytes:
        """Up to `n` bytes; b"" at end of stream."""
        ...


class InputSink(Protocol):
    """The process's standard input (`asyncio.StreamWriter` is one)."""

    def write(self, data: bytes) -> None:
        """Queue `data` for the process."""

    async def drain(self) -> None:
        """Wait until the queued data has been taken (flow control)."""

    def close(self) -> None:
        """End of input: the process reads EOF."""


class ExecProcess(Protocol):
    """A running remote command."""

    @property
    def stdin(self) -> InputSink | None:
        """Its input, when the client asked to send some."""

    @property
    def stdout(self) -> OutputSource:
        """Its output (with a TTY: everything the terminal shows)."""

    @property
    def stderr(self) -> OutputSource | None:
        """Its error output; None with a TTY."""

    def resize(self, cols: int, rows: int) -> None:
        """Set the terminal size (no effect without a TTY)."""

    async def wait(self) -> int:
        """Wait for the exit; the exit code (128 + N after signal N)."""
        ...

    def kill(self) -> None:
        """SIGKILL the process and what it started (the client went away)."""


async def spawn(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
    tty: bool = False,
    stdin: bool = False,
    prefix: Sequence[str] = (),
) -> ExecProcess:
    """Start `prefix + argv`; FileNotFoundError/PermissionError if it cannot be executed."""
    command = [*prefix, *argv]
    if tty:
        return await _PtyProcess.start(command, env=env, cwd=cwd, stdin=stdin)
    process = await asyncio.create_subprocess_exec(
        *command,
        stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=cwd,
        start_new_session=True,
    )
    return _PipeProcess(process)


def _exit_code(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


class _PipeProcess:
    """A remote command on pipes."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process
        assert process.stdout is not None
        assert process.stderr is not None
        self._stdout: OutputSource = process.stdout
        self._stderr: OutputSource = process.stderr

    @property
    def stdin(self) -> InputSink | None:
        return self._process.stdin

    @property
    def stdout(self) -> OutputSource:
        return self._stdout

    @property
    def stderr(self) -> OutputSource | None:
        return self._stderr

    def resize(self, cols: int, rows: int) -> None:
        """Without a terminal there is nothing to resize."""

    async def wait(self) -> int:
        return _exit_code(await self._process.wait())

    def kill(self) -> None:
        if self._process.returncode is None:
            _kill_group(self._process.pid)


class _PtyProcess:
    """A remote command on a pseudo-terminal it has as its controlling terminal."""

    def __init__(self, process: asyncio.subprocess.Process, master: int, *, stdin: bool) -> None:
        self._process = process
        self._master = master
        self._output = _MasterReader(master)
        self._input = _MasterWriter(master, self._output) if stdin else None

    @classmethod
    async def start(
        cls,
        command: list[str],
        *,
        env: Mapping[str, str] | None,
        cwd: str | Path | None,
        stdin: bool,
    ) -> _PtyProcess:
        master, slave = os.openpty()
        try:
            process = await asyncio.create_subprocess_exec(
                *command,
                stdin=slave,
                stdout=slave,
                stderr=slave,
                env=env,
                cwd=cwd,
                start_new_session=True,
                preexec_fn=_take_terminal,
            )
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        os.set_blocking(master, False)
        return cls(process, master, stdin=stdin)

    @property
    def stdin(self) -> InputSink | None:
        return self._input

    @property
    def stdout(self) -> OutputSource:
        return self._output

    @property
    def stderr(self) -> OutputSource | None:
        return None

    def resize(self, cols: int, rows: int) -> None:
        with contextlib.suppress(OSError):
            fcntl.ioctl(self._master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    async def wait(self) -> int:
        return _exit_code(await self._process.wait())

    def kill(self) -> None:
        if self._process.returncode is None:
            _kill_group(self._process.pid)


def _take_terminal() -> None:
    """In the child, after setsid: make stdin (the pty's slave) the controlling terminal."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class _MasterReader:
    """Reads a pty master until the terminal's last holder has gone (EIO is its EOF)."""

    def __init__(self, master: int) -> None:
        self._master = master
        self.closed = asyncio.Event()

    async def read(self, n: int = -1) -> bytes:
        size = _READ_SIZE if n < 0 else n
        while not self.closed.is_set():
            try:
                data = os.read(self._master, size)
            except BlockingIOError:
                await self._readable()
                continue
            except OSError as exc:
                if exc.errno != errno.EIO:
                    raise
                data = b""
            if data:
                return data
            self._close()
        return b""

    async def _readable(self) -> None:
        loop = asyncio.get_running_loop()
        ready = loop.create_future()
        loop.add_reader(self._master, ready.set_result, None)
        try:
            await ready
        finally:
            loop.remove_reader(self._master)

    def _close(self) -> None:
        self.closed.set()
        with contextlib.suppress(OSError):
            os.close(self._master)


class _MasterWriter:
    """Writes the client's keystrokes into a pty master (while the reader keeps it open)."""

    def __init__(self, master: int, reader: _MasterReader) -> None:
        self._master = master
        self._reader = reader
        self._queued = b""

    def write(self, data: bytes) -> None:
        self._queued += data
        self._flush()

    async def drain(self) -> None:
        """Wait until the terminal took everything written (it pushes back when its buffer is full)."""
        loop = asyncio.get_running_loop()
        while self._flush():
            writable = loop.create_future()
            loop.add_writer(self._master, writable.set_result, None)
            try:
                await writable
            finally:
                loop.remove_writer(self._master)

    def close(self) -> None:
        """Send the terminal's end-of-file character (the master stays open for output)."""
        self.write(b"\x04")

    def _flush(self) -> bool:
        """Write what the terminal takes now; whether some is still queued."""
        while self._queued and not self._reader.closed.is_set():
            try:
                self._queued = self._queued[os.write(self._master, self._queued) :]
            except BlockingIOError:
                return True
            except OSError:
                self._queued = b""
        self._queued = self._queued if not self._reader.closed.is_set() else b""
        return bool(self._queued)
