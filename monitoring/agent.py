"""The host agent: host metrics and process status, sent as heartbeats (see `manage.py agent`)."""

from __future__ import annotations

import os
import re
import socket
import time
from dataclasses import dataclass

import psutil


@dataclass
class ProcessSpec:
    """`name=pattern[:freshness_file[:max_age_seconds]]`: a process whose command line matches `pattern`
    (a regular expression); with a freshness file (a log or heartbeat file it writes), a running process
    whose file is older than max_age (default 120 s) is `stuck`."""

    name: str
    pattern: str
    freshness_file: str = ""
    max_age: float = 120.0

    @classmethod
    def parse(cls, text: str) -> ProcessSpec:
        name, _, rest = text.partition("=")
        if not name or not rest:
            raise ValueError(f"process spec '{text}' is not name=pattern[:file[:max_age]]")
        pattern, _, tail = rest.partition(":")
        freshness, _, max_age = tail.partition(":")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"process spec '{text}': the pattern is not a regular expression ({exc})") from None
        return cls(name=name, pattern=pattern, freshness_file=freshness, max_age=float(max_age or 120))


def host_metrics() -> dict:
    memory = psutil.virtual_memory()
    return {
        "cpu_percent": psutil.cpu_percent(interval=0.2),
        "memory_percent": memory.percent,
        "disk_percent": psutil.disk_usage("/").percent,
        "load_1m": os.getloadavg()[0],
        "uptime_seconds": int(time.time() - psutil.boot_time()),
    }


# A shell running `-c "…"` only carries its command line: what it starts is a process of its own.
SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "fish", "busybox"})
_COMMAND_FLAG = re.compile(r"^-[a-zA-Z]*c[a-zA-Z]*$")


def own_lineage() -> set[int]:
    """This agent and its ancestors (`make agent`, the shell that ran it, ...): never a monitored process,
    though their command lines carry the patterns."""
    me = psutil.Process()
    return {me.pid, *(parent.pid for parent in me.parents())}


def is_carrier(cmdline: list[str], specs_text: list[str]) -> bool:
    """A process that only carries a pattern: a `sh -c "…"` shell, or one whose arguments hold an agent's
    own `--process name=pattern` (another agent, a `make agent` started elsewhere)."""
    shell = bool(cmdline) and os.path.basename(cmdline[0]).lstrip("-") in SHELLS
    if shell and any(_COMMAND_FLAG.match(arg) for arg in cmdline[1:]):
        return True
    unquoted = [arg.replace("'", "").replace('"', "") for arg in cmdline]
    return any(text in arg for arg in unquoted for text in specs_text)


def process_status(spec: ProcessSpec, now: float | None = None, excluded: set[int] | None = None) -> dict:
    """active / stuck / stopped for one configured process."""
    now = now or time.time()
    excluded = own_lineage() if excluded is None else excluded
    regex = re.compile(spec.pattern)
    own_spec = [f"{spec.name}={spec.pattern}"]
    pids = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        argv = proc.info.get("cmdline") or []
        cmdline = " ".join(argv)
        if not cmdline or proc.info["pid"] in excluded or not regex.search(cmdline):
            continue
        if not is_carrier(argv, own_spec):
            pids.append(proc.info["pid"])
    if not pids:
        return {"name": spec.name, "status": "stopped", "detail": f"no process matches {spec.pattern!r}"}
    if spec.freshness_file:
        try:
            age = now - os.path.getmtime(spec.freshness_file)
        except OSError:
            return {"name": spec.name, "status": "stuck", "detail": f"{spec.freshness_file} is missing"}
        if age > spec.max_age:
            return {"name": spec.name, "status": "stuck",
                    "detail": f"{spec.freshness_file} not written for {age:.0f} s (pid {pids[0]})"}  # fmt: skip
    return {"name": spec.name, "status": "active", "detail": f"pid {', '.join(map(str, pids[:5]))}"}


def heartbeat(specs: list[ProcessSpec], host: str | None = None) -> dict:
    excluded = own_lineage()
    return {
        "host": host or socket.gethostname(),
        "components": [process_status(spec, excluded=excluded) for spec in specs],
        "metrics": host_metrics(),
    }
