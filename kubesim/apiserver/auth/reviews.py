"""The review endpoints: who am I, may I, what may I, is this token valid, give me a token.

None of these objects is stored: each POST is answered with the request plus its `status`, as
kube-apiserver's authentication.k8s.io and authorization.k8s.io registries do. TokenRequest is
the `token` subresource of a ServiceAccount (`kubectl create token`).
"""

from __future__ import annotations

import datetime
from typing import Any

from kubesim.apiserver import errors
from kubesim.apiserver.auth.rbac import RbacAuthorizer
from kubesim.apiserver.auth.requestinfo import Attributes
from kubesim.apiserver.auth.tokens import API_AUDIENCE, TokenIssuer, UserInfo

__all__ = ["REVIEW_RESOURCES", "serve_review", "serve_token_request"]

AUTHN = "authentication.k8s.io"
AUTHZ = "authorization.k8s.io"
#: (group, resource) of the reviews, all answered in place (create only).
REVIEW_RESOURCES = frozenset(
    {
        (AUTHN, "tokenreviews"),
        (AUTHN, "selfsubjectreviews"),
        (AUTHZ, "subjectaccessreviews"),
        (AUTHZ, "selfsubjectaccessreviews"),
        (AUTHZ, "localsubjectaccessreviews"),
        (AUTHZ, "selfsubjectrulesreviews"),
    }
)
_KINDS = {
    "tokenreviews": "TokenReview",
    "selfsubjectreviews": "SelfSubjectReview",
    "subjectaccessreviews": "SubjectAccessReview",
    "selfsubjectaccessreviews": "SelfSubjectAccessReview",
    "localsubjectaccessreviews": "LocalSubjectAccessReview",
    "selfsubjectrulesreviews": "SelfSubjectRulesReview",
}


