"""The README's two browser pictures, taken in headless Chromium: a sweep's report.html and the colorize --serve page.

    python scripts/browser_screenshots.py --sweep multirun/2026-11-29/15-15-00 --out docs
    python scripts/browser_screenshots.py --ckpt runs/a/checkpoints/best.ckpt runs/b/checkpoints/best.ckpt --out docs

* ``--sweep DIR``: ``DIR/report.html`` opened from the disk -> ``OUT/report.png``; and, unless ``--ckpt`` is given,
  ``colorize --serve --sweep DIR`` with ``--photo`` uploaded -> ``OUT/serve.png``.
* ``--ckpt PATH ...``: ``colorize --serve --ckpt ...`` -> ``OUT/serve.png``.

The page is served on a free port of 127.0.0.1 and stopped afterwards. Chromium is Debian's
(``scripts/install_browser.sh``); the default photo is a built-in sample photo (``--photo`` takes your own).
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the browser helper lives with the tests

from tests.support.browser import browser_missing, browser_page  # noqa: E402

DEFAULT_PHOTO = "skimage_coffee"  # a built-in sample photo (colorization.data.photos)
SERVER_START_S = 180
RESULT_WAIT_MS = 120_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(models: list[str], port: int) -> subprocess.Popen:
    """``colorize --serve <models> --port port`` in the background, once it answers on 127.0.0.1."""
    cmd = [sys.executable, "-m", "colorization.cli", "--serve", *models, "--port", str(port)]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"colorize --serve exited {proc.returncode}:\n{proc.stderr.read()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc
        except OSError:
            time.sleep(0.5)
    proc.terminate()
    raise SystemExit(f"colorize --serve did not answer on port {port} within {SERVER_START_S} s")


def photo_file(photo: Path | None, folder: Path) -> Path:
    if photo is not None:
        return photo
    from colorization.data.photos import load_photo

    path = folder / f"{DEFAULT_PHOTO}.png"
    Image.fromarray(load_photo(DEFAULT_PHOTO)).save(path)
    return path


def serve_screenshot(models: list[str], photo: Path | None, out: Path, width: int) -> Path:
    """Upload the photo to a fresh ``colorize --serve``, wait for every result, screenshot the page."""
    port = free_port()
    proc = start_server(models, port)
    try:
        with tempfile.TemporaryDirectory() as tmp, browser_page(width=width, height=900) as bp:
            page = bp.page
            page.goto(f"http://127.0.0.1:{port}/")
            page.locator("#photo input[type=file]").set_input_files(str(photo_file(photo, Path(tmp))))
            n_results = page.locator(".result").count()
            for i in range(n_results):
                page.wait_for_selector(f"#result-{i} img", timeout=RESULT_WAIT_MS)
            page.wait_for_load_state("networkidle")
            return bp.screenshot(out)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def report_screenshot(sweep: Path, out: Path, width: int, height: int) -> Path:
    """The top ``height`` CSS px of ``sweep/report.html`` (header, tables, charts)."""
    report = sweep / "report.html"
    if not report.is_file():
        raise SystemExit(f"{report} does not exist: the sweep summary writes it at the end of a sweep")
    with browser_page(width=width, height=height) as bp:
        bp.page.goto(report.resolve().as_uri())
        bp.page.wait_for_load_state("load")
        return bp.screenshot(out, full_page=False)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sweep", type=Path, help="a sweep dir holding report.html (and ok jobs to serve)")
    p.add_argument("--ckpt", nargs="+", default=[], help="checkpoints for the serve page (instead of --sweep's)")
    p.add_argument("--photo", type=Path, help=f"photo to upload (default: the built-in {DEFAULT_PHOTO})")
    p.add_argument("--out", type=Path, default=REPO / "docs", help="folder for report.png and serve.png")
    p.add_argument("--width", type=int, default=1280, help="browser width, CSS px (default 1280)")
    p.add_argument("--report-height", type=int, default=1400, help="height of report.png, CSS px (default 1400)")
    args = p.parse_args(argv)
    if not args.sweep and not args.ckpt:
        p.error("pass --sweep DIR and/or --ckpt PATH [PATH ...]")
    reason = browser_missing()
    if reason:
        print(f"error: {reason}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    if args.sweep:
        print(report_screenshot(args.sweep, args.out / "report.png", args.width, args.report_height))
    models = ["--ckpt", *args.ckpt] if args.ckpt else ["--sweep", str(args.sweep)]
    print(serve_screenshot(models, args.photo, args.out / "serve.png", args.width))
    return 0


if __name__ == "__main__":
    sys.exit(main())
