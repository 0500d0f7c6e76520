"""docs/deploy/: the Dockerfile and Kubernetes manifests agree with the app they ship.

The manifests are parsed, not eyeballed: probe paths, ports, the non-root user and the
settings must match what ``create_fastapi_app`` serves and ``FlextApiConfig`` reads. The
Dockerfile's own CMD and HEALTHCHECK commands are run here (Docker itself is not needed: the
commands are what the container would run). The graceful shutdown is driven with a real
SIGTERM against uvicorn.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from flext_api.server import FlextApiConfig, FlextApiConfigError

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "docs" / "deploy"
BIN = Path(sys.executable).parent


def _dockerfile() -> dict[str, list[str]]:
    """Instructions of the Dockerfile by keyword, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", (DEPLOY / "Dockerfile").read_text())
    found: dict[str, list[str]] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.setdefault(keyword.upper(), []).append(rest.strip())
    return found


def _docker_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction in _dockerfile()["ENV"]:
        for pair in shlex.split(instruction):
            key, _, value = pair.partition("=")
            env[key] = value
    return env


def _manifest(name: str) -> dict[str, Any]:
    loaded = yaml.safe_load((DEPLOY / "k8s" / name).read_text())
    assert isinstance(loaded, dict)
    return loaded


def _container() -> dict[str, Any]:
    spec = _manifest("deployment.yaml")["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    assert isinstance(container, dict)
    return container


def _settings_env() -> dict[str, str]:
    """What the pod's environment holds: the ConfigMap, plus each Secret key given a value."""
    env = {k: str(v) for k, v in _manifest("configmap.yaml")["data"].items()}
    for item in _container().get("env", []):
        assert "secretKeyRef" in item["valueFrom"], item
        env[item["name"]] = "redis://:secret@redis:6379/0"
    return env


def test_probes_ports_and_user_match_the_app_and_the_image() -> None:
    config = FlextApiConfig.from_env(_settings_env())
    container = _container()
    assert container["livenessProbe"]["httpGet"]["path"] == config.health_path == "/health"
    assert container["readinessProbe"]["httpGet"]["path"] == config.ready_path == "/ready"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"]["port"] in ports
    docker = _dockerfile()
    assert ports["http"] == int(_docker_env()["UVICORN_PORT"]) == int(docker["EXPOSE"][0])
    service_ports = _manifest("service.yaml")["spec"]["ports"]
    assert [p["targetPort"] for p in service_ports] == ["http"]
    assert (
        _manifest("service.yaml")["spec"]["selector"]
        == (_manifest("deployment.yaml")["spec"]["template"]["metadata"]["labels"])
    )
    user = docker["USER"][-1]
    pod = _manifest("deployment.yaml")["spec"]["template"]["spec"]
    assert user not in ("0", "root") and pod["securityContext"]["runAsUser"] == int(user)
    assert pod["securityContext"]["runAsNonRoot"] is True


def test_the_configmap_holds_only_settings_the_app_reads() -> None:
    env = _settings_env()
    assert all(key.startswith("FLEXT_API_") for key in env)
    config = FlextApiConfig.from_env(env)  # an unknown FLEXT_API_* name raises here
    assert config.environment == "production" and config.docs_enabled is False
    assert config.shutdown_drain_seconds > 0
    with pytest.raises(FlextApiConfigError, match="FLEXT_API_SHUTDOWN_DRAIN"):
        FlextApiConfig.from_env({**env, "FLEXT_API_SHUTDOWN_DRAIN": "5"})


def test_the_grace_period_covers_the_drain_and_the_in_flight_requests() -> None:
    config = FlextApiConfig.from_env(_settings_env())
    cmd = json.loads(_dockerfile()["CMD"][0])
    graceful = int(cmd[cmd.index("--timeout-graceful-shutdown") + 1])
    grace = _manifest("deployment.yaml")["spec"]["template"]["spec"][
        "terminationGracePeriodSeconds"
    ]
    assert grace > config.shutdown_drain_seconds + graceful


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _get(port: int, path: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _wait_until(condition: Any, what: str, limit: float = 30.0) -> None:
    end = time.monotonic() + limit
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"gave up waiting: {what}")
        time.sleep(0.02)


def _accepting(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


@contextmanager
def _uvicorn(
    argv: list[str], cwd: Path, env: dict[str, str], port: int
) -> Iterator[subprocess.Popen[bytes]]:
    # A file, not a pipe: the access log must never fill a pipe nobody reads and stall the server.
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=log, stderr=log)
        try:
            _wait_until(lambda: _accepting(port) or process.poll() is not None, "uvicorn to listen")
            if process.poll() is not None:
                log.seek(0)
                raise AssertionError(f"uvicorn exited: {log.read().decode()}")
            yield process
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=30)


