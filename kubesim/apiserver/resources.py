"""The resource registry: which kinds kubesim serves, at which paths, with which verbs.

A `ResourceInfo` is one (group, version, plural) triple as discovery shows it. Built-in types
are listed once below; CustomResourceDefinitions add one `ResourceInfo` per served version at
run time (`Registry.add_crd_versions`). Objects are stored per (group, plural), so every served
version of a resource shares one set of objects.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ALL_VERBS",
    "BUILTINS",
    "CLUSTER_VERBS",
    "Registry",
    "ResourceInfo",
    "ScalePaths",
]

#: The verbs of an ordinary resource, in discovery order.
ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
#: Verbs of resources that cannot be deleted in bulk (namespaces).
CLUSTER_VERBS = ("create", "delete", "get", "list", "patch", "update", "watch")
_SUB_VERBS = ("get", "patch", "update")


@dataclass(frozen=True, slots=True)
class ScalePaths:
    """Where the /scale subresource reads and writes replicas (CRD `subresources.scale`)."""

    spec_replicas: str = ".spec.replicas"
    status_replicas: str = ".status.replicas"
    label_selector: str | None = ".status.selector"


@dataclass(frozen=True, slots=True)
class ResourceInfo:
    """One served (group, version, resource), with everything discovery and the verbs need."""

    group: str
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    subresources: frozenset[str] = frozenset()
    categories: tuple[str, ...] = ()
    #: Backed by a CustomResourceDefinition (unstructured strategy, 422 on PUT without RV).
    custom: bool = False
    #: DELETE answers with the deleted object rather than a Success Status (pods, ...).
    return_deleted_object: bool = False
    #: Field selectors besides metadata.name/metadata.namespace (`GetAttrs` of the strategy).
    field_labels: tuple[str, ...] = ()
    scale: ScalePaths | None = None
    #: The version objects are stored at (CRDs: the storage version); reads of other served
    #: versions only change apiVersion (conversion strategy None).
    storage_version: str = ""
    #: The group whose storage holds the objects, when not this one (events.k8s.io Events
    #: are stored as core Events; see `kubesim.apiserver.conversion`).
    storage_group: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    #: `v1` or `apps/v1` (computed once: read on every request).
    api_version: str = field(init=False, compare=False)
    #: The storage key shared by every served version: (group, plural).
    key: tuple[str, str] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "api_version", f"{self.group}/{self.version}" if self.group else self.version
        )
        storage_group = self.group if self.storage_group is None else self.storage_group
        object.__setattr__(self, "key", (storage_group, self.plural))

    @property
    def list_kind(self) -> str:
        """`PodList`."""
        return self.kind + "List"

    @property
    def qualified(self) -> str:
        """`pods`, `statefulsets.apps`: the resource as messages print it."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def has_status(self) -> bool:
        """Whether `status` is a separate subresource (main endpoint ignores status)."""
        return "status" in self.subresources


def _r(
    group: str,
    version: str,
    kind: str,
    plural: str,
    *,
    namespaced: bool = True,
    short: tuple[str, ...] = (),
    sub: tuple[str, ...] = (),
    cat: tuple[str, ...] = (),
    verbs: tuple[str, ...] = ALL_VERBS,
    fields: tuple[str, ...] = (),
    returns_deleted: bool = False,
) -> ResourceInfo:
    return ResourceInfo(
        group=group,
        version=version,
        kind=kind,
        plural=plural,
        singular=kind.lower(),
        namespaced=namespaced,
        short_names=short,
        verbs=verbs,
        subresources=frozenset(sub),
        categories=cat,
        field_labels=fields,
        return_deleted_object=returns_deleted,
        scale=ScalePaths() if "scale" in sub else None,
        storage_version=version,
    )


_POD_FIELDS = (
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
)
_EVENT_FIELDS = (
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
)
_EVENTS_K8S_FIELDS = (
    "regarding.kind",
    "regarding.namespace",
    "regarding.name",
    "regarding.uid",
    "reason",
    "reportingController",
    "type",
)

