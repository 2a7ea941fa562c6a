"""What the local AWS does with moto's in-memory state that no AWS API can do: keep it across
restarts, and give back the messages a dead consumer held.

**Saved state.** :func:`save` writes every moto backend in use (each service's accounts and
regions: tables and items, queues and their messages, IAM, S3, EC2, Organizations, STS ...) to
one file, and :func:`restore` puts them back into a fresh server before it serves. The file is a
pickle of moto's own objects behind a one-line JSON header (format, moto and Python versions,
when, which services); it is refused (:class:`SnapshotError`) when the header does not match the
running moto and Python, or when the file is not private to the user (a pickle runs code when
loaded). Locks and conditions inside moto's objects are saved as new, free ones; private keys
(KMS) as DER; DynamoDB items' attribute maps as plain dicts (moto's checks the item's size on
every insertion); a reference to a service's registry (a ``BackendDict``) is saved by name and
restored to the live registry.

Why not moto's recorder (record every request, replay them at start): a replay repeats every
request ever made -- a demo's tens of thousands, reads included -- one by one, and it is not
faithful: ids moto generates (receipt handles, message ids, instance ids, accounts' ids) come out
different, so the recorded DeleteMessage calls miss their messages and every task would come back.
A snapshot restores exactly what was there, in one read.

Messages in flight when the state was saved are restored in flight; the runner gives them back
to their queue when it starts (:func:`release_in_flight`), since locally it is their only
consumer and whoever held them is gone.
"""

from __future__ import annotations

import collections
import copyreg
import functools
import importlib
import io
import json
import os
import pickle
import platform
import stat
import threading
import time
import weakref
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from qrie_local import moto_patches
from qrie_local.private import write_private

__all__ = [
    "SNAPSHOT_FILE",
    "SnapshotError",
    "SnapshotInfo",
    "release_in_flight",
    "restore",
    "save",
]

SNAPSHOT_FILE = "aws-state.pickle"
FORMAT = 1

# Locks inside moto's objects are saved as new, free ones of the same kind.
_FRESH: dict[type, Any] = {
    type(threading.Lock()): threading.Lock,
    type(threading.RLock()): threading.RLock,
    threading.Condition: threading.Condition,
}

Home = tuple[str, str]  # (module, attribute) of a BackendDict


class SnapshotError(Exception):
    """The state could not be saved or restored (the message says why)."""


@dataclass(frozen=True)
class SnapshotInfo:
    """One save or restore: where, what, how big and how long it took."""

    path: str
    services: tuple[str, ...]
    bytes: int
    seconds: float
    saved_at: str
    skipped: tuple[str, ...] = ()  # services that could not be saved (with the reason)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _versions() -> dict[str, str]:
    import moto  # noqa: PLC0415

    return {"moto": str(moto.__version__), "python": platform.python_version()}


def _registries() -> dict[Home, Any]:
    """Every moto service registry (BackendDict) that holds an account, by where it lives."""
    from moto.core.base_backend import BackendDict  # noqa: PLC0415

    found: dict[Home, Any] = {}
    for registry in list(BackendDict._instances):  # type: ignore[misc]
        if not len(registry):
            continue
        module_name = registry.backend.__module__
        module = importlib.import_module(module_name)
        for attribute, value in vars(module).items():
            if value is registry:
                found[(module_name, attribute)] = registry
                break
    return found


def _fresh(factory: Any, _lock: Any) -> tuple[Any, tuple[()]]:
    return factory, ()


def _private_key_types() -> tuple[type, ...]:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa  # noqa: PLC0415

    return (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey)


def load_private_key(der: bytes) -> Any:
    """A private key from its DER form (KMS keys are saved that way: their objects do not
    pickle). It was written by :func:`save` from a key in use, so RSA's costly consistency
    check (~0.1 s a key) is skipped."""
    from cryptography.hazmat.primitives.serialization import load_der_private_key  # noqa: PLC0415

    return load_der_private_key(der, password=None, unsafe_skip_rsa_key_validation=True)


