"""Go's `omitempty` for the common built-in types: zero values the real server never returns.

kube-apiserver decodes every built-in object into its Go struct and encodes it back, so a field
tagged `json:",omitempty"` that holds its zero value (`""`, `false`, `0`, an empty map or
slice) disappears: `env: []`, `labels: {}`, `hostNetwork: false` or `initialDelaySeconds: 0`
sent by a client are not stored, not returned, and not owned in managedFields. Pointer fields
(`*bool`, `*int32`, ...) and fields without `omitempty` keep their zero values.

The OpenAPI schemas kubesim ships cannot tell these apart (a field missing from `required` is
usually, not always, `omitempty`: `Role.rules` is not; and nothing says which are pointers), so
this module holds a hand-written table of Kubernetes 1.32's `k8s.io/api` struct tags for the
types operators write most: ObjectMeta, Pod, PodSpec, Container, ContainerPort, EnvVar,
VolumeMount, Probe, LabelSelector, Service, ServiceSpec, ServicePort, and the workload specs
that embed a pod template. Fields not in the table are left as sent (a documented gap).

`strip_zero_values` never mutates its input: it returns the same object when nothing is
dropped and copies only the dicts on the path to a change (stored objects may share subtrees).
"""

from __future__ import annotations

from typing import Any, Final, NamedTuple

__all__ = ["strip_zero_values"]


class _GoType(NamedTuple):
    """One Go struct: its non-pointer omitempty fields and the struct-typed children to visit."""

    omit: frozenset[str]
    #: field -> type name, for a struct field (or pointer to one)
    structs: dict[str, str]
    #: field -> element type name, for a slice of structs
    lists: dict[str, str]


def _t(
    omit: str, structs: dict[str, str] | None = None, lists: dict[str, str] | None = None
) -> _GoType:
    return _GoType(frozenset(omit.split()), structs or {}, lists or {})


_TEMPLATE = {"selector": "LabelSelector", "template": "PodTemplateSpec"}

#: Non-pointer `omitempty` fields per Go type (k8s.io/api v0.32 and apimachinery meta/v1).
_TYPES: Final[dict[str, _GoType]] = {
    "ObjectMeta": _t(
        "name generateName namespace selfLink uid resourceVersion generation "
        "labels annotations ownerReferences finalizers managedFields"
    ),
    "LabelSelector": _t("matchLabels matchExpressions"),
    "PodTemplateSpec": _t("", {"metadata": "ObjectMeta", "spec": "PodSpec"}),
    "PodSpec": _t(
        "volumes initContainers ephemeralContainers imagePullSecrets tolerations hostAliases "
        "readinessGates topologySpreadConstraints resourceClaims schedulingGates nodeSelector "
        "overhead restartPolicy dnsPolicy serviceAccountName serviceAccount nodeName hostname "
        "subdomain schedulerName priorityClassName hostNetwork hostPID hostIPC",
        lists={"containers": "Container", "initContainers": "Container"},
    ),
    "Container": _t(
        "command args ports envFrom env volumeMounts volumeDevices resizePolicy image "
        "workingDir terminationMessagePath terminationMessagePolicy imagePullPolicy stdin "
        "stdinOnce tty",
        {"livenessProbe": "Probe", "readinessProbe": "Probe", "startupProbe": "Probe"},
        {"ports": "ContainerPort", "env": "EnvVar", "volumeMounts": "VolumeMount"},
    ),
    "ContainerPort": _t("name hostPort hostIP protocol"),
    "EnvVar": _t("value"),
    "VolumeMount": _t("readOnly subPath subPathExpr"),
    "Probe": _t(
        "initialDelaySeconds timeoutSeconds periodSeconds successThreshold failureThreshold"
    ),
    "ServiceSpec": _t(
        "ports selector clusterIP clusterIPs type externalIPs sessionAffinity loadBalancerIP "
        "loadBalancerSourceRanges externalName externalTrafficPolicy healthCheckNodePort "
        "publishNotReadyAddresses ipFamilies",
        lists={"ports": "ServicePort"},
    ),
    "ServicePort": _t("name protocol nodePort"),
    "StatefulSetSpec": _t("minReadySeconds podManagementPolicy volumeClaimTemplates", _TEMPLATE),
    "DeploymentSpec": _t("minReadySeconds paused", _TEMPLATE),
    "ReplicaSetSpec": _t("minReadySeconds", _TEMPLATE),
    "DaemonSetSpec": _t("minReadySeconds", _TEMPLATE),
    "JobSpec": _t("", _TEMPLATE),
    "JobTemplateSpec": _t("", {"metadata": "ObjectMeta", "spec": "JobSpec"}),
    "CronJobSpec": _t("", {"jobTemplate": "JobTemplateSpec"}),
}

#: (group, kind) -> Go type of `spec` (every kind's `metadata` is ObjectMeta).
_SPECS: Final[dict[tuple[str, str], str]] = {
    ("", "Pod"): "PodSpec",
    ("", "Service"): "ServiceSpec",
    ("apps", "StatefulSet"): "StatefulSetSpec",
    ("apps", "Deployment"): "DeploymentSpec",
    ("apps", "ReplicaSet"): "ReplicaSetSpec",
    ("apps", "DaemonSet"): "DaemonSetSpec",
    ("batch", "Job"): "JobSpec",
    ("batch", "CronJob"): "CronJobSpec",
}


def _is_zero(value: Any) -> bool:
    """Go's emptiness for omitempty, for a value of the field's own JSON type."""
    if value is False or value == "" or value == [] or value == {}:
        return True
    return type(value) is int and value == 0


def _strip(value: Any, type_name: str) -> Any:
    if type(value) is not dict:
        return value
    go_type = _TYPES[type_name]
    out: dict[str, Any] | None = None
    for key, item in value.items():
        new = item
        if key in go_type.omit and _is_zero(item):
            new = _DROP
        elif key in go_type.structs:
            new = _strip(item, go_type.structs[key])
        elif key in go_type.lists and type(item) is list:
            element = go_type.lists[key]
            stripped = [_strip(e, element) for e in item]
            if any(a is not b for a, b in zip(stripped, item, strict=True)):
                new = stripped
        if new is not item:
            if out is None:
                out = dict(value)
            if new is _DROP:
                del out[key]
            else:
                out[key] = new
    return value if out is None else out


_DROP: Final = object()


def strip_zero_values(group: str, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    """`obj` as the real server would return it after its Go round trip (covered types only)."""
    out = obj
    meta = obj.get("metadata")
    stripped_meta = _strip(meta, "ObjectMeta")
    if stripped_meta is not meta:
        out = {**out, "metadata": stripped_meta}
    if kind == "PodTemplate" and group == "":
        template = obj.get("template")
        stripped = _strip(template, "PodTemplateSpec")
        return out if stripped is template else {**out, "template": stripped}
    spec_type = _SPECS.get((group, kind))
    if spec_type is not None:
        spec = obj.get("spec")
        stripped = _strip(spec, spec_type)
        if stripped is not spec:
            out = {**out, "spec": stripped}
    return out
