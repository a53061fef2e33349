"""Run-time management of a node's webhooks: the layer the REST API, the CLI and the tests call.

Two sources of webhooks: the config file's ``[[webhooks]]`` (read-only at run time: change the file and
restart; only enable/disable is allowed, and it is not saved) and webhooks created at run time, saved in
``<data_dir>/webhooks.json`` (secrets included, so the file is private: mode 0600). Names are unique across
both. Every operation is a coroutine on the node's event loop; errors are `WebhookError` with the HTTP status
an API should answer and, for invalid settings, one line per problem naming the field.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import orjson
from pydantic import ValidationError

from hookmq.events import catalogue
from hookmq.events.hub import EventHub
from hookmq.store import DeliveryQueue, EnqueueResult, StoreError

from .delivery import TEST_HEADER, Intake, QueueProcess, WebhookRuntime
from .http import HttpError, HttpPool
from .log import Attempt, snippet
from .metrics import WebhookCollector
from .model import WebhookConfig, describe_errors, mask_headers, restore_masked
from .policy import classify
from .request import RequestBuilder, encode_event
from .signing import new_delivery_id, signature_headers

__all__ = ["QUEUE_FILE", "STORE_FILE", "TestResult", "WebhookError", "WebhookService"]

log = logging.getLogger(__name__)

STORE_FILE: Final = "webhooks.json"
QUEUE_FILE: Final = "webhooks.db"
STOP_GRACE: Final = 2.0  # seconds in-flight requests get to finish when the node stops

Source = Literal["file", "api"]


class WebhookError(Exception):
    """A webhook operation that cannot be done. ``status`` is the HTTP status an API answers with."""

    def __init__(self, message: str, status: int, errors: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.errors = list(errors)


@dataclass(frozen=True, slots=True, kw_only=True)
class TestResult:
    """What a Test request got: the answer (status, headers, body snippet) or the connection error."""

    ok: bool  # 2xx
    outcome: str  # what delivery would do with this answer: success, retry, failed, gone
    status: int | None
    latency_ms: float
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: str = ""
    error: str | None = None
    request: dict[str, Any] = field(default_factory=dict)  # method, url, headers, body as sent

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "outcome": self.outcome, "status": self.status, "latency_ms": self.latency_ms,
                "headers": [list(pair) for pair in self.headers], "body": self.body, "error": self.error,
                "request": self.request}


@dataclass(slots=True)
class _Entry:
    runtime: WebhookRuntime
    source: Source


class WebhookService:
    """Owns the delivery queue, the intake and one `WebhookRuntime` per webhook."""

    def __init__(self, hub: EventHub, data_dir: Path, file_webhooks: Iterable[WebhookConfig] = ()) -> None:
        self._hub = hub
        self._data_dir = Path(data_dir)
        self._file_webhooks = list(file_webhooks)
        self._entries: dict[str, _Entry] = {}
        self._queue: QueueProcess | None = None
        self._intake: Intake | None = None
        self._lock = asyncio.Lock()  # one change at a time: a change stops and starts runtimes
        self._background: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Open the queue, put back what a crash left in flight, and start every webhook.

        Raises:
            StoreError: the queue cannot be opened.
            WebhookError: ``webhooks.json`` is unreadable or holds an invalid webhook (the message says which).
        """
        stored = self._load_store()
        path = self._data_dir / QUEUE_FILE
        stored_before = path.exists()
        self._queue = queue = QueueProcess(path)  # its process starts with the first call: none without webhooks
        if stored_before:
            released = await queue.call(DeliveryQueue.release_inflight)
            if released:
                log.info("webhooks: %d deliveries interrupted by the last stop will be sent again", released)
        self._intake = Intake(queue, self._enqueued)
        self._intake.start()
        for config in self._file_webhooks:
            await self._add(config, "file")
        for config in stored:
            if config.name in self._entries:
                log.warning("webhooks: %s defines %r, which the config file also defines; the file's is used",
                            self._store_path, config.name)
                continue
            await self._add(config, "api")
        if self._entries:
            described = (f"{name} ({entry.source}{'' if entry.runtime.config.enable else ', disabled'})"
                         for name, entry in self._entries.items())
            log.info("webhooks: %s", ", ".join(described))
        orphans = set(await queue.call(DeliveryQueue.webhooks)) - set(self._entries) if stored_before else set()
        for name in sorted(orphans):
            stats = await queue.call(DeliveryQueue.stats, name)
            log.warning("webhooks: %d queued and %d dead deliveries belong to %r, which is no longer configured; "
                        "they are kept until a webhook of that name exists again", stats.queued, stats.dead, name)

    async def stop(self) -> None:
        """Stop intake (committing what is pending), then delivery (in-flight requests get `STOP_GRACE`)."""
        for entry in self._entries.values():
            entry.runtime.stop_listening()
        if self._intake is not None:
            await self._intake.stop()
        await asyncio.gather(*(entry.runtime.stop(STOP_GRACE) for entry in self._entries.values()))
        for task in list(self._background):
            await asyncio.gather(task, return_exceptions=True)
        if self._queue is not None:
            await self._queue.close()
            self._queue = None

    # ------------------------------------------------------------------------------------------ reads

    def names(self) -> list[str]:
        return list(self._entries)

    def webhooks(self) -> list[dict[str, Any]]:
        """Every webhook, file ones first, as `info` shows it."""
        return [self.info(name) for name in self._entries]

    def info(self, name: str) -> dict[str, Any]:
        """Settings (secrets masked), where it comes from, status and metrics."""
        entry = self._entry(name)
        metrics = entry.runtime.metrics
        return {**entry.runtime.config.public_dict(), "source": entry.source, "read_only": entry.source == "file",
                "status": metrics.status, "status_reason": metrics.status_reason, "metrics": metrics.snapshot()}

    def config(self, name: str) -> WebhookConfig:
        return self._entry(name).runtime.config

    def metrics(self, name: str) -> dict[str, Any]:
        return self._entry(name).runtime.metrics.snapshot()

    def reset_metrics(self, name: str) -> dict[str, Any]:
        """Zero the webhook's counters (gauges stay); returns the fresh snapshot."""
        metrics = self._entry(name).runtime.metrics
        metrics.reset()
        return metrics.snapshot()

    def delivery_log(self, name: str, limit: int = 50, outcome: str | None = None) -> list[dict[str, Any]]:
        """Recent attempts, newest first."""
        return [attempt.to_dict() for attempt in self._entry(name).runtime.log.recent(limit, outcome)]

    def collector(self) -> WebhookCollector:
        """Prometheus collector of every webhook's metrics."""
        return WebhookCollector(lambda: [(name, entry.runtime.metrics) for name, entry in self._entries.items()])

    async def dead_letters(self, name: str, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
        """The webhook's dead letters, oldest first, with the event as it was queued."""
        return (await self.dead_letter_page(name, limit, offset))[0]

    async def dead_letter_page(self, name: str, limit: int = 50, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """A page of `dead_letters` and how many there are in all, read in one transaction (so they agree)."""
        self._entry(name)
        rows, total = await self._running().call(DeliveryQueue.dead_letter_page, name, limit, offset)
        return [{"delivery_id": row.delivery_id, "event": row.event, "attempts": row.attempts, "status": row.status,
                 "reason": row.reason, "response": row.response, "created_at": row.created_at,
                 "last_attempt_at": row.last_attempt_at, "failed_at": row.failed_at,
                 "payload": _loads(row.body)} for row in rows], total

    async def queue_stats(self, name: str) -> dict[str, int]:
        self._entry(name)
        stats = await self._running().call(DeliveryQueue.stats, name)
        return {"queued": stats.queued, "inflight": stats.inflight, "bytes": stats.bytes, "dead": stats.dead}

    # ------------------------------------------------------------------------------------------ changes

    async def create(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Validate and start a new webhook, and save it.

        Raises:
            WebhookError: 400 invalid (``errors`` name each field), 409 the name is taken.
        """
        config = _validate(data)
        async with self._lock:
            if config.name in self._entries:
                raise WebhookError(f"a webhook named {config.name!r} already exists", 409)
            await self._add(config, "api")
            self._save()
        log.info("webhooks: created %r", config.name)
        return self.info(config.name)

    async def update(self, name: str, data: Mapping[str, Any]) -> dict[str, Any]:
        """Replace a run-time webhook's settings (``"******"`` keeps the current secret or credential header).
        Queued events are kept and are sent with the new settings.

        Raises:
            WebhookError: 404, 403 (defined in the config file), 400 invalid (renaming is invalid too).
        """
        async with self._lock:
            entry = self._writable(name)
            merged = restore_masked({"name": name, **data}, entry.runtime.config)
            config = _validate(merged)
            if config.name != name:
                raise WebhookError("a webhook cannot be renamed; create a new one and delete this one", 400,
                                   [f"webhooks[{name}].name: cannot change (got {config.name!r})"])
            await self._replace(entry, config)
            self._save()
        log.info("webhooks: updated %r", name)
        return self.info(name)

    async def set_enabled(self, name: str, enable: bool) -> dict[str, Any]:
        """Enable or disable. For a config-file webhook this lasts until the node restarts."""
        async with self._lock:
            entry = self._entry(name)
            await self._replace(entry, entry.runtime.config.model_copy(update={"enable": enable}))
            if entry.source == "api":
                self._save()
        log.info("webhooks: %s %r", "enabled" if enable else "disabled", name)
        return self.info(name)

    async def delete(self, name: str) -> None:
        """Stop a run-time webhook and delete it with everything it had queued and its dead letters."""
        async with self._lock:
            entry = self._writable(name)
            await entry.runtime.stop()
            del self._entries[name]
            self._save()
            assert self._intake is not None
            await self._intake.drain()  # events matched before the stop must not outlive the purge
            removed = await self._running().call(DeliveryQueue.purge, name)
        log.info("webhooks: deleted %r (%d queued and %d dead deliveries removed)", name,
                 removed.queued + removed.inflight, removed.dead)

    async def replay(self, name: str, delivery_ids: Sequence[str] | None = None) -> int:
        """Queue dead letters again (all of them, or those with these ``webhook-id``s); returns how many."""
        entry = self._entry(name)
        ids = None if delivery_ids is None else list(delivery_ids)
        count = await self._running().call(DeliveryQueue.replay, name, ids)
        metrics = entry.runtime.metrics
        metrics.matched += count
        metrics.queuing += count
        entry.runtime.notify()
        return count

    # ------------------------------------------------------------------------------------------ test

    async def test(self, data: Mapping[str, Any] | None = None, *, name: str | None = None,
                   event: str = "message.publish") -> TestResult:
        """Send one real sample request, marked ``webhook-test: true``, and report what came back.

        ``name`` tests a saved webhook (``data``, if given, are unsaved changes to it, masks allowed);
        ``data`` alone tests settings not saved yet. The sample is the event catalogue's example of
        ``event``, rendered with the webhook's template, headers and signature like a real delivery.
        Nothing is queued or retried; the attempt shows in a saved webhook's delivery log.

        Raises:
            WebhookError: 404 unknown name, 400 invalid settings or unknown event.
        """
        if name is not None:
            current = self._entry(name).runtime.config
            config = current if data is None else _validate(restore_masked({"name": name, **data}, current))
        elif data is not None:
            config = _validate(data)
        else:
            raise WebhookError("give the settings to test or the name of a webhook", 400)
        try:
            spec = catalogue.get(event)
        except KeyError as exc:
            raise WebhookError(str(exc.args[0]), 400) from None
        sample = spec.example.copy()  # a message example's copy keeps its raw payload (MessagePayload.copy)
        sample["timestamp"] = time.time_ns() // 1_000_000
        stored = encode_event(sample, config.payload_encoding)
        builder = RequestBuilder(config)
        delivery_id = new_delivery_id()
        if config.batch_size > 1:
            target, headers, body = builder.build_batch([stored], [delivery_id])
        else:
            target, headers, body = builder.build(stored)
        sent_at = time.time()
        header_list = [*headers.items(), TEST_HEADER,
                       *signature_headers(config.signing_keys, delivery_id,
                                          int(sent_at), body)]
        request = {"method": config.method, "url": builder.template.base + target,
                   "headers": [[k, v] for k, v in mask_headers(dict(header_list)).items()],
                   "body": body.decode("utf-8", "replace")}
        pool = HttpPool(builder.template.base, pool_size=1, connect_timeout=config.connect_timeout,
                        request_timeout=config.request_timeout)
        start = time.perf_counter()  # not loop.time(): uvloop's clock ticks in milliseconds
        try:
            response = await pool.request(config.method, target, header_list, body)
        except HttpError as exc:
            result = TestResult(ok=False, outcome="retry", status=None, latency_ms=_ms(time.perf_counter() - start),
                                error=str(exc), request=request)
        else:
            result = TestResult(ok=200 <= response.status < 300, status=response.status,
                                outcome=classify(response.status, config.retry.retry_statuses).value,
                                latency_ms=_ms(time.perf_counter() - start), headers=list(response.headers),
                                body=snippet(response.body), request=request)
        finally:
            await pool.close()
        if name is not None and name in self._entries:
            self._entries[name].runtime.log.add(Attempt(
                at=sent_at, delivery_id=delivery_id, event=event, attempt=1, outcome="test", status=result.status,
                latency_ms=result.latency_ms, error=result.error, response=result.body))
        return result

    # ------------------------------------------------------------------------------------------ internals

    def _entry(self, name: str) -> _Entry:
        entry = self._entries.get(name)
        if entry is None:
            raise WebhookError(f"no webhook named {name!r}", 404)
        return entry

    def _writable(self, name: str) -> _Entry:
        entry = self._entry(name)
        if entry.source == "file":
            raise WebhookError(f"webhook {name!r} is defined in the config file and is read-only at run time; "
                               f"change the file and restart (enable/disable works until the restart)", 403)
        return entry

    def _running(self) -> QueueProcess:
        if self._queue is None:
            raise WebhookError("webhooks are not running (the node is stopping)", 503)
        return self._queue

    async def _add(self, config: WebhookConfig, source: Source) -> None:
        queue, intake = self._running(), self._intake
        assert intake is not None
        runtime = WebhookRuntime(config, queue=queue, intake=intake, hub=self._hub, on_gone=self._gone)
        stats = await queue.call(DeliveryQueue.stats, config.name)
        runtime.metrics.matched = runtime.metrics.queuing = stats.queued + stats.inflight
        self._entries[config.name] = _Entry(runtime, source)
        runtime.start()

    async def _replace(self, entry: _Entry, config: WebhookConfig) -> None:
        old = entry.runtime
        await old.stop()
        assert self._intake is not None
        entry.runtime = WebhookRuntime(config, queue=self._running(), intake=self._intake, hub=self._hub,
                                       on_gone=self._gone, metrics=old.metrics, log_=old.log)
        entry.runtime.start()

    def _gone(self, runtime: WebhookRuntime, reason: str) -> None:
        """410 from the receiver: disable the webhook (Standard Webhooks), visibly, with the reason."""
        async def disable() -> None:
            entry = self._entries.get(runtime.name)
            if entry is None or entry.runtime is not runtime or not runtime.config.enable:
                return
            log.warning("webhooks: disabling %r: %s", runtime.name, reason)
            await self.set_enabled(runtime.name, False)
            entry.runtime.metrics.status_reason = reason

        task = asyncio.get_running_loop().create_task(disable())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _enqueued(self, result: EnqueueResult, lost: dict[str, int]) -> None:
        for name, counts in result.webhooks.items():
            entry = self._entries.get(name)
            if entry is None:
                continue
            if counts.dropped:
                entry.runtime.metrics.queuing -= counts.dropped
                entry.runtime.dropped("queue_full", counts.dropped)
        for name, count in lost.items():
            entry = self._entries.get(name)
            if entry is not None:
                entry.runtime.metrics.queuing -= count
                entry.runtime.dropped("store_error", count)

    # -- webhooks.json

    @property
    def _store_path(self) -> Path:
        return self._data_dir / STORE_FILE

    def _load_store(self) -> list[WebhookConfig]:
        path = self._store_path
        try:
            data = orjson.loads(path.read_bytes())
        except FileNotFoundError:
            return []
        except (OSError, orjson.JSONDecodeError) as exc:
            raise WebhookError(f"{path}: cannot read the saved webhooks: {exc}", 500) from None
        items = data.get("webhooks") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise WebhookError(f"{path}: not a hookmq webhooks file (no \"webhooks\" list)", 500)
        configs = []
        for item in items:
            try:
                configs.append(WebhookConfig.model_validate(item))
            except ValidationError as exc:
                name = item.get("name") if isinstance(item, dict) else None
                lines = describe_errors(exc, name=name if isinstance(name, str) else None)
                raise WebhookError(f"{path}: saved webhook is invalid: {lines[0]}", 500, lines) from None
        return configs

    def _save(self) -> None:
        """Write the run-time webhooks atomically (a crash leaves the old or the new file, never half)."""
        configs = [entry.runtime.config.model_dump(mode="json") for entry in self._entries.values()
                   if entry.source == "api"]
        data = orjson.dumps({"version": 1, "webhooks": configs}, option=orjson.OPT_INDENT_2)
        path = self._store_path
        tmp = path.with_suffix(".json.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise StoreError(f"{path}: cannot save the webhooks: {exc}") from exc


def _validate(data: Mapping[str, Any]) -> WebhookConfig:
    try:
        return WebhookConfig.model_validate(dict(data))
    except ValidationError as exc:
        name = data.get("name")
        lines = describe_errors(exc, name=name if isinstance(name, str) else None)
        raise WebhookError("invalid webhook: " + "; ".join(lines), 400, lines) from None


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def _loads(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return body.decode("utf-8", "replace")
