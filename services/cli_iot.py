"""``firetwin ingest``, ``firetwin simulate sensors``, ``firetwin mqtt start|stop|status``."""

from __future__ import annotations

import asyncio
import json
import signal
from typing import Annotated

import typer
from rich.console import Console

from gis.db import database_url
from gis.settings import DatabaseSettings
from services.clock import Clock, OffsetClock, SystemClock
from services.iot import broker
from services.iot.settings import MqttSettings
from services.progress import progress_bars
from services.settings import APISettings

iot_app = typer.Typer(help="IoT sensors: MQTT broker, ingestion, simulator.")
mqtt_app = typer.Typer(help="FireTwin's own Mosquitto broker (or FIRETWIN_MQTT_URL).")
simulate_app = typer.Typer(help="Simulate devices for the demo district.")

out = Console()
err = Console(stderr=True)


def _clock(db_url: str) -> Clock:
    """The workflow clock: FIRETWIN_CLOCK_AT, the demo's reference date, or real time."""
    api = APISettings()
    if api.clock_at is not None:
        return OffsetClock(api.clock_at)
    import psycopg

    with psycopg.connect(db_url) as conn:
        # The migrations create demo_truth.unit_propensity everywhere: the demo is where the
        # generator filled it (as `firetwin run` decides), not any database with units.
        demo = conn.execute("SELECT EXISTS (SELECT 1 FROM demo_truth.unit_propensity)"
                            ).fetchone()[0]
    if demo:
        from gis.demo.clock import REF_END

        return OffsetClock(REF_END)
    return SystemClock()


def _run_until_signal(coro_factory) -> None:
    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await coro_factory(stop)

    asyncio.run(main())


@iot_app.command("ingest")
def ingest(
    client_id: Annotated[str | None, typer.Option(
        help="MQTT client id = the persistent session: give each ingester its own, stable id "
             "(default FIRETWIN_MQTT_CLIENT_ID, firetwin-ingest-1).")] = None,
    retire: Annotated[bool, typer.Option(
        help="On exit, end the session (this ingester is removed for good).")] = False,
) -> None:
    """Ingest sensor readings from MQTT into PostGIS until Ctrl-C (run several side by side)."""
    from services.iot.ingest import Ingester, run

    url = database_url(DatabaseSettings())
    settings = MqttSettings()
    ep = broker.endpoint(settings)
    cid = client_id or settings.client_id
    ing = Ingester(url, ep, mqtt=settings, clock=_clock(url), client_id=cid)
    out.print(f"ingesting from {ep.url} as {cid} (shared group {settings.share_group})")

    def report(stats) -> None:
        out.print(json.dumps(dict(sorted(stats.items()))))

    _run_until_signal(lambda stop: run(ing, stop, report=report, report_every_s=10.0,
                                       retire=retire))


@simulate_app.command("sensors")
def simulate_sensors(
    duration: Annotated[float, typer.Option(help="Seconds to run.")] = 300.0,
    interval: Annotated[float, typer.Option(help="Seconds between readings of a sensor.")] = 10.0,
    alarm_rate: Annotated[float, typer.Option(help="Alarm episodes per sensor-hour.")] = 0.5,
    limit: Annotated[int | None, typer.Option(help="Simulate only the first N sensors.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1,
) -> None:
    """Publish realistic signed readings of the demo district's sensors, alarms included."""
    from services.iot.simulate import simulate

    url = database_url(DatabaseSettings())
    settings = MqttSettings()
    ep = broker.endpoint(settings)
    with progress_bars() as progress:
        stats = asyncio.run(simulate(url, ep, duration_s=duration, interval_s=interval,
                                     alarm_rate_per_h=alarm_rate, clock=_clock(url), seed=seed,
                                     limit=limit, mqtt=settings, progress=progress))
    out.print(f"{stats.readings:,} readings, {stats.alarm_episodes} alarm episodes, "
              f"{stats.faults} faults published to {ep.url}")


@mqtt_app.command("start")
def mqtt_start() -> None:
    """Start FireTwin's Mosquitto (private config, loopback, persistence on)."""
    ep = broker.ensure_running(MqttSettings())
    out.print(f"broker ready: {ep.url}")


@mqtt_app.command("stop")
def mqtt_stop() -> None:
    """Stop FireTwin's Mosquitto (it saves its persistence file)."""
    s = MqttSettings()
    if s.url:
        err.print("FIRETWIN_MQTT_URL is set: FireTwin does not manage that broker.")
        raise typer.Exit(1)
    out.print("stopped" if broker.stop(s) else "not running")


@mqtt_app.command("status")
def mqtt_status() -> None:
    """Show whether the broker runs, and where."""
    out.print_json(json.dumps(broker.status(MqttSettings())))


iot_app.add_typer(mqtt_app, name="mqtt")
iot_app.add_typer(simulate_app, name="simulate")
