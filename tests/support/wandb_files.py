"""Reading back what W&B wrote offline (``<run dir>/wandb/offline-run-*/run-*.wandb``) without the W&B API."""

from __future__ import annotations

import re
from pathlib import Path


def wandb_records_text(wandb_file: Path) -> str:
    """The printable runs (4+ characters) of an offline run file, joined by newlines.

    The file is a stream of protobuf records; names, tags, the group and metric keys are stored in it as plain
    UTF-8, so a test can look for them without decoding the records.
    """
    return "\n".join(m.decode() for m in re.findall(rb"[\x20-\x7e]{4,}", wandb_file.read_bytes()))

