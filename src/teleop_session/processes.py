"""Node processes of a session (demo, benchmark, tests): started like bringup does, stopped cleanly.

Each node runs as its own process with the command line `teleop_session.bringup` builds (same
executable, parameter file and remappings as the launch files), its output going to a log file.
"""
from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from teleop_session.bringup import container_command, node_command
from teleop_session.graph import CONFIG_DIR, CONTAINER_EXECUTABLE, NodeSpec

STOP_TIMEOUT_S = 15.0


class NodeFailed(RuntimeError):
    """A node process exited while the session needed it; the message holds its log's tail."""


class NodeProcesses:
    """Started node processes by name; `stop_all` sends SIGINT, then kills what does not stop."""

    def __init__(self, log_dir: Path, config_dir: Path = CONFIG_DIR, env: dict[str, str] | None = None) -> None:
        self.log_dir = log_dir
        self.config_dir = config_dir
        self.env = env or {}            # added to this process' environment
        self.processes: dict[str, tuple[subprocess.Popen, Path]] = {}
        log_dir.mkdir(parents=True, exist_ok=True)

    def start(self, spec: NodeSpec, parameters: dict[str, str] | None = None,
              prefix: list[str] | None = None) -> subprocess.Popen:
        """`prefix`: a command to run the node under, as launch's `prefix` (e.g. nice -n -5)."""
        return self._start(spec.name, [*(prefix or []), *node_command(spec, self.config_dir, {}, parameters)])

    def start_composed(self, specs: list[NodeSpec], parameters: dict[str, dict[str, str]] | None = None,
                       name: str = CONTAINER_EXECUTABLE) -> subprocess.Popen:
        """`specs` in one teleop_container process (composed mode); `parameters` by node name."""
        settings = [f"{node}:{key}:={value}" for node, values in (parameters or {}).items() for key, value in values.items()]
        command = [*container_command(), "--config-dir", str(self.config_dir),
                   "--only", *(spec.name for spec in specs), *(["--set", *settings] if settings else [])]
        return self._start(name, command)

    def _start(self, name: str, command: list[str]) -> subprocess.Popen:
        log = self.log_dir / f"{name}.log"
        with open(log, "w") as out:
            out.write(" ".join(command) + "\n")
            out.flush()
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                       env=dict(os.environ, PYTHONUNBUFFERED="1", **self.env))
        self.processes[name] = (process, log)
        return process

    def log_tail(self, name: str, lines: int = 15) -> str:
        return "\n".join(self.processes[name][1].read_text(errors="replace").splitlines()[-lines:])

    def check_alive(self, *names: str) -> None:
        """Raise NodeFailed naming the first of `names` (all when empty) that has exited."""
        for name in names or tuple(self.processes):
            process, log = self.processes[name]
            if process.poll() is not None:
                raise NodeFailed(f"{name} exited with status {process.returncode}; {log}:\n{self.log_tail(name)}")

    def stop(self, name: str) -> int | None:
        process, _ = self.processes[name]
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        try:
            return process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait()

    def stop_all(self) -> dict[str, int | None]:
        for process, _ in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        return {name: self.stop(name) for name in self.processes}
