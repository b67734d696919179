"""HTML → PDF with Debian's chromium, headless (``--print-to-pdf``): the page as a browser
prints it, CJK fonts and SVG included. One short-lived browser per PDF, its own profile."""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path


class PdfError(RuntimeError):
    """The browser did not print the PDF."""


def _command(chromium: str, html: Path, out: Path, profile: str) -> list[str]:
    args = [chromium, "--headless", "--disable-gpu", "--no-first-run",
            "--no-default-browser-check", "--disable-extensions", "--mute-audio",
            f"--user-data-dir={profile}", "--no-pdf-header-footer",
            f"--print-to-pdf={out}", html.absolute().as_uri()]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.insert(1, "--no-sandbox")  # chromium refuses to run as root without it
    return args


def _finish(tmp: Path, pdf: Path, returncode: int | None, err: bytes, name: str) -> int:
    if returncode != 0 or not tmp.exists() or tmp.stat().st_size == 0:
        tmp.unlink(missing_ok=True)
        tail = err.decode(errors="replace").strip().splitlines()[-3:]
        msg = f"chromium failed to print {name} (exit {returncode}): {' | '.join(tail)}"
        raise PdfError(msg)
    tmp.replace(pdf)
    return pdf.stat().st_size


async def print_pdf(html: Path, pdf: Path, *, chromium: str, timeout_s: float = 90) -> int:
    """Print ``html`` (a local file) to ``pdf`` (written atomically); its size in bytes."""
    tmp = pdf.with_name(f".{pdf.name}.{os.getpid()}.tmp")
    with tempfile.TemporaryDirectory(prefix="firetwin-pdf-") as profile:
        proc = await asyncio.create_subprocess_exec(
            *_command(chromium, html, tmp, profile), stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE)
        try:
            _, err = await asyncio.wait_for(proc.communicate(), timeout_s)
        except TimeoutError as e:
            proc.kill()
            await proc.wait()
            tmp.unlink(missing_ok=True)
            msg = f"chromium did not print {html.name} within {timeout_s:g} s"
            raise PdfError(msg) from e
    return _finish(tmp, pdf, proc.returncode, err, html.name)
