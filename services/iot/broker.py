"""FireTwin's own Mosquitto broker, or the external one ``FIRETWIN_MQTT_URL`` names.

Like the embedded PostgreSQL (``gis/cluster.py``), the broker is private to the project: its
configuration, persistence file, log and pid live in ``<home>`` (``.firetwin/mosquitto``), it
listens on 127.0.0.1 only, on the first free port from ``FIRETWIN_MQTT_PORT`` (18830; a system
Mosquitto on 1883 is left alone), and when called as root it runs as the unprivileged user
``firetwin``. Persistence is on: queued QoS 1 readings of an absent ingester's persistent session
survive a restart (saved every ``autosave_interval_s`` and on a clean stop).

Devices are not authenticated by the broker (loopback, anonymous) but by the signature in
every reading (``services.iot.messages``); put a TLS listener with per-gateway credentials in
front of it before exposing it beyond the host.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from gis.cluster import _ensure_os_user, _grant_traverse
from gis.errors import GisError
from services.iot.settings import MqttSettings

__all__ = ["BrokerUnavailable", "Endpoint", "endpoint", "ensure_running", "status", "stop"]


class BrokerUnavailable(GisError):
    """The MQTT broker cannot be started or reached."""


@dataclass(frozen=True)
class Endpoint:
    """How to reach a broker."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"


_CONF = """# FireTwin embedded Mosquitto (written by services/iot/broker.py; rewritten on start)
listener {port} 127.0.0.1
allow_anonymous true
persistence true
persistence_location {data}/
autosave_interval {autosave}
persistent_client_expiration 14d
max_queued_messages {max_queued}
max_queued_bytes 0
max_inflight_messages 0
max_packet_size 1048576
set_tcp_nodelay true
log_dest file {log}
log_type error
log_type warning
log_type notice
connection_messages false
pid_file {pid}
"""


def _os_user(settings: MqttSettings) -> str | None:
    return settings.os_user if os.geteuid() == 0 else None


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def _free_port(first: int) -> int:
    for port in range(first, first + 200):
        if _can_bind(port):
            return port
    msg = f"no free TCP port in {first}..{first + 199} for the embedded Mosquitto"
    raise BrokerUnavailable(msg)


def _state_file(settings: MqttSettings) -> Path:
    return settings.home / "broker.json"


def _pid(settings: MqttSettings) -> int | None:
    f = settings.home / "mosquitto.pid"
    try:
        pid = int(f.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return pid


def _recorded_port(settings: MqttSettings) -> int | None:
    try:
        return int(json.loads(_state_file(settings).read_text())["port"])
    except (OSError, ValueError, KeyError):
        return None


def endpoint(settings: MqttSettings | None = None, *, start: bool = True) -> Endpoint:
    """The broker in use: ``FIRETWIN_MQTT_URL``, or the embedded one (started when ``start``)."""
    settings = settings or MqttSettings()
    if settings.url:
        parts = urlsplit(settings.url)
        if parts.scheme not in ("mqtt", "tcp") or not parts.hostname:
            msg = f"FIRETWIN_MQTT_URL must be mqtt://host:port, not {settings.url!r}"
            raise BrokerUnavailable(msg)
        return Endpoint(parts.hostname, parts.port or 1883, parts.username, parts.password)
    if start:
        return ensure_running(settings)
    port = _recorded_port(settings)
    if port is None or _pid(settings) is None:
        msg = "the embedded MQTT broker is not running: run `firetwin mqtt start`"
        raise BrokerUnavailable(msg)
    return Endpoint("127.0.0.1", port)


def ensure_running(settings: MqttSettings) -> Endpoint:
    """Configure and start the embedded Mosquitto if it is not running; its endpoint."""
    if settings.url:
        return endpoint(settings)
    port = _recorded_port(settings)
    if _pid(settings) is not None and port is not None and _port_open("127.0.0.1", port):
        return Endpoint("127.0.0.1", port)
    if not settings.binary.exists():
        msg = (f"Mosquitto not found at {settings.binary}: run `make setup` (installs "
               "mosquitto) or set FIRETWIN_MQTT_URL")
        raise BrokerUnavailable(msg)
    home = settings.home
    data = home / "data"
    data.mkdir(parents=True, exist_ok=True)
    user = _os_user(settings)
    if port is None or not _can_bind(port):
        port = _free_port(settings.port)
    conf = home / "mosquitto.conf"
    log = home / "mosquitto.log"
    conf.write_text(_CONF.format(port=port, data=data, autosave=settings.autosave_interval_s,
                                 max_queued=settings.max_queued_messages, log=log,
                                 pid=home / "mosquitto.pid"))
    _state_file(settings).write_text(json.dumps({"port": port}))
    if user is not None:
        _ensure_os_user(user)
        _grant_traverse(home, user)
        for p in (home, data, conf, _state_file(settings), *data.iterdir()):
            shutil.chown(p, user=user)
        if log.exists():
            shutil.chown(log, user=user)
    os.chmod(home, 0o700)
    cmd = [str(settings.binary), "-c", str(conf), "-d"]
    if user is not None:
        cmd = ["runuser", "-u", user, "--", *cmd]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    deadline = time.monotonic() + 15
    while not (_pid(settings) is not None and _port_open("127.0.0.1", port)):
        if time.monotonic() > deadline or res.returncode != 0:
            tail = log.read_text()[-2000:] if log.exists() else ""
            msg = f"Mosquitto did not start on port {port}: {res.stderr.strip()}\n{tail}"
            raise BrokerUnavailable(msg)
        time.sleep(0.05)
    return Endpoint("127.0.0.1", port)


def _can_bind(port: int) -> bool:
    """Whether a listener could bind the port (SO_REUSEADDR, as Mosquitto sets it)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def stop(settings: MqttSettings, *, timeout_s: float = 20.0) -> bool:
    """Stop the embedded broker cleanly (it saves its persistence file); True if it ran."""
    pid = _pid(settings)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while _pid(settings) is not None:
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            break
        time.sleep(0.05)
    (settings.home / "mosquitto.pid").unlink(missing_ok=True)
    return True


def status(settings: MqttSettings) -> dict[str, object]:
    """Describe the broker: external or embedded, running, port, folder."""
    if settings.url:
        ep = endpoint(settings)
        return {"external": True, "url": ep.url, "reachable": _port_open(ep.host, ep.port)}
    port = _recorded_port(settings)
    pid = _pid(settings)
    return {"external": False, "running": pid is not None, "pid": pid, "port": port,
            "url": f"mqtt://127.0.0.1:{port}" if port else None, "home": str(settings.home)}