#: Every built-in resource kubesim serves.
BUILTINS: tuple[ResourceInfo, ...] = (
    _r("", "v1", "Namespace", "namespaces", namespaced=False, short=("ns",), sub=("status", "finalize"), verbs=CLUSTER_VERBS, fields=("status.phase",), returns_deleted=True),
    _r("", "v1", "Node", "nodes", namespaced=False, short=("no",), sub=("status",), fields=("spec.unschedulable",)),
    _r("", "v1", "Pod", "pods", short=("po",), sub=("status", "log", "exec"), cat=("all",), fields=_POD_FIELDS, returns_deleted=True),
    _r("", "v1", "Service", "services", short=("svc",), sub=("status",), cat=("all",), returns_deleted=True),
    _r("", "v1", "Endpoints", "endpoints", short=("ep",)),
    _r("", "v1", "ConfigMap", "configmaps", short=("cm",)),
    _r("", "v1", "Secret", "secrets", fields=("type",)),
    _r("", "v1", "ServiceAccount", "serviceaccounts", short=("sa",), sub=("token",), returns_deleted=True),
    _r("", "v1", "ResourceQuota", "resourcequotas", short=("quota",), sub=("status",)),
    _r("", "v1", "LimitRange", "limitranges", short=("limits",)),
    _r("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", short=("pvc",), sub=("status",), returns_deleted=True),
    _r("", "v1", "PersistentVolume", "persistentvolumes", namespaced=False, short=("pv",), sub=("status",), returns_deleted=True),
    _r("", "v1", "Event", "events", short=("ev",), fields=_EVENT_FIELDS),
    dataclasses.replace(_r("events.k8s.io", "v1", "Event", "events", short=("ev",), fields=_EVENTS_K8S_FIELDS), storage_group=""),
    _r("apps", "v1", "StatefulSet", "statefulsets", short=("sts",), sub=("status", "scale"), cat=("all",)),
    _r("apps", "v1", "Deployment", "deployments", short=("deploy",), sub=("status", "scale"), cat=("all",)),
    _r("apps", "v1", "ReplicaSet", "replicasets", short=("rs",), sub=("status", "scale"), cat=("all",)),
    _r("apps", "v1", "ControllerRevision", "controllerrevisions"),
    _r("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", short=("hpa",), sub=("status",), cat=("all",)),
    dataclasses.replace(_r("autoscaling", "v1", "HorizontalPodAutoscaler", "horizontalpodautoscalers", short=("hpa",), sub=("status",), cat=("all",)), storage_version="v2"),
    _r("coordination.k8s.io", "v1", "Lease", "leases"),
    _r("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices"),
    _r("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", short=("pdb",), sub=("status",)),
    _r("", "v1", "ReplicationController", "replicationcontrollers", short=("rc",), sub=("status", "scale"), cat=("all",), fields=("status.replicas",)),
    _r("", "v1", "PodTemplate", "podtemplates", returns_deleted=True),
    _r("apps", "v1", "DaemonSet", "daemonsets", short=("ds",), sub=("status",), cat=("all",)),
    _r("batch", "v1", "Job", "jobs", sub=("status",), cat=("all",), fields=("status.successful",)),
    _r("batch", "v1", "CronJob", "cronjobs", short=("cj",), sub=("status",), cat=("all",)),
    _r("networking.k8s.io", "v1", "Ingress", "ingresses", short=("ing",), sub=("status",)),
    _r("networking.k8s.io", "v1", "IngressClass", "ingressclasses", namespaced=False),
    _r("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", short=("netpol",)),
    _r("storage.k8s.io", "v1", "StorageClass", "storageclasses", namespaced=False, short=("sc",), returns_deleted=True),
    _r("apiregistration.k8s.io", "v1", "APIService", "apiservices", namespaced=False, sub=("status",), cat=("api-extensions",)),
    _r("rbac.authorization.k8s.io", "v1", "Role", "roles"),
    _r("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings"),
    _r("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", namespaced=False),
    _r("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", namespaced=False),
    _r("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", namespaced=False, short=("pc",)),
    _r("authentication.k8s.io", "v1", "TokenReview", "tokenreviews", namespaced=False, verbs=("create",)),
    _r("authentication.k8s.io", "v1", "SelfSubjectReview", "selfsubjectreviews", namespaced=False, verbs=("create",)),
    _r("authorization.k8s.io", "v1", "SubjectAccessReview", "subjectaccessreviews", namespaced=False, verbs=("create",)),
    _r("authorization.k8s.io", "v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews", namespaced=False, verbs=("create",)),
    _r("authorization.k8s.io", "v1", "SelfSubjectRulesReview", "selfsubjectrulesreviews", namespaced=False, verbs=("create",)),
    _r("authorization.k8s.io", "v1", "LocalSubjectAccessReview", "localsubjectaccessreviews", verbs=("create",)),
    _r("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", namespaced=False, short=("crd", "crds"), sub=("status",), cat=("api-extensions",)),
)  # fmt: skip


