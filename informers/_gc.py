"""Keeping CPython's cyclic garbage collector from re-scanning the cache.

Cached API objects are acyclic dicts and lists, freed by reference counting alone, but the
cyclic collector still traverses every one of them: each young collection walks the objects
just stored, and each full collection walks the whole cache. Measured here (see
docs/machinery.md), decoding and storing watch events runs 2–4× slower with the collector on.
Two tools, both safe:

- :func:`paused` suspends automatic collection while one bounded batch (one list page, one
  network chunk of watch events) is decoded and stored, so temporaries created and freed
  inside the batch are never scanned; collection resumes right after.
- :func:`freeze_survivors` (after a list is stored) moves everything alive into the permanent
  generation (``gc.freeze()``), out of every future scan. Objects frozen this way are still
  freed by reference counting; only a reference cycle that was alive at that moment and dies
  later is never reclaimed, a small, bounded cost paid once per list.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

__all__ = ["freeze_survivors", "paused"]


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """Suspend automatic garbage collection for the block (no-op if already disabled)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def freeze_survivors() -> None:
    """Move every live object out of the collector's sight (``gc.freeze()``)."""
    gc.freeze()
