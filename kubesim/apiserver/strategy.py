"""Per-type write rules: what `PrepareForCreate`/`PrepareForUpdate` and validation do upstream.

The generic store (`kubesim.apiserver.cluster`) calls these hooks; each is a pure function of the
resource and the objects. Only the rules a client can observe are modelled: how status is
reset on create, when `metadata.generation` moves, and which updates are refused.
"""

from __future__ import annotations

from typing import Any

from kubesim.apiserver.defaults import initial_pod_status
from kubesim.apiserver.errors import Cause
from kubesim.apiserver.resources import ResourceInfo
from kubesim.apiserver.selectors import LabelSelector
from kubesim.apiserver.structural import go_quote

__all__ = [
    "generation_changed",
    "prepare_for_create",
    "tracks_generation",
    "validate_create",
    "validate_update",
]

_APPS_WORKLOADS = {("apps", "statefulsets"), ("apps", "deployments"), ("apps", "replicasets")}
_JOBS = ("batch", "jobs")
_DAEMONSETS = ("apps", "daemonsets")
_GENERATION_TYPES = _APPS_WORKLOADS | {
    _DAEMONSETS,
    _JOBS,
    ("batch", "cronjobs"),
    ("", "replicationcontrollers"),
    ("networking.k8s.io", "ingresses"),
    ("networking.k8s.io", "networkpolicies"),
    ("autoscaling", "horizontalpodautoscalers"),
    ("policy", "poddisruptionbudgets"),
    ("apiextensions.k8s.io", "customresourcedefinitions"),
}
#: Status a freshly created object starts with (the Go zero value of its status struct).
_CREATE_STATUS: dict[tuple[str, str], dict[str, Any]] = {
    ("apps", "statefulsets"): {"replicas": 0, "availableReplicas": 0},
    ("apps", "deployments"): {},
    ("apps", "replicasets"): {"replicas": 0},
    _DAEMONSETS: {
        "currentNumberScheduled": 0,
        "numberMisscheduled": 0,
        "desiredNumberScheduled": 0,
        "numberReady": 0,
    },
    ("", "replicationcontrollers"): {"replicas": 0},
    _JOBS: {},
    ("batch", "cronjobs"): {},
    ("networking.k8s.io", "ingresses"): {"loadBalancer": {}},
    ("", "services"): {"loadBalancer": {}},
    ("", "persistentvolumeclaims"): {"phase": "Pending"},
    ("", "persistentvolumes"): {"phase": "Pending"},
    ("autoscaling", "horizontalpodautoscalers"): {"desiredReplicas": 0},
    ("policy", "poddisruptionbudgets"): {
        "disruptionsAllowed": 0,
        "currentHealthy": 0,
        "desiredHealthy": 0,
        "expectedPods": 0,
    },
}
_STS_MUTABLE = {
    "replicas",
    "ordinals",
    "template",
    "updateStrategy",
    "revisionHistoryLimit",
    "persistentVolumeClaimRetentionPolicy",
    "minReadySeconds",
}


def tracks_generation(info: ResourceInfo) -> bool:
    """Whether the type sets `metadata.generation` (custom resources and spec-driven types)."""
    return info.custom or info.key in _GENERATION_TYPES


def prepare_for_create(info: ResourceInfo, obj: dict[str, Any]) -> None:
    """Reset what a client may not set on create (status, mostly). Mutates `obj`."""
    if info.custom:
        if info.has_status:
            obj.pop("status", None)
        return
    key = info.key
    if key == ("", "pods"):
        obj["status"] = initial_pod_status(obj)
    elif key == ("", "namespaces"):
        spec = obj.setdefault("spec", {})
        if not isinstance(spec, dict):
            return
        spec.setdefault("finalizers", ["kubernetes"])
        obj["status"] = {"phase": "Active"}
    elif key in _CREATE_STATUS:
        obj["status"] = dict(_CREATE_STATUS[key])
    if key == _JOBS:
        _generate_job_selector(obj)


#: The labels a Job's pods carry (batch/v1 `JobNameLabel`, `ControllerUidLabel`, legacy forms).
JOB_NAME_LABELS = ("job-name", "batch.kubernetes.io/job-name")
JOB_UID_LABELS = ("controller-uid", "batch.kubernetes.io/controller-uid")


def _generate_job_selector(job: dict[str, Any]) -> None:
    """The job registry's generateSelector: label the template, select by controller uid."""
    spec = job.get("spec")
    if not isinstance(spec, dict) or spec.get("manualSelector") is True:
        return
    template = spec.setdefault("template", {})
    if not isinstance(template, dict):
        return
    labels = template.setdefault("metadata", {}).setdefault("labels", {})
    meta = job["metadata"]
    for key in JOB_NAME_LABELS:
        labels.setdefault(key, meta["name"])
    for key in JOB_UID_LABELS:
        labels.setdefault(key, meta["uid"])
    selector = spec.get("selector")
    if not isinstance(selector, dict):
        selector = spec["selector"] = {}
    selector.setdefault("matchLabels", {}).setdefault(JOB_UID_LABELS[1], meta["uid"])


def _outside(obj: dict[str, Any], skip: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in skip}


