"""The audit log: one entry per write (and failed write) the API server handled.

Tests and benchmarks count exactly what a client wrote with it, e.g.
`sim.audit.writes(field_manager="rayop")`. Entries are plain dicts:
`time, user_agent, user, verb, group, resource, subresource, namespace, name, field_manager, code`.
Optionally each entry is also appended to a JSON-lines file.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import IO, Any

import orjson

__all__ = ["WRITE_VERBS", "AuditLog"]

#: Verbs that change state (what `writes()` returns).
WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})


class AuditLog:
    """In-memory audit entries (newest last), capped at `max_entries`, plus an optional file.

    The cap bounds memory in long runs (an entry is ~0.5 KB); the file, when given, keeps all."""

    def __init__(self, path: Path | str | None = None, *, max_entries: int = 100_000) -> None:
        self.entries: list[dict[str, Any]] = []
        #: Entries ever recorded (monotonic, unlike len(entries), which is capped).
        self.total = 0
        self.max_entries = max_entries
        self.path = Path(path) if path else None
        self._file: IO[bytes] | None = self.path.open("ab") if self.path else None

    def record(
        self,
        *,
        verb: str,
        resource: str,
        code: int,
        group: str = "",
        subresource: str | None = None,
        namespace: str | None = None,
        name: str | None = None,
        user: str = "",
        user_agent: str = "",
        field_manager: str | None = None,
    ) -> None:
        """Append one entry (never awaits)."""
        entry = {
            "time": datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z"),
            "user_agent": user_agent,
            "user": user,
            "verb": verb,
            "group": group,
            "resource": resource,
            "subresource": subresource,
            "namespace": namespace or None,
            "name": name or None,
            "field_manager": field_manager,
            "code": code,
        }
        self.entries.append(entry)
        self.total += 1
        if len(self.entries) > self.max_entries:
            del self.entries[: len(self.entries) - self.max_entries]
        if self._file is not None:
            self._file.write(orjson.dumps(entry) + b"\n")
            self._file.flush()

    def writes(
        self, user_agent: str | None = None, field_manager: str | None = None
    ) -> list[dict[str, Any]]:
        """Entries of write verbs, optionally only those of one user agent (prefix) or manager."""
        return [
            e
            for e in self.entries
            if e["verb"] in WRITE_VERBS
            and (user_agent is None or str(e["user_agent"]).startswith(user_agent))
            and (field_manager is None or e["field_manager"] == field_manager)
        ]

    def clear(self) -> None:
        """Forget the in-memory entries (the file keeps them)."""
        self.entries.clear()

    def close(self) -> None:
        """Close the JSON-lines file, if any."""
        if self._file is not None:
            self._file.close()
            self._file = None