def _key_as_der(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

    return bytes(
        key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def _item_attributes(attributes: dict[str, Any]) -> Any:
    """moto's DynamoDB item attributes (a dict that checks the item's size on every insertion,
    quadratic when unpickled key by key) rebuilt in one update."""
    from moto.dynamodb.models.dynamo_type import LimitedSizeDict  # noqa: PLC0415

    rebuilt = LimitedSizeDict.__new__(LimitedSizeDict)
    dict.update(rebuilt, attributes)
    return rebuilt


def _plain_attributes(attributes: Any) -> tuple[Any, tuple[dict[str, Any]]]:
    return _item_attributes, (dict(attributes),)


def _default_factory(factory: Any) -> Any:
    """A defaultdict's factory as pickle can save it: a ``lambda: {}`` (moto's Lambda keeps
    aliases in such a defaultdict) is ``dict`` (likewise list, set); anything else as it is."""
    if getattr(factory, "__name__", "") != "<lambda>":
        return factory
    made = factory()
    return next((kind for kind in (dict, list, set) if type(made) is kind and not made), factory)


def _defaultdict(factory: Any, items: dict[Any, Any]) -> collections.defaultdict[Any, Any]:
    rebuilt: collections.defaultdict[Any, Any] = collections.defaultdict(factory)
    rebuilt.update(items)
    return rebuilt


def _default_mapping(mapping: Any) -> tuple[Any, tuple[Any, dict[Any, Any]]]:
    return _defaultdict, (_default_factory(mapping.default_factory), dict(mapping))


def _weak_values(values: dict[Any, Any]) -> weakref.WeakValueDictionary[Any, Any]:
    return weakref.WeakValueDictionary(values)


def _weak_mapping(mapping: Any) -> tuple[Any, tuple[dict[Any, Any]]]:
    """A WeakValueDictionary (moto's Lambda indexes its functions by ARN in one) saved as its
    entries: their values are saved where they are held, and stay alive there."""
    return _weak_values, (dict(mapping),)


class _Pickler(pickle.Pickler):
    def __init__(self, file: io.BufferedIOBase, homes: dict[int, Home]) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._homes = homes
        table = dict(copyreg.dispatch_table)
        for kind, factory in _FRESH.items():
            table[kind] = functools.partial(_fresh, factory)
        from moto.dynamodb.models.dynamo_type import LimitedSizeDict  # noqa: PLC0415

        table[LimitedSizeDict] = _plain_attributes
        table[weakref.WeakValueDictionary] = _weak_mapping
        table[collections.defaultdict] = _default_mapping
        self.dispatch_table = table
        self._keys = _private_key_types()

    def persistent_id(self, obj: Any) -> Home | None:
        return self._homes.get(id(obj))

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, self._keys):
            return load_private_key, (_key_as_der(obj),)
        return NotImplemented


class _Unpickler(pickle.Unpickler):
    def persistent_load(self, pid: Any) -> Any:
        module, attribute = pid
        return getattr(importlib.import_module(str(module)), str(attribute))


def _dump(payload: dict[Home, dict[str, Any]], homes: dict[int, Home]) -> bytes:
    buffer = io.BytesIO()
    _Pickler(buffer, homes).dump(payload)
    return buffer.getvalue()


def save(path: Path) -> SnapshotInfo:
    """Write every moto backend in use to ``path`` (0600, atomically). Call when no request is
    being served; DynamoDB and SQS are also held still while they are read."""
    started = time.perf_counter()
    with moto_patches.exclusive():
        registries = _registries()
        homes = {id(registry): home for home, registry in registries.items()}
        payload = {home: dict(registry) for home, registry in registries.items()}
        skipped: list[str] = []
        try:
            body = _dump(payload, homes)
        except Exception:  # find the services that cannot be saved, keep the rest
            for home in list(payload):
                try:
                    _dump({home: payload[home]}, homes)
                except Exception as exc:
                    skipped.append(f"{home[0]}: {type(exc).__name__}: {exc}")
                    del payload[home]
            body = _dump(payload, homes)
    saved_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    services = tuple(sorted(module for module, _ in payload))
    header = {
        "format": FORMAT,
        **_versions(),
        "saved_at": saved_at,
        "services": list(services),
        "skipped": skipped,
    }
    data = json.dumps(header).encode() + b"\n" + body
    write_private(path, data)
    return SnapshotInfo(
        str(path),
        services,
        len(data),
        round(time.perf_counter() - started, 3),
        saved_at,
        tuple(skipped),
    )


def _check_private(path: Path) -> None:
    """Refuse a file another user could have written (loading a pickle runs its code)."""
    for item in (path, path.parent):
        info = item.stat()
        if info.st_uid != os.getuid():
            raise SnapshotError(f"{item} is not owned by this user: not loaded")
        if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise SnapshotError(f"{item} is writable by other users: not loaded")


def restore(path: Path) -> SnapshotInfo:
    """Put the backends saved in ``path`` back, replacing what the registries hold. Call before
    the server serves. Raises SnapshotError if the file is unusable (nothing is changed then)."""
    from moto.core.base_backend import BackendDict, backend_lock  # noqa: PLC0415

    started = time.perf_counter()
    _check_private(path)
    with path.open("rb") as stream:
        try:
            header = json.loads(stream.readline())
        except ValueError as exc:
            raise SnapshotError(f"{path} has no snapshot header: {exc}") from exc
        expected = {"format": FORMAT, **_versions()}
        found = {key: header.get(key) for key in expected}
        if found != expected:
            raise SnapshotError(
                f"{path} was saved by {found}, this is {expected}: not loaded "
                "(start afresh, or go back to the versions that saved it)"
            )
        try:
            payload = _Unpickler(stream).load()
        except Exception as exc:  # a truncated or damaged file
            raise SnapshotError(f"{path} could not be read: {type(exc).__name__}: {exc}") from exc
    with backend_lock, moto_patches.exclusive():
        for (module, attribute), accounts in payload.items():
            registry = getattr(importlib.import_module(module), attribute)
            dict.clear(registry)
            for account_id, backend in accounts.items():
                dict.__setitem__(registry, account_id, backend)
            if registry not in BackendDict._instances:  # type: ignore[misc]
                BackendDict._instances.append(registry)  # type: ignore[misc]
    return SnapshotInfo(
        str(path),
        tuple(sorted(module for module, _ in payload)),
        path.stat().st_size,
        round(time.perf_counter() - started, 3),
        str(header.get("saved_at", "")),
        tuple(header.get("skipped") or ()),
    )


def release_in_flight(queue_urls: Iterable[str]) -> dict[str, int]:
    """Make every in-flight message of these queues visible again (as if each holder had set its
    visibility timeout to 0); returns how many per queue URL. Unknown queues count 0."""
    from moto.sqs.models import sqs_backends  # noqa: PLC0415

    released: dict[str, int] = {}
    with moto_patches.exclusive():
        for url in queue_urls:
            parts = url.rstrip("/").split("/")
            account_id, name = (parts[-2], parts[-1]) if len(parts) >= 2 else ("", "")
            count = 0
            for backend in dict(sqs_backends.get(account_id) or {}).values():
                queue = backend.queues.get(name)
                if queue is None:
                    continue
                for message in list(queue._messages):
                    if not message.visible:  # received (or its visibility changed) and held
                        message.change_visibility(0)
                        queue.pending_messages.discard(message)
                        count += 1
            released[url] = count
    return released