def _env(port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLEXT_API_", "UVICORN_"))}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(ROOT)
    return {**env, **_docker_env(), "UVICORN_HOST": "127.0.0.1", "UVICORN_PORT": str(port), **extra}


def test_the_image_command_serves_the_app_and_its_healthcheck_tells_up_from_down() -> None:
    docker = _dockerfile()
    healthcheck = docker["HEALTHCHECK"][0]
    probe = json.loads(healthcheck[healthcheck.index("CMD") + 3 :].strip())
    cmd = json.loads(docker["CMD"][0])
    port = _free_port()
    settings = {k: v for k, v in _settings_env().items() if "REDIS" not in k}
    env = _env(port, **settings)
    with _uvicorn(cmd, DEPLOY, env, port) as server:
        assert subprocess.run(probe, env=env, timeout=30, check=False).returncode == 0
        assert _get(port, "/hello") == (200, {"hello": "world"})
        assert _get(port, "/ready") == (200, {"status": "ready", "checks": {}})
        server.terminate()
        server.wait(timeout=60)
    down = subprocess.run(probe, env=env, timeout=30, check=False, capture_output=True)
    assert down.returncode != 0


def test_sigterm_turns_readiness_off_first_and_lets_in_flight_requests_finish(
    tmp_path: Path,
) -> None:
    port = _free_port()
    env = _env(port, DRAIN_DIR=str(tmp_path), DRAIN_SECONDS="2")
    argv = [str(BIN / "uvicorn"), "tests.server.drain_app:app", "--timeout-graceful-shutdown", "30"]
    with _uvicorn(argv, ROOT, env, port) as server:
        assert _get(port, "/ready")[0] == 200
        answers: list[tuple[int, dict[str, Any]]] = []
        request = threading.Thread(target=lambda: answers.append(_get(port, "/slow")))
        request.start()
        _wait_until((tmp_path / "started").exists, "the slow request to reach the app")

        server.send_signal(signal.SIGTERM)
        _wait_until(lambda: _get(port, "/ready")[0] == 503, "/ready to turn 503")
        assert _get(port, "/ready") == (503, {"status": "draining", "checks": {}})
        assert _get(port, "/health") == (200, {"status": "ok"})  # still serving while draining

        # After the drain the server stops accepting; the request in flight is still running.
        _wait_until(lambda: not _accepting(port), "the server to stop accepting")
        assert request.is_alive() and not answers
        (tmp_path / "release").touch()
        request.join(timeout=30)
        assert answers == [(200, {"finished": "yes"})]
        server.wait(timeout=30)
        assert server.returncode is not None


def test_the_drain_needs_the_main_thread_and_a_positive_period() -> None:
    from flext_api.server.health import ReadinessChecks
    from flext_api.server.shutdown import DrainOnSigterm

    before = signal.getsignal(signal.SIGTERM)
    assert DrainOnSigterm(ReadinessChecks(), 0).install() is False
    seen: list[bool] = []
    thread = threading.Thread(
        target=lambda: seen.append(DrainOnSigterm(ReadinessChecks(), 5).install())
    )
    thread.start()
    thread.join()
    assert seen == [False] and signal.getsignal(signal.SIGTERM) is before
    with pytest.raises(FlextApiConfigError, match="shutdown_drain_seconds"):
        FlextApiConfig(shutdown_drain_seconds=-1)