class Registry:
    """Served resources, looked up by path segments, kind, or short name.

    Mutated only by CRD creation and deletion (plain `def`, never awaits)."""

    def __init__(self, builtins: tuple[ResourceInfo, ...] = BUILTINS) -> None:
        self._by_gvr: dict[tuple[str, str, str], ResourceInfo] = {}
        self._found: dict[tuple[str, str, str | None], ResourceInfo | None] = {}
        #: group -> versions in preference order (first is preferred).
        self._group_versions: dict[str, list[str]] = {}
        for info in builtins:
            self.add(info)

    def add(self, info: ResourceInfo) -> None:
        """Serve `info` (replacing one with the same group/version/plural)."""
        self._found.clear()
        self._by_gvr[(info.group, info.version, info.plural)] = info
        versions = self._group_versions.setdefault(info.group, [])
        if info.version not in versions:
            versions.append(info.version)

    def remove_resource(self, group: str, plural: str) -> None:
        """Stop serving every version of group/plural (a CRD went away)."""
        self._found.clear()
        for gvr in [k for k in self._by_gvr if k[0] == group and k[2] == plural]:
            del self._by_gvr[gvr]
        self._recompute_versions(group)

    def set_versions(self, group: str, plural: str, infos: list[ResourceInfo]) -> None:
        """Replace the served versions of a CRD-backed resource (preferred version first)."""
        self._found.clear()
        for gvr in [k for k in self._by_gvr if k[0] == group and k[2] == plural]:
            del self._by_gvr[gvr]
        for info in infos:
            self._by_gvr[(info.group, info.version, info.plural)] = info
        self._recompute_versions(group, preferred=[i.version for i in infos])

    def _recompute_versions(self, group: str, preferred: list[str] | None = None) -> None:
        present = {v for (g, v, _) in self._by_gvr if g == group}
        order = list(preferred or []) + self._group_versions.get(group, [])
        versions: list[str] = []
        for version in order:
            if version in present and version not in versions:
                versions.append(version)
        versions += sorted(present - set(versions))
        if versions:
            self._group_versions[group] = versions
        else:
            self._group_versions.pop(group, None)

    def get(self, group: str, version: str, plural: str) -> ResourceInfo | None:
        """The resource served at /apis/group/version/plural, if any."""
        return self._by_gvr.get((group, version, plural))

    def groups(self) -> dict[str, list[str]]:
        """group -> served versions, preferred first ("" is the core group)."""
        return {g: list(v) for g, v in self._group_versions.items()}

    def in_group_version(self, group: str, version: str) -> list[ResourceInfo]:
        """Every resource of one group/version, in registration order."""
        return [i for (g, v, _), i in self._by_gvr.items() if g == group and v == version]

    def __iter__(self) -> Iterator[ResourceInfo]:
        return iter(list(self._by_gvr.values()))

    def find(self, name: str, group: str = "", version: str | None = None) -> ResourceInfo | None:
        """Resolve a plural, singular, kind or short name (in-process convenience lookup).

        Without a version the group's preferred version is used."""
        cache_key = (name, group, version)
        if cache_key in self._found:
            return self._found[cache_key]
        found = self._find(name, group, version)
        self._found[cache_key] = found
        return found

    def _find(self, name: str, group: str, version: str | None) -> ResourceInfo | None:
        lowered = name.lower()
        versions = self._group_versions.get(group, [])
        if version is not None:
            versions = [version]
        for v in versions:
            for info in self.in_group_version(group, v):
                if lowered in (info.plural, info.singular, info.kind.lower(), *info.short_names):
                    return info
        return None
