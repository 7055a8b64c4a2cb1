"""Resource verbs over HTTP: query parsing and response shapes around `Cluster` calls.

Each handler turns one request into one `Cluster` call; the semantics live there. Handlers
raise `StatusError`; the dispatcher turns it into the Status response.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from aiohttp import web
from multidict import MultiMapping

from kubesim.apiserver import errors
from kubesim.apiserver.cluster import PATCH_TYPES, Cluster, WriteContext
from kubesim.apiserver.errors import Cause
from kubesim.apiserver.resources import ResourceInfo
from kubesim.apiserver.server.codec import (
    decode_body,
    json_response,
    parse_bool,
    parse_int,
    wants_table,
)
from kubesim.apiserver.server.paths import ResourcePath
from kubesim.apiserver.structural import go_quote
from kubesim.apiserver.tables import to_table

__all__ = ["USER", "RequestContext", "ResourceHandlers"]

#: The identity of a request that did not go through authentication (in-process callers).
USER = "kubernetes-admin"
_CONTENT_TO_PATCH = {v: k for k, v in PATCH_TYPES.items()}
_BODY_TYPES = ("application/json", "application/yaml")


class RequestContext:
    """What a handler needs from the request besides the path."""

    __slots__ = ("accept", "body", "content_type", "query", "user", "user_agent")

    def __init__(
        self,
        query: MultiMapping[str],
        accept: str,
        content_type: str,
        user_agent: str,
        body: bytes,
        user: str = USER,
    ) -> None:
        self.query = query
        #: The authenticated user, as the audit log records it.
        self.user = user
        self.accept = accept
        self.content_type = content_type
        self.user_agent = user_agent
        self.body = body


def _dry_run(query: MultiMapping[str]) -> bool:
    values = list(query.getall("dryRun", []))
    if any(value != "All" for value in values):
        raise _dry_run_unsupported("CreateOptions", values)
    return bool(values)


def _dry_run_unsupported(kind: str, values: list[str]) -> errors.StatusError:
    """422 for dryRun values other than All; the value is the whole list, printed as JSON as
    1.37's field errors print a []string."""
    shown = json.dumps(values, separators=(",", ":"))
    cause = Cause(
        "FieldValueNotSupported", "dryRun", f'Unsupported value: {shown}: supported values: "All"'
    )
    return errors.invalid(kind, "meta.k8s.io", "", [cause])


def _field_validation(query: MultiMapping[str]) -> str:
    value = query.get("fieldValidation", "Ignore") or "Ignore"
    if value not in ("Ignore", "Warn", "Strict"):
        raise errors.bad_request(f"fieldValidation parameter unsupported: {value}")
    return value


def _strip_item(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k != "kind" and k != "apiVersion"}


