"""Printers of services, nodes, events, config and the other built-in kinds, and the registry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubesim.apiserver.tables.fields import (
    AGE_COLUMN,
    NAME_COLUMN,
    NAME_DOC,
    Column,
    Obj,
    Row,
    age,
    at,
    column,
    dict_at,
    dicts_at,
    format_labels,
    int_at,
    list_at,
    str_at,
)
from kubesim.apiserver.tables.network import (
    ENDPOINTS_COLUMNS,
    SLICE_COLUMNS,
    endpoints_row,
    slice_row,
)
from kubesim.apiserver.tables.workloads import (
    DEPLOY_COLUMNS,
    POD_COLUMNS,
    RS_COLUMNS,
    STS_COLUMNS,
    deploy_row,
    pod_conditions,
    pod_row,
    rs_row,
    sts_row,
)

__all__ = ["PRINTERS", "Printer", "pod_conditions"]

#: A kind's column definitions and the function making one row's cells.
Printer = tuple[list[Column], Callable[[Obj, str], Row]]

_SVC_COLUMNS = [
    NAME_COLUMN,
    column("Type", description="type determines how the Service is exposed."),
    column("Cluster-IP", description="clusterIP is the IP address of the service."),
    column(
        "External-IP",
        description="externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.",
    ),
    column("Port(s)", description="The list of ports that are exposed by this service."),
    AGE_COLUMN,
    column(
        "Selector",
        description="Route service traffic to pods with label keys and values matching this selector.",
        priority=1,
    ),
]


def _external_ip(svc: Obj) -> str:
    kind = str_at(svc, "spec", "type")
    external = [str(ip) for ip in list_at(svc, "spec", "externalIPs")]
    if kind in ("ClusterIP", "NodePort"):
        return ",".join(external) or "<none>"
    if kind == "LoadBalancer":
        ingress = [
            str_at(i, "ip") or str_at(i, "hostname")
            for i in dicts_at(svc, "status", "loadBalancer", "ingress")
        ]
        found = sorted({i for i in ingress if i}) + external
        return ",".join(found) or "<pending>"
    if kind == "ExternalName":
        return str_at(svc, "spec", "externalName")
    return "<unknown>"


def _svc_row(svc: Obj, now: str) -> Row:
    cluster_ips = list_at(svc, "spec", "clusterIPs")
    cluster_ip = str(cluster_ips[0]) if cluster_ips else str_at(svc, "spec", "clusterIP")
    ports = []
    for port in dicts_at(svc, "spec", "ports"):
        node_port = int_at(port, "nodePort")
        middle = f":{node_port}" if node_port > 0 else ""
        ports.append(f"{int_at(port, 'port')}{middle}/{str_at(port, 'protocol')}")
    return [
        str_at(svc, "metadata", "name"),
        str_at(svc, "spec", "type"),
        cluster_ip or "<none>",
        _external_ip(svc),
        ",".join(ports) or "<none>",
        age(at(svc, "metadata", "creationTimestamp"), now),
        format_labels(at(svc, "spec", "selector")),
    ]


_NS_COLUMNS = [NAME_COLUMN, column("Status", description="The status of the namespace"), AGE_COLUMN]


def _ns_row(ns: Obj, now: str) -> Row:
    return [
        str_at(ns, "metadata", "name"),
        str_at(ns, "status", "phase"),
        age(at(ns, "metadata", "creationTimestamp"), now),
    ]


_NODE_COLUMNS = [
    NAME_COLUMN,
    column("Status", description="The status of the node"),
    column("Roles", description="The roles of the node"),
    AGE_COLUMN,
    column("Version", description="Kubelet Version reported by the node."),
    column("Internal-IP", description="List of addresses reachable to the node.", priority=1),
    column("External-IP", description="List of addresses reachable to the node.", priority=1),
    column(
        "OS-Image", description="OS Image reported by the node from /etc/os-release.", priority=1
    ),
    column("Kernel-Version", description="Kernel Version reported by the node.", priority=1),
    column(
        "Container-Runtime",
        description="ContainerRuntime Version reported by the node.",
        priority=1,
    ),
]


def _node_row(node: Obj, now: str) -> Row:
    status = []
    for cond in dicts_at(node, "status", "conditions"):
        if cond.get("type") == "Ready":
            status = ["Ready" if cond.get("status") == "True" else "NotReady"]
    status = status or ["Unknown"]
    if at(node, "spec", "unschedulable") is True:
        status.append("SchedulingDisabled")
    labels = dict_at(node, "metadata", "labels")
    roles = {
        k.removeprefix("node-role.kubernetes.io/")
        for k in labels
        if k.startswith("node-role.kubernetes.io/")
    }
    if isinstance(labels.get("kubernetes.io/role"), str):
        roles.add(labels["kubernetes.io/role"])
    roles.discard("")

    def address(kind: str) -> str:
        found = [
            str_at(a, "address")
            for a in dicts_at(node, "status", "addresses")
            if a.get("type") == kind
        ]
        return found[0] if found else "<none>"

    info = dict_at(node, "status", "nodeInfo")
    return [
        str_at(node, "metadata", "name"),
        ",".join(status),
        ",".join(sorted(roles)) or "<none>",
        age(at(node, "metadata", "creationTimestamp"), now),
        str_at(info, "kubeletVersion"),
        address("InternalIP"),
        address("ExternalIP"),
        str_at(info, "osImage") or "<unknown>",
        str_at(info, "kernelVersion") or "<unknown>",
        str_at(info, "containerRuntimeVersion") or "<unknown>",
    ]


_EVENT_COLUMNS = [
    column(
        "Last Seen",
        description="The time at which the most recent occurrence of this event was recorded.",
    ),
    column(
        "Type",
        description="Type of this event (Normal, Warning), new types could be added in the future",
    ),
    column(
        "Reason",
        description="This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
    ),
    column("Object", description="The object that this event is about."),
    column("Subobject", description="The field of the object the event is about.", priority=1),
    column("Source", description="The component reporting this event.", priority=1),
    column("Message", description="A human-readable description of the status of this operation."),
    column("First Seen", description="The time at which the event was first recorded.", priority=1),
    column("Count", description="The number of times this event has occurred.", priority=1),
    {**column("Name", description=NAME_DOC, priority=1), "format": "name"},
]


def _event_row(event: Obj, now: str) -> Row:
    # events.k8s.io/v1 names the same fields differently; the server prints both alike.
    involved = dict_at(event, "involvedObject") or dict_at(event, "regarding")
    first_ts = at(event, "firstTimestamp") or at(event, "deprecatedFirstTimestamp")
    first = age(first_ts, now) if first_ts else age(at(event, "eventTime"), now)
    last_ts = at(event, "lastTimestamp") or at(event, "deprecatedLastTimestamp")
    last = age(last_ts, now) if last_ts else first
    count = int_at(event, "count") or int_at(event, "deprecatedCount")
    series = at(event, "series")
    if isinstance(series, dict):
        last, count = age(at(series, "lastObservedTime"), now), int_at(series, "count")
    elif count == 0:
        count = 1
    kind, name = str_at(involved, "kind").lower(), str_at(involved, "name")
    source = dict_at(event, "source") or dict_at(event, "deprecatedSource")
    component = str_at(source, "component") or str_at(event, "reportingController")
    host = str_at(source, "host") or str_at(event, "reportingInstance")
    message = str_at(event, "message") or str_at(event, "note")
    return [
        last,
        str_at(event, "type"),
        str_at(event, "reason"),
        f"{kind}/{name}" if name else kind,
        str_at(involved, "fieldPath"),
        f"{component}, {host}" if host else component,
        message.strip(),
        first,
        count,
        str_at(event, "metadata", "name"),
    ]


def _simple(
    extra: list[Column], cells: Callable[[Obj], list[Any]]
) -> tuple[list[Column], Callable[[Obj, str], Row]]:
    """A printer whose columns are Name, `extra`, Age."""

    def row(obj: Obj, now: str) -> Row:
        return [
            str_at(obj, "metadata", "name"),
            *cells(obj),
            age(at(obj, "metadata", "creationTimestamp"), now),
        ]

    return [NAME_COLUMN, *extra, AGE_COLUMN], row


def _data_count(obj: Obj) -> list[Any]:
    data, binary = at(obj, "data"), at(obj, "binaryData")
    return [
        (len(data) if isinstance(data, dict) else 0)
        + (len(binary) if isinstance(binary, dict) else 0)
    ]


_PVC_COLUMNS = [
    NAME_COLUMN,
    column("Status", description="phase represents the current phase of PersistentVolumeClaim."),
    column(
        "Volume",
        description="volumeName is the binding reference to the PersistentVolume backing this claim.",
    ),
    column(
        "Capacity", description="capacity represents the actual resources of the underlying volume."
    ),
    column(
        "Access Modes",
        description="accessModes contains the actual access modes the volume backing the PVC has.",
    ),
    column("StorageClass", description="StorageClass of the pvc"),
    column("VolumeAttributesClass", description="VolumeAttributesClass of the pvc"),
    AGE_COLUMN,
    column(
        "VolumeMode",
        description="volumeMode defines what type of volume is required by the claim.",
        priority=1,
    ),
]
_ACCESS_MODES = {
    "ReadWriteOnce": "RWO",
    "ReadOnlyMany": "ROX",
    "ReadWriteMany": "RWX",
    "ReadWriteOncePod": "RWOP",
}


def _pvc_row(pvc: Obj, now: str) -> Row:
    phase = (
        "Terminating"
        if at(pvc, "metadata", "deletionTimestamp")
        else str_at(pvc, "status", "phase")
    )
    capacity = modes = ""
    if str_at(pvc, "spec", "volumeName"):
        have = set(list_at(pvc, "status", "accessModes"))
        modes = ",".join(short for mode, short in _ACCESS_MODES.items() if mode in have)
        capacity = str(at(pvc, "status", "capacity", "storage") or "")
    storage_class = str_at(pvc, "spec", "storageClassName") or str_at(
        pvc, "metadata", "annotations", "volume.beta.kubernetes.io/storage-class"
    )
    return [
        str_at(pvc, "metadata", "name"),
        phase,
        str_at(pvc, "spec", "volumeName"),
        capacity,
        modes,
        storage_class,
        str_at(pvc, "spec", "volumeAttributesClassName") or "<unset>",
        age(at(pvc, "metadata", "creationTimestamp"), now),
        str_at(pvc, "spec", "volumeMode") or "<unset>",
    ]


_HPA_COLUMNS = [
    NAME_COLUMN,
    column(
        "Reference",
        description="reference to scaled resource; horizontal pod autoscaler will learn the current resource consumption and will set the desired number of pods by using its Scale subresource.",
    ),
    column(
        "Targets",
        description="metrics contains the specifications for which to use to calculate the desired replica count.",
    ),
    column(
        "MinPods",
        description="minReplicas is the lower limit for the number of replicas to which the autoscaler can scale down.",
    ),
    column(
        "MaxPods",
        "integer",
        "maxReplicas is the upper limit for the number of replicas to which the autoscaler can scale up.",
    ),
    column(
        "Replicas",
        "integer",
        "currentReplicas is current number of replicas of pods managed by this autoscaler.",
    ),
    AGE_COLUMN,
]


def _hpa_metric(spec: Obj, status: Any) -> str:
    kind = str_at(spec, "type")
    key = {
        "Resource": "resource",
        "ContainerResource": "containerResource",
        "Pods": "pods",
        "Object": "object",
        "External": "external",
    }.get(kind)
    if key is None:
        return "<unknown type>"
    source, current = (
        dict_at(spec, key),
        at(status, key, "current") if isinstance(status, dict) else None,
    )
    target = dict_at(source, "target")
    named = key in ("resource", "containerResource")
    prefix = f"{str_at(source, 'name')}: " if named else ""
    if target.get("averageValue") is not None:
        now_value = at(current, "averageValue")
        text = f"{prefix}{now_value if now_value is not None else '<unknown>'}/{target['averageValue']}"
        return text + (" (avg)" if key in ("object", "external") else "")
    if named:
        utilization = at(current, "averageUtilization")
        shown = f"{utilization}%" if isinstance(utilization, int) else "<unknown>"
        goal = target.get("averageUtilization")
        return f"{prefix}{shown}/{f'{goal}%' if isinstance(goal, int) else '<auto>'}"
    now_value = at(current, "value") if key != "pods" else at(current, "averageValue")
    goal = target.get("value") if key != "pods" else target.get("averageValue")
    return f"{now_value if now_value is not None else '<unknown>'}/{goal}"


def _hpa_row(hpa: Obj, now: str) -> Row:
    specs = dicts_at(hpa, "spec", "metrics")
    statuses = list_at(hpa, "status", "currentMetrics")
    shown = [
        _hpa_metric(s, statuses[i] if i < len(statuses) else None) for i, s in enumerate(specs)
    ]
    targets = ", ".join(shown[:2]) if shown else "<none>"
    if len(shown) > 2:
        targets += f" + {len(shown) - 2} more..."
    ref = dict_at(hpa, "spec", "scaleTargetRef")
    min_replicas = at(hpa, "spec", "minReplicas")
    return [
        str_at(hpa, "metadata", "name"),
        f"{str_at(ref, 'kind')}/{str_at(ref, 'name')}",
        targets,
        str(min_replicas) if isinstance(min_replicas, int) else "<unset>",
        int_at(hpa, "spec", "maxReplicas"),
        int_at(hpa, "status", "currentReplicas"),
        age(at(hpa, "metadata", "creationTimestamp"), now),
    ]


def _binding_cells(binding: Obj) -> list[Any]:
    subjects = dicts_at(binding, "subjects")

    def of(kind: str) -> str:
        names = [
            f"{str_at(s, 'namespace')}:{str_at(s, 'name')}"
            if kind == "ServiceAccount"
            else str_at(s, "name")
            for s in subjects
            if s.get("kind") == kind
        ]
        return ", ".join(names)

    ref = dict_at(binding, "roleRef")
    return [
        f"{str_at(ref, 'kind')}/{str_at(ref, 'name')}",
        of("User"),
        of("Group"),
        of("ServiceAccount"),
    ]


def _binding_row(binding: Obj, now: str) -> Row:
    role, users, groups, sas = _binding_cells(binding)
    return [
        str_at(binding, "metadata", "name"),
        role,
        age(at(binding, "metadata", "creationTimestamp"), now),
        users,
        groups,
        sas,
    ]


_BINDING_COLUMNS = [
    NAME_COLUMN,
    column(
        "Role",
        description="RoleRef can reference a Role in the current namespace or a ClusterRole in the global namespace.",
    ),
    AGE_COLUMN,
    column("Users", description="Users in the roleBinding", priority=1),
    column("Groups", description="Groups in the roleBinding", priority=1),
    column("ServiceAccounts", description="ServiceAccounts in the roleBinding", priority=1),
]


def _revision_cells(rev: Obj) -> list[Any]:
    owner = next(
        (o for o in dicts_at(rev, "metadata", "ownerReferences") if o.get("controller") is True),
        None,
    )
    controller = "<none>"
    if owner is not None:
        group = str_at(owner, "apiVersion").rpartition("/")[0]
        kind = f"{str_at(owner, 'kind')}.{group}" if group else str_at(owner, "kind")
        controller = f"{kind.lower()}/{str_at(owner, 'name')}"
    return [controller, int_at(rev, "revision")]


# Upstream declares both Data columns as "string" (the cell is a count) and describes them with
# the types' swagger docs (pkg/printers/internalversion/printers.go).
_CONFIGMAP_DATA_DOC = (
    "Data contains the configuration data. Each key must consist of alphanumeric characters, "
    "'-', '_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The "
    "keys stored in Data must not overlap with the keys in the BinaryData field, this is "
    "enforced during validation process."
)
_SECRET_DATA_DOC = (
    "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' "
    "or '.'. The serialized form of the secret data is a base64 encoded string, representing "
    "the arbitrary (possibly non-string) data value here. Described in "
    "https://tools.ietf.org/html/rfc4648#section-4"
)

PRINTERS: dict[tuple[str, str], Printer] = {
    ("", "Pod"): (POD_COLUMNS, pod_row),
    ("apps", "StatefulSet"): (STS_COLUMNS, sts_row),
    ("apps", "Deployment"): (DEPLOY_COLUMNS, deploy_row),
    ("apps", "ReplicaSet"): (RS_COLUMNS, rs_row),
    ("", "Service"): (_SVC_COLUMNS, _svc_row),
    ("", "Endpoints"): (ENDPOINTS_COLUMNS, endpoints_row),
    ("discovery.k8s.io", "EndpointSlice"): (SLICE_COLUMNS, slice_row),
    ("", "Namespace"): (_NS_COLUMNS, _ns_row),
    ("", "Node"): (_NODE_COLUMNS, _node_row),
    ("", "Event"): (_EVENT_COLUMNS, _event_row),
    ("events.k8s.io", "Event"): (_EVENT_COLUMNS, _event_row),
    ("", "ConfigMap"): _simple([column("Data", description=_CONFIGMAP_DATA_DOC)], _data_count),
    ("", "Secret"): _simple(
        [
            column("Type", description="Used to facilitate programmatic handling of secret data."),
            column("Data", description=_SECRET_DATA_DOC),
        ],
        lambda s: [str_at(s, "type"), _data_count(s)[0]],
    ),
    ("", "ServiceAccount"): _simple(
        [
            column(
                "Secrets",
                "integer",
                "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.",
            )
        ],
        lambda sa: [len(list_at(sa, "secrets"))],
    ),
    ("", "PersistentVolumeClaim"): (_PVC_COLUMNS, _pvc_row),
    ("autoscaling", "HorizontalPodAutoscaler"): (_HPA_COLUMNS, _hpa_row),
    ("coordination.k8s.io", "Lease"): _simple(
        [
            column(
                "Holder",
                description="holderIdentity contains the identity of the holder of a current lease.",
            )
        ],
        lambda lease: [str_at(lease, "spec", "holderIdentity")],
    ),
    ("apps", "ControllerRevision"): _simple(
        [
            column("Controller", description="Controller of the object"),
            column(
                "Revision",
                "integer",
                "Revision indicates the revision of the state represented by Data.",
            ),
        ],
        _revision_cells,
    ),
    ("rbac.authorization.k8s.io", "RoleBinding"): (_BINDING_COLUMNS, _binding_row),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): (_BINDING_COLUMNS, _binding_row),
}
