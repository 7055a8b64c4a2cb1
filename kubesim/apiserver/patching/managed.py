"""managedFields entries: decoding, encoding, and ownership after a non-apply write.

Managers are identified as the real server identifies them (``BuildManagerIdentifier``): by
manager name, operation and subresource, plus apiVersion for ``Update`` managers only, so an
``Apply`` manager keeps one entry across API versions.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kubesim.apiserver.patching._values import clone
from kubesim.apiserver.patching.diff import diff
from kubesim.apiserver.patching.errors import manager_identifier
from kubesim.apiserver.patching.fieldsets import FieldPath, from_fields_v1, to_fields_v1
from kubesim.apiserver.schemas import TypeSchema

__all__ = [
    "MAX_UPDATE_MANAGERS",
    "Manager",
    "ManagerKey",
    "cap_update_managers",
    "decode_managers",
    "encode_managers",
    "track_update",
    "with_managed_fields",
    "without_managed_fields",
]

#: Update managers beyond this many are merged, oldest first, into ``ancient-changes``
#: (``DefaultMaxUpdateManagers`` in the real server).
MAX_UPDATE_MANAGERS = 10
ANCIENT_CHANGES = "ancient-changes"

ManagerKey = tuple[str, str, str, str]
"""(manager, operation, apiVersion or "" for Apply, subresource or "")."""


class Manager:
    """One managedFields entry.

    Its field set is decoded from FieldsV1 only when something needs the whole set; questions
    about a few paths (`owned`) walk the FieldsV1 object directly, and an entry whose set never
    changed is written back from its original FieldsV1 (copied) instead of being re-encoded.
    Replace `fields` by assignment (``m.fields = ...`` or ``m.fields |= ...``), never by
    mutating the set in place, so the entry knows to re-encode.
    """

    __slots__ = ("_fields", "_raw", "api_version", "manager", "operation", "subresource", "time")

    def __init__(
        self,
        manager: str,
        operation: str,
        api_version: str,
        subresource: str,
        time: str | None,
        *,
        fields: set[FieldPath] | None = None,
        raw: dict[str, Any] | None = None,
    ) -> None:
        self.manager = manager
        self.operation = operation
        self.api_version = api_version
        self.subresource = subresource
        self.time = time
        self._fields = fields if fields is not None or raw is not None else set()
        self._raw = raw if fields is None else None

    @property
    def fields(self) -> set[FieldPath]:
        """The owned paths (decoded on first use)."""
        if self._fields is None:
            self._fields = from_fields_v1(self._raw)
        return self._fields

    @fields.setter
    def fields(self, value: set[FieldPath]) -> None:
        self._fields = value
        self._raw = None

    def owned(self, paths: Iterable[FieldPath]) -> set[FieldPath]:
        """Which of `paths` this manager owns."""
        if self._fields is not None:
            return self._fields.intersection(paths)
        return {p for p in paths if _raw_owns(self._raw, p)}

    def discard(self, paths: set[FieldPath]) -> None:
        """Stop owning `paths` (a no-op, keeping the original encoding, if it owns none)."""
        hit = self.owned(paths) if paths else None
        if hit:
            self.fields = self.fields - hit

    def is_empty(self) -> bool:
        """Whether the manager owns nothing."""
        if self._fields is not None:
            return not self._fields
        return not self._raw

    def fields_v1(self) -> dict[str, Any]:
        """The FieldsV1 object to write (a copy of the original when the set never changed)."""
        if self._raw is not None:
            copied: dict[str, Any] = clone(self._raw)
            return copied
        return to_fields_v1(self.fields)

    @property
    def key(self) -> ManagerKey:
        """The identity the real server groups entries by."""
        version = self.api_version if self.operation == "Update" else ""
        return (self.manager, self.operation, version, self.subresource)

    def identity(self) -> dict[str, str]:
        """The fields that name this manager in a conflict message."""
        out = {"manager": self.manager, "operation": self.operation}
        if self.operation == "Update":
            out["apiVersion"] = self.api_version
        if self.subresource:
            out["subresource"] = self.subresource
        return out


def _raw_owns(raw: Any, path: FieldPath) -> bool:
    """Whether the FieldsV1 object `raw` owns `path` (as `from_fields_v1` would decode it)."""
    node = raw
    for element in path:
        if not isinstance(node, dict):
            return False
        node = node.get(element)
    return isinstance(node, dict) and (not node or "." in node)


def _metadata(obj: dict[str, Any] | None) -> dict[str, Any]:
    """`obj`'s metadata, or an empty dict when it has none (or a malformed one)."""
    metadata = obj.get("metadata") if isinstance(obj, dict) else None
    return metadata if isinstance(metadata, dict) else {}


def _text(entry: dict[str, Any], key: str) -> str:
    value = entry.get(key)
    return value if isinstance(value, str) else ""


def decode_managers(obj: dict[str, Any] | None) -> dict[ManagerKey, Manager]:
    """The managers recorded in `obj`'s ``metadata.managedFields`` (malformed entries skipped)."""
    entries = _metadata(obj).get("managedFields")
    out: dict[ManagerKey, Manager] = {}
    if not isinstance(entries, list):
        return out
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        manager = Manager(
            manager=_text(entry, "manager"),
            operation=_text(entry, "operation") or "Update",
            api_version=_text(entry, "apiVersion"),
            subresource=_text(entry, "subresource"),
            time=_text(entry, "time") or None,
            raw=raw if isinstance(raw := entry.get("fieldsV1"), dict) else {},
        )
        existing = out.get(manager.key)
        if existing is not None:
            existing.fields |= manager.fields
        else:
            out[manager.key] = manager
    return out


