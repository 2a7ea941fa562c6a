"""Findings exports streamed to the browser, in the formats of ``qrie findings export``.

:func:`qrie.scan.export.export` writes to a text stream one finding at a time; here it runs in
a thread writing into a small queue of chunks that the response sends as they come, so an
export of any size is never held whole in memory, and stops when the browser goes away.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import TextIO, cast

from qrie.domain import Finding, now_iso
from qrie.policies.base import Policy
from qrie.scan.export import FORMATS, export

log = logging.getLogger("qrie.console")

CHUNK_CHARS = 64 * 1024
QUEUE_CHUNKS = 16
MEDIA_TYPES = {"json": "application/json", "ocsf": "application/json", "csv": "text/csv"}
EXTENSIONS = {"json": "json", "ocsf": "ocsf.json", "csv": "csv"}


class _Stopped(Exception):
    """The reader went away: the writer stops."""


class _ChunkWriter:
    """The text stream export() writes to: full chunks go to the queue."""

    def __init__(self, chunks: queue.Queue[object], stop: threading.Event) -> None:
        self._chunks = chunks
        self._stop = stop
        self._parts: list[str] = []
        self._size = 0

    def put(self, item: object) -> None:
        while True:
            if self._stop.is_set():
                raise _Stopped
            try:
                self._chunks.put(item, timeout=0.5)
                return
            except queue.Full:
                continue

    def write(self, text: str) -> int:
        self._parts.append(text)
        self._size += len(text)
        if self._size >= CHUNK_CHARS:
            self.flush()
        return len(text)

    def flush(self) -> None:
        if self._parts:
            self.put("".join(self._parts).encode("utf-8"))
            self._parts, self._size = [], 0

    def close(self) -> None:
        self.flush()
        self.put(None)


def filename(fmt: str, state: str) -> str:
    stamp = now_iso()[:19].replace(":", "").replace("-", "")
    return f"qrie-findings-{state}-{stamp}.{EXTENSIONS[fmt]}"


def stream(
    findings: Iterable[Finding], fmt: str, policies: Mapping[str, Policy]
) -> Iterator[bytes]:
    """The export of ``findings`` in ``fmt``, as UTF-8 chunks."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}")
    chunks: queue.Queue[object] = queue.Queue(maxsize=QUEUE_CHUNKS)
    stop = threading.Event()
    writer = _ChunkWriter(chunks, stop)

    def produce() -> None:
        try:
            export(findings, fmt, cast(TextIO, writer), policies)
            writer.close()
        except _Stopped:
            return
        except Exception as exc:  # handed to the reader, which ends the response
            with contextlib.suppress(_Stopped):
                writer.put(exc)

    thread = threading.Thread(target=produce, name="qrie-console-export", daemon=True)
    thread.start()
    try:
        while True:
            item = chunks.get()
            if item is None:
                return
            if isinstance(item, Exception):
                log.error("export failed", exc_info=item)
                raise item
            yield cast(bytes, item)
    finally:
        stop.set()
        thread.join(timeout=5)