def generation_changed(info: ResourceInfo, old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether an update of `old` into `new` bumps `metadata.generation` (§3.4)."""
    if not tracks_generation(info):
        return False
    if info.custom:
        skip = (
            ("metadata", "status", "apiVersion", "kind")
            if info.has_status
            else ("metadata", "apiVersion", "kind")
        )
        return _outside(old, skip) != _outside(new, skip)
    if old.get("spec") != new.get("spec"):
        return True
    if info.key == ("apps", "deployments"):
        return bool(old["metadata"].get("annotations") != new["metadata"].get("annotations"))
    return False


def _go_map(value: dict[str, Any] | None) -> str:
    items = ", ".join(f"{go_quote(str(k))}:{go_quote(str(v))}" for k, v in (value or {}).items())
    return "map[string]string{" + items + "}"


def _workload_causes(obj: dict[str, Any]) -> list[Cause]:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return [Cause("FieldValueRequired", "spec", "Required value")]
    causes = []
    replicas = spec.get("replicas")
    if isinstance(replicas, int) and replicas < 0:
        causes.append(
            Cause(
                "FieldValueInvalid",
                "spec.replicas",
                f"Invalid value: {replicas}: must be greater than or equal to 0",
            )
        )
    selector = spec.get("selector")
    if not isinstance(selector, dict) or not (
        selector.get("matchLabels") or selector.get("matchExpressions")
    ):
        causes.append(Cause("FieldValueRequired", "spec.selector", "Required value"))
        if isinstance(selector, dict):
            causes.append(
                Cause(
                    "FieldValueInvalid",
                    "spec.selector",
                    'Invalid value: "null": empty selector is invalid for deployment',
                )
            )
        return causes
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    if not _selector_matches(selector, labels):
        causes.append(
            Cause(
                "FieldValueInvalid",
                "spec.template.metadata.labels",
                f"Invalid value: {_go_map(labels)}: `selector` does not match template `labels`",
            )
        )
    return causes


def _selector_matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    parts = [f"{k}={v}" for k, v in (selector.get("matchLabels") or {}).items()]
    for expr in selector.get("matchExpressions") or []:
        op = str(expr.get("operator", ""))
        key = str(expr.get("key", ""))
        values = ",".join(str(v) for v in expr.get("values") or [])
        parts.append(
            {
                "In": f"{key} in ({values})",
                "NotIn": f"{key} notin ({values})",
                "Exists": key,
                "DoesNotExist": f"!{key}",
            }.get(op, key)
        )
    try:
        return LabelSelector(",".join(parts)).matches(labels)
    except Exception:
        return False


def _job_causes(job: dict[str, Any]) -> list[Cause]:
    policy = (((job.get("spec") or {}).get("template") or {}).get("spec") or {}).get(
        "restartPolicy"
    )
    if policy in ("OnFailure", "Never"):
        return []
    return [
        Cause(
            "FieldValueNotSupported" if policy else "FieldValueRequired",
            "spec.template.spec.restartPolicy",
            f'Unsupported value: "{policy}": supported values: "OnFailure", "Never"'
            if policy
            else 'Required value: valid values: "OnFailure", "Never"',
        )
    ]


def validate_create(info: ResourceInfo, obj: dict[str, Any]) -> list[Cause]:
    """Type-specific create validation beyond metadata."""
    if info.key in _APPS_WORKLOADS or info.key == _DAEMONSETS:
        return _workload_causes(obj)
    if info.key == _JOBS:
        return _workload_causes(obj) + _job_causes(obj)
    if info.key == ("", "pods"):
        containers = (obj.get("spec") or {}).get("containers")
        if not containers:
            return [Cause("FieldValueRequired", "spec.containers", "Required value")]
    return []


def validate_update(info: ResourceInfo, old: dict[str, Any], new: dict[str, Any]) -> list[Cause]:
    """Type-specific update validation: immutable fields and finalizers while deleting."""
    causes: list[Cause] = []
    old_meta, new_meta = old["metadata"], new["metadata"]
    if old_meta.get("deletionTimestamp"):
        added = [
            f
            for f in new_meta.get("finalizers") or []
            if f not in (old_meta.get("finalizers") or [])
        ]
        if added:
            shown = "[]string{" + ", ".join(go_quote(f) for f in added) + "}"
            causes.append(
                Cause(
                    "FieldValueForbidden",
                    "metadata.finalizers",
                    f"Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers {shown}",
                )
            )
    if info.key == _JOBS:
        causes.extend(_job_causes(new))
        old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
        for field in ("selector", "completions", "completionMode"):
            if old_spec.get(field) != new_spec.get(field):
                causes.append(
                    Cause(
                        "FieldValueInvalid",
                        f"spec.{field}",
                        f"Invalid value: {new_spec.get(field)!r}: field is immutable",
                    )
                )
    if info.key in _APPS_WORKLOADS or info.key == _DAEMONSETS:
        causes.extend(_workload_causes(new))
        old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
        if info.key == ("apps", "statefulsets"):
            frozen = {k for k in set(old_spec) | set(new_spec) if k not in _STS_MUTABLE}
            if any(old_spec.get(k) != new_spec.get(k) for k in frozen):
                causes.append(
                    Cause(
                        "FieldValueForbidden",
                        "spec",
                        "Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
                    )
                )
        elif old_spec.get("selector") != new_spec.get("selector"):
            causes.append(
                Cause(
                    "FieldValueInvalid",
                    "spec.selector",
                    f"Invalid value: {new_spec.get('selector')!r}: field is immutable",
                )
            )
    return causes