def _timestamp(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _answer(attrs: Attributes, body: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
    meta = dict(body.get("metadata") or {})
    meta.setdefault("creationTimestamp", None)
    out: dict[str, Any] = {
        "kind": _KINDS[attrs.resource],
        "apiVersion": f"{attrs.group}/{attrs.version}",
        "metadata": meta,
    }
    if "spec" in body:
        out["spec"] = body["spec"]
    out["status"] = status
    return out


def _user_from_spec(spec: dict[str, Any]) -> UserInfo:
    extra = {str(k): tuple(map(str, v)) for k, v in (spec.get("extra") or {}).items()}
    return UserInfo(
        str(spec.get("user") or ""),
        tuple(map(str, spec.get("groups") or [])),
        str(spec.get("uid") or ""),
        extra,
    )


def _access_attributes(spec: dict[str, Any], namespace: str) -> Attributes:
    resource = spec.get("resourceAttributes")
    if isinstance(resource, dict):
        return Attributes(
            str(resource.get("verb") or ""),
            True,
            group=str(resource.get("group") or ""),
            version=str(resource.get("version") or ""),
            resource=str(resource.get("resource") or ""),
            subresource=str(resource.get("subresource") or ""),
            namespace=namespace or str(resource.get("namespace") or ""),
            name=str(resource.get("name") or ""),
        )
    non_resource = spec.get("nonResourceAttributes")
    if isinstance(non_resource, dict):
        return Attributes(
            str(non_resource.get("verb") or ""), False, path=str(non_resource.get("path") or "")
        )
    raise errors.invalid(
        "SubjectAccessReview",
        AUTHZ,
        "",
        [
            errors.Cause(
                "FieldValueRequired",
                "spec.resourceAttributes",
                "Required value: exactly one of nonResourceAttributes or resourceAttributes must be specified",
            )
        ],
    )


def _rules_status(rbac: RbacAuthorizer, user: UserInfo, namespace: str) -> dict[str, Any]:
    resource_rules: list[dict[str, Any]] = []
    non_resource_rules: list[dict[str, Any]] = []
    for rule in rbac.rules(user, namespace):
        if rule.get("nonResourceURLs"):
            non_resource_rules.append(
                {"verbs": list(rule["verbs"]), "nonResourceURLs": list(rule["nonResourceURLs"])}
            )
            continue
        out = {
            "verbs": list(rule.get("verbs") or []),
            "apiGroups": list(rule.get("apiGroups") or []),
            "resources": list(rule.get("resources") or []),
        }
        if rule.get("resourceNames"):
            out["resourceNames"] = list(rule["resourceNames"])
        resource_rules.append(out)
    return {
        "resourceRules": resource_rules,
        "nonResourceRules": non_resource_rules,
        "incomplete": False,
    }


def serve_review(
    attrs: Attributes,
    body: Any,
    *,
    user: UserInfo,
    rbac: RbacAuthorizer,
    tokens: TokenIssuer,
) -> dict[str, Any]:
    """The answered review for a POST to one of `REVIEW_RESOURCES`."""
    if not isinstance(body, dict):
        raise errors.bad_request("the body must be a JSON object")
    spec = body.get("spec") if isinstance(body.get("spec"), dict) else {}
    assert isinstance(spec, dict)
    resource = attrs.resource
    if resource == "selfsubjectreviews":
        return _answer(attrs, body, {"userInfo": user.to_json()})
    if resource == "tokenreviews":
        audiences = [str(a) for a in spec.get("audiences") or []]
        try:
            found = tokens.authenticate(
                str(spec.get("token") or ""), **({"audiences": audiences} if audiences else {})
            )
        except errors.StatusError:
            return _answer(attrs, body, {"user": {}, "error": "invalid bearer token"})
        status: dict[str, Any] = {"authenticated": True, "user": found.to_json()}
        status["audiences"] = audiences or [API_AUDIENCE]
        return _answer(attrs, body, status)
    if resource == "selfsubjectrulesreviews":
        return _answer(attrs, body, _rules_status(rbac, user, str(spec.get("namespace") or "")))
    subject = user if resource == "selfsubjectaccessreviews" else _user_from_spec(spec)
    if resource == "localsubjectaccessreviews":
        wanted = (spec.get("resourceAttributes") or {}).get("namespace")
        if wanted and wanted != attrs.namespace:
            raise errors.bad_request(
                f"spec.resourceAttributes.namespace must match namespace: {attrs.namespace}"
            )
    access = _access_attributes(
        spec, attrs.namespace if resource == "localsubjectaccessreviews" else ""
    )
    allowed = rbac.allowed(subject, access)
    result: dict[str, Any] = {"allowed": allowed}
    if allowed:
        result["reason"] = "RBAC: allowed"
    return _answer(attrs, body, result)


def serve_token_request(
    attrs: Attributes, body: Any, *, tokens: TokenIssuer, now: float
) -> dict[str, Any]:
    """TokenRequest: POST serviceaccounts/<name>/token (201 with status.token)."""
    spec = body.get("spec") if isinstance(body, dict) and isinstance(body.get("spec"), dict) else {}
    assert isinstance(spec, dict)
    seconds = spec.get("expirationSeconds", 3600)
    if not isinstance(seconds, int) or seconds < 600:
        raise errors.invalid(
            "TokenRequest",
            AUTHN,
            "",
            [
                errors.Cause(
                    "FieldValueInvalid",
                    "spec.expirationSeconds",
                    f"Invalid value: {seconds}: may not specify a duration less than 10 minutes",
                )
            ],
        )
    bound = spec.get("boundObjectRef") if isinstance(spec.get("boundObjectRef"), dict) else None
    pod: tuple[str, str] | None = None
    if bound is not None and bound.get("kind") == "Pod":
        found = tokens.pod(attrs.namespace, str(bound.get("name") or ""))
        pod = (found["metadata"]["name"], found["metadata"]["uid"])
    audiences = [str(a) for a in spec.get("audiences") or []]
    token, expires = tokens.issue_token(
        attrs.namespace,
        attrs.name,
        audiences=audiences,
        expiration_seconds=seconds,
        bound_pod=pod,
    )
    out_spec: dict[str, Any] = {
        "audiences": audiences or [API_AUDIENCE],
        "expirationSeconds": seconds,
        "boundObjectRef": bound,
    }
    return {
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {
            "name": attrs.name,
            "namespace": attrs.namespace,
            "creationTimestamp": _timestamp(now),
        },
        "spec": out_spec,
        "status": {"token": token, "expirationTimestamp": _timestamp(expires)},
    }