def encode_managers(managers: dict[ManagerKey, Manager]) -> list[dict[str, Any]]:
    """managedFields entries in the real server's order: Apply first, then by time, name, ..."""
    ordered = sorted(
        (m for m in managers.values() if not m.is_empty()),
        key=lambda m: (m.operation, m.time or "", m.manager, m.api_version, m.subresource),
    )
    out: list[dict[str, Any]] = []
    for m in ordered:
        entry: dict[str, Any] = {"manager": m.manager, "operation": m.operation}
        if m.api_version:
            entry["apiVersion"] = m.api_version
        if m.time:
            entry["time"] = m.time
        entry["fieldsType"] = "FieldsV1"
        entry["fieldsV1"] = m.fields_v1()
        if m.subresource:
            entry["subresource"] = m.subresource
        out.append(entry)
    return out


def _is_reset(entries: Any) -> bool:
    """``managedFields: [{}]`` in a write clears them (an empty list does not)."""
    return isinstance(entries, list) and len(entries) == 1 and entries[0] == {}


def _starting_managers(
    old: dict[str, Any] | None, new: dict[str, Any], subresource: str | None
) -> dict[ManagerKey, Manager]:
    """The managers before this write: the request's own managedFields when it sets some
    (clients may edit them), else the live object's; subresource writes always use live's."""
    if subresource:
        return decode_managers(old)
    requested = _metadata(new).get("managedFields")
    if _is_reset(requested):
        return {}
    from_request = decode_managers(new)
    return from_request if from_request else decode_managers(old)


def without_managed_fields(obj: dict[str, Any] | None) -> dict[str, Any]:
    """`obj` (shallow-copied where needed) without ``metadata.managedFields``; {} for None."""
    if not obj:
        return {}
    metadata = obj.get("metadata")
    if isinstance(metadata, dict) and "managedFields" in metadata:
        obj = {**obj, "metadata": {k: v for k, v in metadata.items() if k != "managedFields"}}
    return obj


def cap_update_managers(managers: dict[ManagerKey, Manager]) -> None:
    """Merge the oldest Update managers into per-version ``ancient-changes`` entries until at
    most `MAX_UPDATE_MANAGERS` remain (``capmanagers.go``): the first old manager of a version
    becomes the bucket when a second one of that version joins it."""
    updaters = [m for m in managers.values() if m.operation != "Apply" and not m.is_empty()]
    if len(updaters) <= MAX_UPDATE_MANAGERS:
        return
    updaters.sort(key=lambda m: (m.time or "", manager_identifier(m.identity())))
    first_of_version: dict[str, Manager] = {}
    remaining = len(updaters)
    for manager in updaters:
        if remaining <= MAX_UPDATE_MANAGERS:
            break
        first = first_of_version.setdefault(manager.api_version, manager)
        if first is manager:
            continue
        bucket_key: ManagerKey = (ANCIENT_CHANGES, "Update", manager.api_version, "")
        bucket = managers.get(bucket_key)
        if bucket is None:
            del managers[first.key]
            bucket = Manager(ANCIENT_CHANGES, "Update", manager.api_version, "", first.time)
            bucket.fields = first.fields
            managers[bucket_key] = bucket
        bucket.fields = bucket.fields | manager.fields
        bucket.time = manager.time
        del managers[manager.key]
        remaining -= 1


def with_managed_fields(obj: dict[str, Any], managers: dict[ManagerKey, Manager]) -> dict[str, Any]:
    """A copy of `obj` (top level and metadata) whose managedFields encode `managers`
    (after capping the Update managers)."""
    cap_update_managers(managers)
    metadata = dict(_metadata(obj))
    entries = encode_managers(managers)
    if entries:
        metadata["managedFields"] = entries
    else:
        metadata.pop("managedFields", None)
    return {**obj, "metadata": metadata}


def track_update(
    old: dict[str, Any] | None,
    new: dict[str, Any],
    *,
    schema: TypeSchema,
    manager: str,
    operation: str = "Update",
    subresource: str | None,
    now: str,
) -> dict[str, Any]:
    """`new` with ``metadata.managedFields`` updated for a non-apply write by `manager`.

    The writer gains every field it added or changed; those fields, and the ones it removed,
    leave every other manager (Update writes never conflict); managers left with nothing are
    dropped. A write that changes nothing leaves the entries as they were. The returned dict
    and its metadata are new; deeper values are shared with `new`.
    """
    managers = _starting_managers(old, new, subresource)
    added, modified, removed = diff(old or {}, new, schema, containers=True)
    changed = added | modified
    me = Manager(manager, operation, str(new.get("apiVersion", "")), subresource or "", now)
    writer = managers.get(me.key)
    if changed or removed:
        touched = changed | removed
        for other in managers.values():
            # The writer keeps what it changes: (own - changed - removed) | changed is
            # (own - removed) | changed, which spares re-encoding an unchanged entry.
            other.discard(removed if other is writer else touched)
    if changed:
        if writer is None:
            me.fields = set(changed)
            managers[me.key] = me
        else:
            if len(writer.owned(changed)) != len(changed):
                writer.fields |= changed
            writer.time = now
    return with_managed_fields(new, managers)
