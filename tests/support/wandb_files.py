"""Reading back what W&B wrote offline (``<run dir>/wandb/offline-run-*/run-*.wandb``) without the W&B API."""

from __future__ import annotations

import re
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any


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


def wandb_records(wandb_file: Path) -> Iterator[Any]:
    """The protobuf records (``wandb.proto.wandb_internal_pb2.Record``) of an offline ``run-*.wandb`` file.

    The file is a LevelDB-style log: a 7-byte header (``:W&B``, magic, version), then 32 KiB blocks of chunks,
    each ``crc32 u32, length u16, type u8`` + data; a record is one FULL chunk or FIRST, MIDDLE..., LAST.
    """
    from wandb.proto import wandb_internal_pb2

    data = wandb_file.read_bytes()
    assert data[:4] == b":W&B", f"{wandb_file} is not a W&B run file"
    pos, block, pending = 7, 32768, b""
    while pos + 7 <= len(data):
        left = block - pos % block
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        if left < 7 or (length == 0 and kind == 0):  # the rest of a block is padding
            pos += left
            continue
        chunk = data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        pending = chunk if kind in (1, 2) else pending + chunk
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            yield record