class ResourceHandlers:
    """get, list, create, update, patch, delete, deletecollection (watch is in `watching`)."""

    def __init__(self, cluster: Cluster, now: Callable[[], str]) -> None:
        self.cluster = cluster
        self.now = now

    # ------------------------------------------------------------------ reads

    def check_list_options(self, query: MultiMapping[str], *, watch: bool) -> None:
        """`ListOptions` validation (422) of resourceVersionMatch, as the real server does it."""
        match = query.get("resourceVersionMatch")
        if match is None:
            return
        rv = query.get("resourceVersion", "")
        causes = []
        if match not in ("NotOlderThan", "Exact"):
            causes.append(
                Cause(
                    "FieldValueNotSupported",
                    "resourceVersionMatch",
                    f'Unsupported value: "{match}": supported values: "Exact", "NotOlderThan"',
                )
            )
        elif watch and "sendInitialEvents" not in query:
            causes.append(
                Cause(
                    "FieldValueForbidden",
                    "resourceVersionMatch",
                    "Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
                )
            )
        elif not rv and not watch:
            causes.append(
                Cause(
                    "FieldValueForbidden",
                    "resourceVersionMatch",
                    "Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided",
                )
            )
        elif query.get("continue"):
            causes.append(
                Cause(
                    "FieldValueForbidden",
                    "resourceVersionMatch",
                    "Forbidden: resourceVersionMatch is forbidden when continue is provided",
                )
            )
        elif match == "Exact" and rv == "0":
            causes.append(
                Cause(
                    "FieldValueForbidden",
                    "resourceVersionMatch",
                    'Forbidden: resourceVersionMatch "exact" is forbidden for resourceVersion "0"',
                )
            )
        if causes:
            raise errors.invalid("ListOptions", "meta.k8s.io", "", causes)

    async def wait_for_resource_version(self, query: MultiMapping[str]) -> None:
        """A read at a resourceVersion the server has not reached waits up to 3 s, then 504."""
        text = query.get("resourceVersion", "")
        if not text or text == "0":
            return
        try:
            wanted = int(text)
        except ValueError:
            raise errors.bad_request(f'invalid resource version "{text}"')
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 3.0
        while wanted > self.cluster.resource_version:
            if loop.time() >= deadline:
                raise errors.StatusError(
                    504,
                    "Timeout",
                    f"Timeout: Too large resource version: {wanted}, current: {self.cluster.resource_version}",
                    {
                        "causes": [
                            {
                                "reason": "ResourceVersionTooLarge",
                                "message": "Too large resource version",
                            }
                        ],
                        "retryAfterSeconds": 1,
                    },
                    retry_after=1,
                )
            await asyncio.sleep(0.05)

    def table(
        self,
        info: ResourceInfo,
        objects: list[dict[str, Any]],
        ctx: RequestContext,
        *,
        rv: str,
        token: str = "",
    ) -> dict[str, Any]:
        """A `meta.k8s.io/v1` Table of `objects` (kubectl get)."""
        include = ctx.query.get("includeObject", "Metadata")
        if include not in ("Metadata", "Object", "None"):
            raise errors.bad_request(
                f'includeObject: Unsupported value: "{include}": supported values: "Metadata", "None", "Object"'
            )
        table = to_table(
            info,
            objects,
            now=self.now(),
            include_object=include,
            crd_columns=info.extra.get("columns") if info.custom else None,
        )
        meta: dict[str, Any] = {"resourceVersion": rv}
        if token:
            meta["continue"] = token
        table["metadata"] = meta
        return table

    def get(self, rp: ResourcePath, ctx: RequestContext) -> web.Response:
        """GET of one object, its status, or its scale."""
        assert rp.name is not None
        if rp.subresource == "scale":
            return json_response(self.cluster.get_scale(rp.info, rp.namespace, rp.name))
        obj = self.cluster.get(rp.info, rp.namespace, rp.name)
        if wants_table(ctx.accept):
            return json_response(
                self.table(rp.info, [obj], ctx, rv=obj["metadata"].get("resourceVersion", ""))
            )
        return json_response(obj)

    def list(self, rp: ResourcePath, ctx: RequestContext) -> web.Response:
        """GET of a collection, with selectors and pagination."""
        query = ctx.query
        info = rp.info
        if "sendInitialEvents" in query:
            raise errors.invalid(
                "ListOptions",
                "meta.k8s.io",
                "",
                [
                    Cause(
                        "FieldValueForbidden",
                        "sendInitialEvents",
                        "Forbidden: sendInitialEvents is forbidden for list",
                    )
                ],
            )
        labels, fields = self.cluster.selectors(
            info, query.get("labelSelector", ""), query.get("fieldSelector", "")
        )
        limit = max(parse_int("limit", query.get("limit")) or 0, 0)  # <= 0 means no limit
        token = query.get("continue", "")
        rv = query.get("resourceVersion", "")
        if token and rv not in ("", "0"):
            raise errors.bad_request(
                "specifying resource version is not allowed when using continue"
            )
        if rv == "0":
            limit = 0  # served from the watch cache, which ignores limit (as upstream)
        items, list_rv, next_token, remaining = self.cluster.list_page(
            info, rp.namespace, labels, fields, limit=limit, continue_token=token
        )
        if wants_table(ctx.accept):
            return json_response(self.table(info, items, ctx, rv=list_rv, token=next_token))
        meta: dict[str, Any] = {"resourceVersion": list_rv}
        if next_token:
            meta["continue"] = next_token
            if remaining is not None:
                meta["remainingItemCount"] = remaining
        out_items = items if info.custom else [_strip_item(o) for o in items]
        return json_response(
            {
                "kind": info.list_kind,
                "apiVersion": info.api_version,
                "metadata": meta,
                "items": out_items,
            }
        )

    # ------------------------------------------------------------------ writes

    @staticmethod
    def _with_warnings(response: web.Response, write: WriteContext) -> web.Response:
        """Add the write's warnings (fieldValidation=Warn) as `Warning: 299 - "..."` headers."""
        for warning in write.warnings:
            response.headers.add("Warning", f"299 - {go_quote(warning)}")
        return response

    def _body(self, ctx: RequestContext, allowed: tuple[str, ...] = _BODY_TYPES) -> Any:
        media = ctx.content_type.split(";", 1)[0].strip().lower() or "application/json"
        if (
            media not in allowed
            and media not in ("text/yaml", "application/x-yaml")
            and "protobuf" not in media
            and "cbor" not in media
        ):
            raise errors.unsupported_media_type(
                ["application/json", "application/yaml", "application/vnd.kubernetes.protobuf"]
            )
        return decode_body(ctx.body, media)

    def create(self, rp: ResourcePath, ctx: RequestContext) -> web.Response:
        """POST to a collection."""
        if rp.name is not None:
            raise errors.method_not_allowed(rp.info.plural, rp.info.group, "create")
        body = self._body(ctx)
        write = WriteContext.for_request(_field_validation(ctx.query), strict_source="body")
        obj = self.cluster.create(
            rp.info,
            rp.namespace,
            body,
            user=ctx.user,
            user_agent=ctx.user_agent,
            field_manager=ctx.query.get("fieldManager") or None,
            dry_run=_dry_run(ctx.query),
            owned=True,
            context=write,
        )
        return self._with_warnings(json_response(obj, 201), write)

    def update(self, rp: ResourcePath, ctx: RequestContext) -> web.Response:
        """PUT of an object, its status or its scale."""
        assert rp.name is not None
        body = self._body(ctx)
        write = WriteContext.for_request(_field_validation(ctx.query), strict_source="body")
        obj = self.cluster.update(
            rp.info,
            rp.namespace,
            rp.name,
            body,
            user=ctx.user,
            user_agent=ctx.user_agent,
            field_manager=ctx.query.get("fieldManager") or None,
            subresource=rp.subresource,
            dry_run=_dry_run(ctx.query),
            owned=True,
            context=write,
        )
        return self._with_warnings(json_response(obj), write)

    def patch(self, rp: ResourcePath, ctx: RequestContext) -> web.Response:
        """PATCH with any of the four patch content types."""
        assert rp.name is not None
        media = ctx.content_type.split(";", 1)[0].strip().lower()
        patch_type = _CONTENT_TO_PATCH.get(media)
        if patch_type is None or (patch_type == "strategic" and rp.info.custom):
            if "protobuf" in media or "cbor" in media:
                decode_body(ctx.body, media)  # raises the protobuf 415 with its hint
            raise errors.unsupported_media_type(self.cluster.patch_content_types(rp.info))
        try:
            body = decode_body(ctx.body, media, whole_object=False)
        except errors.StatusError:
            if patch_type != "merge":
                raise
            # evanphx/json-patch's MergePatch answers any syntax error with ErrBadJSONPatch.
            raise errors.bad_request("invalid JSON patch")
        force = parse_bool(ctx.query.get("force")) if "force" in ctx.query else False
        write = WriteContext.for_request(_field_validation(ctx.query), strict_source="patch")
        obj = self.cluster.patch(
            rp.info,
            rp.namespace,
            rp.name,
            body,
            patch_type=patch_type,
            user=ctx.user,
            user_agent=ctx.user_agent,
            field_manager=ctx.query.get("fieldManager") or None,
            force=force,
            subresource=rp.subresource,
            dry_run=_dry_run(ctx.query),
            context=write,
        )
        return self._with_warnings(json_response(obj, 201 if write.created else 200), write)

    def _delete_options(self, ctx: RequestContext) -> dict[str, Any]:
        options: dict[str, Any] = {}
        if ctx.body.strip():
            parsed = decode_body(
                ctx.body, ctx.content_type or "application/json", whole_object=False
            )
            if not isinstance(parsed, dict):
                raise errors.bad_request(
                    "json: cannot unmarshal array into Go value of type v1.DeleteOptions"
                )
            options.update(parsed)
        query = ctx.query
        if "propagationPolicy" in query:
            options["propagationPolicy"] = query["propagationPolicy"]
        if "gracePeriodSeconds" in query:
            options["gracePeriodSeconds"] = parse_int(
                "gracePeriodSeconds", query["gracePeriodSeconds"]
            )
        if "orphanDependents" in query:
            options["orphanDependents"] = parse_bool(query["orphanDependents"])
        if "dryRun" in query:
            options["dryRun"] = query.getall("dryRun")
        orphan = options.get("orphanDependents")
        if orphan is not None and options.get("propagationPolicy"):
            raise errors.invalid(
                "DeleteOptions",
                "meta.k8s.io",
                "",
                [
                    Cause(
                        "FieldValueInvalid",
                        "propagationPolicy",
                        'Invalid value: "'
                        + str(options["propagationPolicy"])
                        + '": orphanDependents and deletionPropagation cannot be both set',
                    )
                ],
            )
        if orphan is not None:
            options["propagationPolicy"] = "Orphan" if orphan else "Background"
        dry = options.get("dryRun") or []
        if dry and any(value != "All" for value in dry):
            raise _dry_run_unsupported("DeleteOptions", list(dry))
        return options

    def delete(self, rp: ResourcePath, ctx: RequestContext) -> web.Response:
        """DELETE of one object (with DeleteOptions from the body or the query)."""
        assert rp.name is not None
        if rp.subresource is not None:
            raise errors.method_not_allowed(rp.info.plural, rp.info.group, "delete")
        options = self._delete_options(ctx)
        result = self.cluster.delete(
            rp.info,
            rp.namespace,
            rp.name,
            user=ctx.user,
            user_agent=ctx.user_agent,
            propagation_policy=options.get("propagationPolicy"),
            grace_period_seconds=options.get("gracePeriodSeconds"),
            preconditions=options.get("preconditions"),
            dry_run=bool(options.get("dryRun")),
        )
        # 202 Accepted only when the client asked orphanDependents=false and the object is
        # still there (finalizers or grace pending), as `rest/delete.go` answers.
        pending = result.get("kind") != "Status" and bool(
            result["metadata"].get("deletionTimestamp")
        )
        accepted = options.get("orphanDependents") is False and pending
        return json_response(result, 202 if accepted else 200)

    def delete_collection(self, rp: ResourcePath, ctx: RequestContext) -> web.Response:
        """DELETE of a collection (deletecollection) with selectors."""
        options = self._delete_options(ctx)
        result = self.cluster.delete_collection(
            rp.info,
            rp.namespace,
            label_selector=ctx.query.get("labelSelector", ""),
            field_selector=ctx.query.get("fieldSelector", ""),
            user=ctx.user,
            user_agent=ctx.user_agent,
            propagation_policy=options.get("propagationPolicy"),
            grace_period_seconds=options.get("gracePeriodSeconds"),
            dry_run=bool(options.get("dryRun")),
        )
        if not rp.info.custom:
            result["items"] = [_strip_item(o) for o in result["items"]]
        return json_response(result)
