"""``colorize --serve``: a local web page to try checkpoints on your own photo, side by side, at full resolution.

    colorize --serve --ckpt runs/a/checkpoints/best.ckpt runs/b/checkpoints/best.ckpt   # -> http://127.0.0.1:7860
    colorize --serve --sweep multirun/2026-11-29/15-15-00        # every job that finished ok, its best checkpoint

The page listens on 127.0.0.1 only unless ``--host`` says otherwise (``--host 0.0.0.0``: anyone who can reach the
machine may use it). An upload is checked before it is decoded: an empty file, a file that is not an image or a
picture of more than ``--max-pixels`` pixels gets one line on the page (and one warning line in the log), so memory
stays bounded by that limit. Uploads and results live in one temporary folder that is removed when the server stops
(Ctrl-C or ``kill``). Checkpoints are loaded once, before serving: a bad one stops the command with the loader's
sentence. Needs Gradio: ``pip install 'colorization[serve]'``. Nothing is fetched from the internet: no share
link, no analytics, system fonts.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
# The largest picture the page colours: a 50-megapixel camera photo; decoding and colouring it takes about 2 GB.
DEFAULT_MAX_PIXELS = 50_000_000
# An upload's size on disk can exceed its decoded size only by a header: 16-bit RGBA samples, then slack.
BYTES_PER_PIXEL_MAX, HEADER_SLACK = 8, 1 << 20
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
INSTALL_HINT = "colorize --serve needs Gradio, which is not installed: pip install 'colorization[serve]'"


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="colorize --serve",
        description="A local web page: drop a photo and see each checkpoint's colorization side by side at full "
        "resolution, with a PNG download of each.",
    )
    p.add_argument("--ckpt", nargs="+", action="extend", default=[], metavar="PATH",
                   help="checkpoints written by train.py (repeatable)")
    p.add_argument("--sweep", metavar="DIR",
                   help="a multirun sweep dir: every job whose job_status.json says ok, with its best checkpoint")
    p.add_argument("--host", default=DEFAULT_HOST,
                   help=f"address to listen on (default {DEFAULT_HOST}: this machine only; 0.0.0.0: every network)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (default auto)")
    p.add_argument("--size", type=int, default=256, help="network input size; ab is upsampled (default 256)")
    p.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS,
                   help=f"refuse uploads with more pixels than this (default {DEFAULT_MAX_PIXELS:,}): bounds memory")
    args = p.parse_args(argv)
    if args.max_pixels < 1:
        p.error(f"--max-pixels {args.max_pixels}: expected a positive number of pixels")
    if not args.ckpt and not args.sweep:
        p.error("pass --ckpt PATH [PATH ...] or --sweep DIR (or both)")
    if not 0 < args.port < 65536:
        p.error(f"--port {args.port}: expected 1..65535")
    return args


def _quiet_offline_environment() -> None:
    """Before Gradio is imported: no usage reports, no version check, no hub look-ups."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("GRADIO_RUN_HISTORY", "False")


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until interrupted (Ctrl-C); returns the exit status (2: bad arguments, missing Gradio, bad
    checkpoint, or the port is taken)."""
    args = _parse_args(argv)
    if importlib.util.find_spec("gradio") is None:
        print(f"error: {INSTALL_HINT}", file=sys.stderr)
        return 2
    _quiet_offline_environment()
    from colorization.serve.models import load_checkpoints, plan_checkpoints

    try:
        planned = plan_checkpoints(args.ckpt, args.sweep)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        models = load_checkpoints(planned, args.device, args.size)
    except (FileNotFoundError, ValueError, RuntimeError) as e:
        print(f"error: cannot load the checkpoint: {e}", file=sys.stderr)
        return 2
    for model in models:
        print(f"serving {model.label}: {model.ckpt}", file=sys.stderr)
    if args.host not in LOOPBACK:
        print(f"note: listening on {args.host}: anyone who can reach this machine on port {args.port} can use "
              "the page", file=sys.stderr)

    signal.signal(signal.SIGTERM, _stop)  # `kill PID` stops it like Ctrl-C: the result files are removed
    # Gradio's uploads and copies of results go into this folder too (GRADIO_TEMP_DIR, read when Gradio is
    # imported), so nothing the page received or made outlives the server.
    base = os.environ.get("GRADIO_TEMP_DIR")  # the user's choice of where Gradio's files go: ours go inside
    if base:
        Path(base).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="colorize-serve-", dir=base) as work:
        os.environ["GRADIO_TEMP_DIR"] = str(Path(work) / "gradio")
        from colorization.serve.page import build_page, local_theme

        results = Path(work) / "results"
        results.mkdir()
        page = build_page(models, results, args.max_pixels)
        page.queue(default_concurrency_limit=1)  # one photo at a time through the networks
        try:
            # quiet: no `share=True` hint (nothing leaves this machine); prevent_thread_lock: this loop, not
            # Gradio's, waits for Ctrl-C / SIGTERM, so a stop prints no "Keyboard interruption" line.
            page.launch(server_name=args.host, server_port=args.port, share=False, inbrowser=False,
                        theme=local_theme(), footer_links=["api", "settings"], run_history=False, ssr_mode=False,
                        pwa=False, mcp_server=False, enable_monitoring=False, show_error=True, quiet=True,
                        prevent_thread_lock=True,
                        max_file_size=args.max_pixels * BYTES_PER_PIXEL_MAX + HEADER_SLACK)
            print(f"serving on {page.local_url} (Ctrl-C stops it)", file=sys.stderr, flush=True)
            while True:
                time.sleep(0.5)
        except OSError as e:
            print(f"error: cannot listen on {args.host}:{args.port} ({e}); pass a free --port", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            pass
        finally:
            page.close(verbose=False)
    return 0

