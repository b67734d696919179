"""Time `make run` from a fresh clone to a serving API, then again when already set up.

`python -m bench.make_run` clones this repository (HEAD) into a temporary folder, runs
`make run` there with a free FIRETWIN_PORT, and polls /health until it answers 200. The first
run includes creating the virtualenv, initialising the embedded cluster, migrating and loading
the demo district; Debian packages are already installed on a machine that ran `make setup`
once (their install time is not part of this figure). The second run reuses everything.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from bench.common import free_port, write_result

ROOT = Path(__file__).resolve().parent.parent


def _time_to_health(clone: Path, port: int, timeout_s: float = 900) -> tuple[float, subprocess.Popen]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIRETWIN_")}
    env["FIRETWIN_PORT"] = str(port)
    log = (clone / f"make-run-{time.time_ns()}.log").open("w")
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        ["make", "run"], cwd=clone, env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    while time.perf_counter() - t0 < timeout_s:
        if proc.poll() is not None:
            msg = f"make run exited with {proc.returncode}; see {log.name}"
            raise RuntimeError(msg)
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                if r.status == 200:
                    return time.perf_counter() - t0, proc
        except OSError:
            pass
        time.sleep(0.25)
    msg = "make run did not serve within the timeout"
    raise RuntimeError(msg)


def _stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def run() -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="firetwin-makerun-"))
    clone = tmp / "firetwin"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    port = free_port()
    try:
        cold, proc = _time_to_health(clone, port)
        _stop(proc)
        warm, proc = _time_to_health(clone, port)
        _stop(proc)
    finally:
        subprocess.run([str(clone / ".venv/bin/firetwin"), "db", "stop"], cwd=clone,
                       capture_output=True, check=False)
        shutil.rmtree(tmp, ignore_errors=True)
    result = {
        "command": ".venv/bin/python -m bench.make_run",
        "fresh_clone_to_health_s": round(cold, 1),
        "already_set_up_to_health_s": round(warm, 1),
        "goal": {"fresh_clone_s": 300, "already_set_up_s": 30},
    }
    write_result("make_run", result)
    return result


def main() -> None:
    r = run()
    print(f"make run: fresh clone → /health 200 in {r['fresh_clone_to_health_s']} s; "
          f"already set up: {r['already_set_up_to_health_s']} s")


if __name__ == "__main__":
    main()
