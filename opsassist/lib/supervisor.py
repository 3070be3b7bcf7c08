"""A small process supervisor for `manage.py up` in service mode.

Starts each program (web, worker, beat) as a child in its own process group. A child that exits while
the supervisor is running is restarted after a back-off (1 s, 2 s, 4 s, ... up to `backoff_max`; reset
once the child has stayed up for `stable_after` seconds) while the others keep serving, and every exit
and restart is logged. SIGINT/SIGTERM is forwarded to every child; children that have not exited after
`grace` seconds are killed with their whole process group. If the supervisor itself is killed, Linux
sends each child SIGTERM (PR_SET_PDEATHSIG), so no child outlives it.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("opsassist.supervisor")

_PR_SET_PDEATHSIG = 1


@dataclass
class Program:
    """One supervised command line and its current process."""

    name: str
    argv: list[str]
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    failures: int = 0
    restart_at: float | None = None
    restarts: int = 0
    exit_codes: list[int] = field(default_factory=list)


def read_procfile(path: Path) -> list[Program]:
    """`name: command` lines; each command runs through `sh -c 'exec …'` so `${VAR:-default}` expands and
    the shell is replaced by the program (signals reach it directly)."""
    programs = []
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, command = line.partition(":")
        if not sep or not name.strip() or not command.strip():
            raise ValueError(f"{path}: '{raw}' is not 'name: command'")
        programs.append(Program(name.strip(), ["/bin/sh", "-c", "exec " + command.strip()]))
    return programs


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Supervisor:
    def __init__(
        self,
        programs: list[Program],
        env: dict[str, str] | None = None,
        cwd: str | Path | None = None,
        backoff_initial: float = 1.0,
        backoff_max: float = 30.0,
        stable_after: float = 60.0,
        grace: float = 20.0,
    ):
        self.programs = programs
        self.env = env
        self.cwd = cwd
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.stable_after = stable_after
        self.grace = grace
        self._stop_signal: int | None = None

    # -- lifecycle ------------------------------------------------------------------------------------

    def run(self) -> int:
        """Supervise until SIGINT/SIGTERM; return 0 once every child has stopped."""
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            for program in self.programs:
                self._start(program)
            while self._stop_signal is None:
                self._tick(time.monotonic())
                time.sleep(0.2)
            return self._stop_all(self._stop_signal)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _on_signal(self, signum, frame) -> None:
        if self._stop_signal is None:
            log.warning("received %s: stopping %s", signal.Signals(signum).name, self._names())
        self._stop_signal = signum

    def _names(self) -> str:
        return ", ".join(p.name for p in self.programs)

    # -- one pass of the loop -------------------------------------------------------------------------

    def _tick(self, now: float) -> None:
        for program in self.programs:
            process = program.process
            if process is not None and process.poll() is not None:
                self._on_exit(program, process, now)
            if program.process is None and program.restart_at is not None and now >= program.restart_at:
                program.restarts += 1
                log.warning("restarting %s (restart %d)", program.name, program.restarts)
                self._start(program)

    def _on_exit(self, program: Program, process: subprocess.Popen, now: float) -> None:
        code = process.returncode
        pid = process.pid
        _kill_group(pid)  # leftovers of the dead child (a worker's pool processes) go with it
        program.process = None
        program.exit_codes.append(code)
        program.failures = 1 if now - program.started_at >= self.stable_after else program.failures + 1
        delay = min(self.backoff_max, self.backoff_initial * 2 ** (program.failures - 1))
        program.restart_at = now + delay
        log.warning("%s (pid %d) exited with %s; restarting in %g s", program.name, pid, _describe(code), delay)

    def _start(self, program: Program) -> None:
        program.process = subprocess.Popen(
            program.argv,
            env=self.env,
            cwd=self.cwd,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        program.started_at = time.monotonic()
        program.restart_at = None
        log.info("started %s (pid %d): %s", program.name, program.process.pid, shlex.join(program.argv))

    # -- shutdown -------------------------------------------------------------------------------------

    def _stop_all(self, signum: int) -> int:
        running = [(p, p.process) for p in self.programs if p.process is not None and p.process.poll() is None]
        for _program, process in running:
            _signal(process.pid, signum)
        deadline = time.monotonic() + self.grace
        for program, process in running:
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop within %.0f s: killing it", program.name, self.grace)
        for program in self.programs:
            if program.process is not None:
                _kill_group(program.process.pid)
                program.process.wait()
        log.warning("stopped %s", self._names())
        return 0


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _describe(code: int) -> str:
    if code < 0:
        return f"signal {signal.Signals(-code).name}"
    return f"code {code}"
