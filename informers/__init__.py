"""List+watch reflectors, indexed stores and shared informers with client-go's semantics.

This package imports nothing of rayop's: it works for any Kubernetes resource, built-in or
custom, named by group/version/plural. Modules, bottom up:

- ``errors.py`` — the error tree every HTTP failure is translated into;
- ``client.py`` — raw list and watch requests over kubernetes-asyncio's transport, decoded with
  orjson into plain dicts (never the generated model classes), with a socket read timeout;
- ``backoff.py`` — 0.8 s doubling to 30 s with jitter, reset after two healthy minutes;
- ``reflector.py`` — list, then watch from the list's version, with the resourceVersion rules;
- ``store.py`` — objects by ``"namespace/name"``, with ``"namespace"`` and ``"owner"`` indexes,
  and ``replace`` that turns objects gone during a gap into tombstones;
- ``transforms.py`` — the per-object transform (default: drop managedFields), slimming, freezing;
- ``informer.py`` — :class:`SharedInformer` and :func:`wait_for_cache_sync`.

Typical use::

    pods = SharedInformer(api, group="", version="v1", plural="pods",
                          label_selector="ray.io/cluster")
    pods.add_handler(on_add=enqueue, on_update=lambda old, new: enqueue(new),
                     on_delete=enqueue)
    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(pods.run(), name="informer:pods")
        if not await wait_for_cache_sync(pods, timeout=120):
            raise RuntimeError("pods cache did not sync")
        ...
"""

from informers.backoff import Backoff
from informers.client import RequestHooks, ResourceClient
from informers.errors import (
    ApiError,
    ConnectionLost,
    Expired,
    InformerError,
    ServerError,
    TooManyRequests,
)
from informers.informer import HandlerRegistration, SharedInformer, wait_for_cache_sync
from informers.reflector import Reflector, ReflectorSink
from informers.store import (
    NAMESPACE_INDEX,
    OWNER_INDEX,
    DeletedFinalStateUnknown,
    IndexFunc,
    ReplaceResult,
    Store,
    controller_owner_uids,
    namespace_of,
    object_key,
)
from informers.transforms import FrozenDict, Transform, freeze, keep_fields, strip_managed_fields

__all__ = [
    "NAMESPACE_INDEX",
    "OWNER_INDEX",
    "ApiError",
    "Backoff",
    "ConnectionLost",
    "DeletedFinalStateUnknown",
    "Expired",
    "FrozenDict",
    "HandlerRegistration",
    "IndexFunc",
    "InformerError",
    "Reflector",
    "ReflectorSink",
    "ReplaceResult",
    "RequestHooks",
    "ResourceClient",
    "ServerError",
    "SharedInformer",
    "Store",
    "TooManyRequests",
    "Transform",
    "controller_owner_uids",
    "freeze",
    "keep_fields",
    "namespace_of",
    "object_key",
    "strip_managed_fields",
    "wait_for_cache_sync",
]
