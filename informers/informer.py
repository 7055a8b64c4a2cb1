"""SharedInformer: one reflector and one store per resource, fanned out to many handlers.

Each object is decoded once, passed through the informer's ``transform`` once (default:
:func:`~informers.transforms.strip_managed_fields`), stored, then handed to every handler:

- ``on_add(obj)`` — a new object (from a list or a watch);
- ``on_update(old, new)`` — a changed object, or, with ``resync_period``, every object again
  as ``on_update(obj, obj)``;
- ``on_delete(obj)`` — ``obj`` is the final state, or a
  :class:`~informers.store.DeletedFinalStateUnknown` tombstone when the delete was noticed
  only by a relist.

Handlers are plain callables and run synchronously, in event order, before the next event is
stored; they must not block (enqueue a key and return). An exception in one is logged and
does not stop the others or the informer. A handler added after the informer synced receives
an ``on_add`` for every object already cached.

``has_synced`` is true once the first list is stored *and* delivered to the handlers;
:func:`wait_for_cache_sync` waits for several informers.

``run()`` owns its tasks (the reflector, and the resync timer) in a TaskGroup, all named;
cancel the task running it to stop the informer cleanly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from informers._gc import freeze_survivors, paused
from informers.backoff import Backoff
from informers.client import RequestHooks, ResourceClient
from informers.reflector import PAGE_SIZE, WATCH_TIMEOUT, Reflector
from informers.store import DeletedFinalStateUnknown, IndexFunc, Store, object_key
from informers.transforms import Transform, freeze, strip_managed_fields

__all__ = ["HandlerRegistration", "SharedInformer", "wait_for_cache_sync"]

log = structlog.get_logger("informers.informer")

Obj = dict[str, Any]
AddHandler = Callable[[Obj], object]
UpdateHandler = Callable[[Obj, Obj], object]
DeleteHandler = Callable[[Obj | DeletedFinalStateUnknown], object]


@dataclass(slots=True)
class HandlerRegistration:
    """One handler set; ``has_synced`` once the initial objects were delivered to it."""

    on_add: AddHandler | None
    on_update: UpdateHandler | None
    on_delete: DeleteHandler | None
    has_synced: bool = False


class SharedInformer:
    """Caches one resource and tells handlers about every change."""

    def __init__(
        self,
        api_client: Any,
        *,
        group: str,
        version: str,
        plural: str,
        namespace: str | None = None,
        label_selector: str = "",
        field_selector: str = "",
        transform: Transform | None = None,
        resync_period: float | None = None,
        name: str | None = None,
        indexers: Mapping[str, IndexFunc] | None = None,
        read_only: bool = False,
        freeze_gc: bool = True,
        read_timeout: float = 75.0,
        page_size: int = PAGE_SIZE,
        watch_timeout: tuple[float, float] = WATCH_TIMEOUT,
        backoff: Backoff | None = None,
        request_hooks: RequestHooks | None = None,
        stream_lists: bool = False,
    ) -> None:
        """Watch ``group/version/plural`` (``group=""`` for core) with ``api_client``.

        ``transform`` (default: drop managedFields) runs once per object before it is stored.
        ``read_only=True`` also freezes each object (mutation raises TypeError; costs CPU).
        ``freeze_gc=True`` moves the cache out of the cyclic garbage collector's sight after
        each list (``gc.freeze()``): a Python process holding tens of thousands of objects
        otherwise spends most of its time re-scanning them (see docs/machinery.md).
        ``stream_lists=True`` lists by a watch with ``sendInitialEvents`` where the server
        supports it (informers/reflector.py), decoding and transforming object by object.
        """
        if resync_period is not None and resync_period < 1.0:
            raise ValueError(f"resync_period: must be at least 1 second, got {resync_period!r}")
        self.name = name or (f"{plural}.{group}" if group else plural)
        self.store = Store(indexers)
        self._transform = transform or strip_managed_fields
        self._read_only = read_only
        self._freeze_gc = freeze_gc
        self._resync_period = resync_period
        self._handlers: list[HandlerRegistration] = []
        self._synced = asyncio.Event()
        self._running = False
        self._log = log.bind(informer=self.name)
        client = ResourceClient(
            api_client,
            group=group,
            version=version,
            plural=plural,
            namespace=namespace,
            read_timeout=read_timeout,
            hooks=request_hooks,
        )
        self.reflector = Reflector(
            client,
            self,
            name=self.name,
            label_selector=label_selector,
            field_selector=field_selector,
            page_size=page_size,
            watch_timeout=watch_timeout,
            backoff=backoff,
            stream_lists=stream_lists,
        )

    # ------------------------------------------------------------------ public

    @property
    def has_synced(self) -> bool:
        """True once the first list is in the store and was delivered to the handlers."""
        return self._synced.is_set()

    def add_handler(
        self,
        on_add: AddHandler | None = None,
        on_update: UpdateHandler | None = None,
        on_delete: DeleteHandler | None = None,
    ) -> HandlerRegistration:
        """Register handlers; if already synced, ``on_add`` every cached object at once."""
        registration = HandlerRegistration(on_add, on_update, on_delete)
        self._handlers.append(registration)
        if self.has_synced:
            for obj in self.store.list():
                self._call(registration.on_add, obj)
            registration.has_synced = True
        return registration

    async def run(self) -> None:
        """Run the reflector (and the resync timer) until cancelled."""
        if self._running:
            raise RuntimeError(f"informer {self.name} is already running")
        self._running = True
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self.reflector.run(), name=f"informer:{self.name}:reflector")
                if self._resync_period is not None:
                    tasks.create_task(self._resync(), name=f"informer:{self.name}:resync")
        except BaseException as exc:
            if not isinstance(exc, asyncio.CancelledError):
                # The reflector survives every API failure, so this is a bug (e.g. in a
                # transform): say so before the caller's TaskGroup unwinds.
                self._log.error("informer crashed", error=repr(exc))
            raise
        finally:
            self._running = False

    async def wait_for_sync(self) -> None:
        """Wait until :attr:`has_synced`."""
        await self._synced.wait()

    # ------------------------------------------------------------------ reflector sink

    def replace(self, objects: list[Obj], resource_version: str) -> None:
        """Store a fresh list of ``prepare``d objects; deliver adds, updates and tombstones
        (reflector sink)."""
        with paused():
            result = self.store.replace(objects)
            for obj in result.added:
                self._dispatch_add(obj)
            for old, new in result.updated:
                self._dispatch_update(old, new)
            for tombstone in result.deleted:
                self._dispatch_delete(tombstone)
            if not self._synced.is_set():
                for registration in self._handlers:
                    registration.has_synced = True
                self._synced.set()
            if self._freeze_gc:
                freeze_survivors()
        self._log.debug("store replaced", objects=len(objects), deleted=len(result.deleted))

    def apply(self, events: list[Obj]) -> None:
        """Store watch events and deliver them (reflector sink)."""
        store = self.store
        for event in events:
            obj = self.prepare(event["object"])
            if event["type"] == "DELETED":
                if store.delete(object_key(obj)) is not None:
                    self._dispatch_delete(obj)
                continue
            old = store.upsert(obj)
            if old is None:
                self._dispatch_add(obj)
            else:
                self._dispatch_update(old, obj)

    # ------------------------------------------------------------------ delivery

    def prepare(self, obj: Obj) -> Obj:
        """The object as stored: transformed, and frozen if read-only (reflector sink)."""
        obj = self._transform(obj)
        return freeze(obj) if self._read_only else obj

    def _dispatch_add(self, obj: Obj) -> None:
        for registration in self._handlers:
            if registration.on_add is not None:
                self._call(registration.on_add, obj)

    def _dispatch_update(self, old: Obj, new: Obj) -> None:
        for registration in self._handlers:
            if registration.on_update is not None:
                self._call(registration.on_update, old, new)

    def _dispatch_delete(self, obj: Obj | DeletedFinalStateUnknown) -> None:
        for registration in self._handlers:
            if registration.on_delete is not None:
                self._call(registration.on_delete, obj)

    def _call(self, handler: Callable[..., object] | None, *args: Any) -> None:
        if handler is None:
            return
        try:
            handler(*args)
        except Exception:
            self._log.exception("event handler failed", handler=repr(handler))

    async def _resync(self) -> None:
        assert self._resync_period is not None
        await self._synced.wait()
        while True:
            await asyncio.sleep(self._resync_period)
            for obj in self.store.list():
                self._dispatch_update(obj, obj)


async def wait_for_cache_sync(*informers: SharedInformer, timeout: float) -> bool:  # noqa: ASYNC109 (the contract names it, like client-go)
    """Wait until every informer has synced; False if ``timeout`` seconds pass first."""
    try:
        async with asyncio.timeout(timeout):
            for informer in informers:
                await informer.wait_for_sync()
    except TimeoutError:
        return False
    return True
