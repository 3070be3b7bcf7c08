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


def process_status(spec: ProcessSpec, now: float | None = None) -> dict:
    """active / stuck / stopped for one configured process."""
    now = now or time.time()
    regex = re.compile(spec.pattern)
    pids = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(proc.info.get("cmdline") or [])
        if cmdline and regex.search(cmdline) and proc.info["pid"] != os.getpid():
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
    return {
        "host": host or socket.gethostname(),
        "components": [process_status(spec) for spec in specs],
        "metrics": host_metrics(),
    }
