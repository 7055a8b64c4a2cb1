"""The reflector's handling of one chunk of watch lines: versions, bookmarks, errors."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from informers import ConnectionLost, Expired, Reflector, ServerError


class Sink:
    """Records what the reflector delivers."""

    def __init__(self) -> None:
        self.applied: list[tuple[str, str]] = []

    def prepare(self, obj: dict[str, Any]) -> dict[str, Any]:
        return obj

    def replace(self, objects: list[dict[str, Any]], resource_version: str) -> None:
        raise AssertionError("no list in these tests")

    def apply(self, events: list[dict[str, Any]]) -> None:
        self.applied += [(e["type"], e["object"]["metadata"]["name"]) for e in events]


def line(kind: str, name: str = "", rv: str = "1", **extra: Any) -> bytes:
    obj: dict[str, Any] = {"metadata": {"resourceVersion": rv}, **extra}
    if name:
        obj["metadata"]["name"] = name
    return orjson.dumps({"type": kind, "object": obj})


def reflector(sink: Sink) -> Reflector:
    return Reflector(None, sink, name="test")  # type: ignore[arg-type]


def test_changes_are_applied_in_order_and_move_the_version() -> None:
    """ADDED/MODIFIED/DELETED are delivered in order; the last version is the last event's."""
    sink = Sink()
    r = reflector(sink)
    r._deliver(
        [line("ADDED", "a", "5"), b"", line("MODIFIED", "a", "6"), line("DELETED", "a", "7")]
    )
    assert sink.applied == [("ADDED", "a"), ("MODIFIED", "a"), ("DELETED", "a")]
    assert r.last_resource_version == "7"


def test_a_bookmark_moves_the_version_without_a_change() -> None:
    """A BOOKMARK delivers nothing but becomes the version to resume from."""
    sink = Sink()
    r = reflector(sink)
    r._deliver([line("ADDED", "a", "5"), line("BOOKMARK", rv="42")])
    assert sink.applied == [("ADDED", "a")]
    assert r.last_resource_version == "42"


def test_an_error_event_410_raises_expired_after_delivering_earlier_events() -> None:
    """ERROR 410 means relist; events before it in the same chunk are not lost."""
    sink = Sink()
    r = reflector(sink)
    error = orjson.dumps(
        {
            "type": "ERROR",
            "object": {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"},
        }
    )
    with pytest.raises(Expired, match="too old"):
        r._deliver([line("ADDED", "a", "5"), error, line("ADDED", "b", "6")])
    assert sink.applied == [("ADDED", "a")]
    assert r.last_resource_version == "5"


def test_other_error_events_raise_their_status() -> None:
    """ERROR events with other codes surface as ApiError subclasses (here a 500)."""
    error = orjson.dumps(
        {"type": "ERROR", "object": {"code": 500, "reason": "InternalError", "message": "boom"}}
    )
    with pytest.raises(ServerError):
        reflector(Sink())._deliver([error])


@pytest.mark.parametrize("garbage", [b"{not json", b'{"type": "ADDED"}', b'"just a string"'])
def test_a_malformed_line_is_a_lost_connection(garbage: bytes) -> None:
    """Undecodable or incomplete events end the stream as ConnectionLost (resume, no relist)."""
    r = reflector(Sink())
    r._deliver([line("ADDED", "a", "5")])
    with pytest.raises(ConnectionLost, match="malformed watch event"):
        r._deliver([garbage])
    assert r.last_resource_version == "5"


class ScriptedLists:
    """Stands in for the HTTP client's list_page: answers from a script, records requests."""

    def __init__(self, answers: list[dict[str, Any] | Exception]) -> None:
        self.answers = answers
        self.requests: list[tuple[str, int | None, str | None]] = []

    async def list_page(self, **kwargs: Any) -> dict[str, Any]:
        self.requests.append(
            (kwargs["resource_version"], kwargs["limit"], kwargs["continue_token"])
        )
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


class ListSink(Sink):
    def __init__(self) -> None:
        super().__init__()
        self.replaced: list[tuple[list[str], str]] = []
        self.objects: list[dict[str, Any]] = []

    def replace(self, objects: list[dict[str, Any]], resource_version: str) -> None:
        self.objects = objects
        self.replaced.append(([o["metadata"]["name"] for o in objects], resource_version))


def page(names: list[str], rv: str, token: str = "") -> dict[str, Any]:
    return {
        "kind": "PodList",
        "apiVersion": "v1",
        "metadata": {"resourceVersion": rv, "continue": token},
        "items": [{"metadata": {"name": n}} for n in names],
    }


async def test_an_expired_continue_token_restarts_the_list_consistently() -> None:
    """A 410 on a continue page restarts the whole list at "" and uses the new list's version."""
    lists = ScriptedLists(
        [
            page(["a", "b"], "10", token="t1"),
            Expired(410, "Expired", "continue token expired"),
            page(["b", "c"], "20", token="t2"),
            page(["d"], "20"),
        ]
    )
    sink = ListSink()
    r = Reflector(lists, sink, name="test", page_size=2)  # type: ignore[arg-type]
    r._version_unavailable = True  # a relist after a 410: paginated at ""
    await r._list()
    assert lists.requests == [("", 2, None), ("", 2, "t1"), ("", 2, None), ("", 2, "t2")]
    assert sink.replaced == [(["b", "c", "d"], "20")]
    assert r.last_resource_version == "20"


async def test_the_first_list_asks_for_version_zero_and_fills_in_kind() -> None:
    """The first list is at RV "0"; listed items get the list's apiVersion and item kind."""
    lists = ScriptedLists([page(["a"], "7")])
    sink = ListSink()
    r = Reflector(lists, sink, name="test")  # type: ignore[arg-type]
    await r._list()
    assert lists.requests == [("0", 500, None)]
    assert r.last_resource_version == "7"
    assert sink.objects == [{"metadata": {"name": "a"}, "kind": "Pod", "apiVersion": "v1"}]
