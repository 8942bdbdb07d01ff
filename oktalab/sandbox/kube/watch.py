"""Watch streams: newline-delimited ``WatchEvent`` JSON over a chunked response.

A store listener only wakes the stream; events are then read back from the store's event
log with ``events_since``. Reading the log (rather than the listener's payload) keeps events
in resourceVersion order even when some listener writes to the store from inside a
notification, and makes resumption and "too old" (410) the same code path.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from .errors import ApiError
from .store import ObjectStore, StoreGone, WatchEvent

Obj = dict[str, Any]
BOOKMARK_INTERVAL = 5.0  # seconds of silence before a BOOKMARK (real servers: about a minute)


def _line(type_: str, obj: Obj) -> bytes:
    return (json.dumps({"type": type_, "object": obj}, separators=(",", ":")) + "\n").encode()


class WatchHub:
    """Open watch streams, so that a shutdown can end them (uvicorn waits for open responses)."""

    def __init__(self) -> None:
        self.closed = False
        self.wakes: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    def close(self) -> None:
        """End every open watch (each stream returns after its current event); thread-safe."""
        self.closed = True
        for loop, wake in list(self.wakes):
            try:
                loop.call_soon_threadsafe(wake.set)
            except RuntimeError:  # loop already closed
                pass


def _key(obj: Obj) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return meta.get("namespace", ""), meta.get("name", "")


class _Membership:
    """Which objects the watcher currently sees through its selectors.

    An object that starts matching is sent as ADDED and one that stops matching as DELETED,
    as the apiserver's watch cache does. ``complete``: the watch began with a full list, so an
    object never seen is known not to match; a resumed watch gives unseen objects the benefit
    of the doubt.
    """

    def __init__(
        self, match: Callable[[Obj], bool], *, complete: bool, store: ObjectStore | None = None
    ) -> None:
        self.match = match
        self.complete = complete
        self.store = store
        self.matching: set[tuple[str, str]] = set()
        self.not_matching: set[tuple[str, str]] = set()

    def classify(self, ev: WatchEvent) -> str | None:
        key = (ev.namespace, ev.name)
        now = self.match(ev.object)
        was: bool | None = (
            True if key in self.matching else False if key in self.not_matching else None
        )
        if was is None and self.complete:
            was = False
        elif was is None and self.store is not None:
            prev = self.store.event_before(
                ev.group, ev.plural, ev.namespace, ev.name, ev.resource_version
            )
            if prev is not None:
                was = prev.type != "DELETED" and self.match(prev.object)
        if ev.type == "DELETED":
            self.matching.discard(key)
            self.not_matching.discard(key)
            return "DELETED" if (now or was) else None
        if now:
            self.matching.add(key)
            self.not_matching.discard(key)
            return "ADDED" if was is False else ev.type
        self.not_matching.add(key)
        self.matching.discard(key)
        return "DELETED" if was else None


async def stream(
    store: ObjectStore,
    group: str,
    plural: str,
    namespace: str | None,
    match: Callable[[Obj], bool],
    render: Callable[[Obj], Obj],
    *,
    resource_version: str | None,
    timeout: float,
    bookmarks: bool,
    bookmark_object: Callable[[str], Obj],
    hub: WatchHub | None = None,
) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()
    if hub is not None:
        hub.wakes.add((loop, wake))
    loop_thread = threading.get_ident()

    def listener(event: WatchEvent) -> None:
        # Never raise into the writer (a controller's store.create would fail with us).
        if threading.get_ident() == loop_thread:
            wake.set()
            return
        try:
            loop.call_soon_threadsafe(wake.set)
        except RuntimeError:  # the stream's loop is gone; its finally will unregister us
            pass

    store.add_listener(listener)
    try:
        if resource_version in (None, "", "0"):
            objs, last = store.list(group, plural, namespace)
            membership = _Membership(match, complete=True)
            for obj in objs:
                if match(obj):
                    membership.matching.add(_key(obj))
                    yield _line("ADDED", render(obj))
        else:
            membership = _Membership(match, complete=False, store=store)
            try:
                last = int(resource_version)
            except ValueError:
                err = ApiError(400, "BadRequest", f'invalid resource version: "{resource_version}"')
                yield _line("ERROR", err.status())
                return
        deadline = time.monotonic() + timeout
        idle_since = time.monotonic()
        while True:
            if hub is not None and hub.closed:
                return
            wake.clear()
            try:
                events = store.events_since(last)
            except StoreGone as exc:
                gone = ApiError(
                    410,
                    "Expired",
                    f"too old resource version: {last} ({str(exc).split('(')[-1].rstrip(')')})",
                )
                yield _line("ERROR", gone.status())
                return
            sent = False
            for ev in events:
                last = ev.resource_version
                if ev.group != group or ev.plural != plural:
                    continue
                if namespace is not None and ev.namespace != namespace:
                    continue
                kind = membership.classify(ev)
                if kind is None:
                    continue
                yield _line(kind, render(ev.object))
                sent = True
            now = time.monotonic()
            if sent:
                idle_since = now
            if now >= deadline:
                return
            if bookmarks and now - idle_since >= BOOKMARK_INTERVAL:
                yield _line("BOOKMARK", bookmark_object(str(max(last, store.current_rv()))))
                idle_since = now
            wait = deadline - now
            if bookmarks:
                wait = min(wait, max(0.05, BOOKMARK_INTERVAL - (now - idle_since)))
            try:
                await asyncio.wait_for(wake.wait(), timeout=wait)
            except TimeoutError:
                pass
    finally:
        store.remove_listener(listener)
        if hub is not None:
            hub.wakes.discard((loop, wake))
