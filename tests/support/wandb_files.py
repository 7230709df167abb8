"""Reading back what W&B wrote offline (``<run dir>/wandb/offline-run-*/run-*.wandb``) without the W&B API."""

from __future__ import annotations

import re
import time
from pathlib import Path


def wandb_records_text(wandb_file: Path, expect: str | None = None, timeout_s: float = 60.0) -> str:
    """The printable runs (4+ characters) of an offline run file, joined by newlines.

    The file is a stream of protobuf records; names, tags, the group and metric keys are stored in it as plain
    UTF-8, so a test can look for them without decoding the records. W&B's service process writes the file
    behind the run: on a loaded machine it can still hold only its header when ``wandb.finish`` has returned, so
    with ``expect`` the file is read again until that text is in it (at most ``timeout_s``).
    """
    deadline = time.monotonic() + timeout_s
    while True:
        text = "\n".join(m.decode() for m in re.findall(rb"[\x20-\x7e]{4,}", wandb_file.read_bytes()))
        if expect is None or expect in text or time.monotonic() > deadline:
            return text
        time.sleep(0.5)
