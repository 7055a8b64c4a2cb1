"""Printers of the batch, networking, policy and storage kinds and the other workloads.

Columns and cells as kube-apiserver's `pkg/printers/internalversion` prints them (v1.37):
DaemonSet, ReplicationController, Job, CronJob, Ingress, IngressClass, NetworkPolicy,
PodDisruptionBudget, StorageClass and APIService.
"""

from __future__ import annotations

from collections.abc import Callable

from kubesim.apiserver.tables.fields import (
    AGE_COLUMN,
    NAME_COLUMN,
    SELECTOR_WIDE,
    TEMPLATE_WIDE,
    Column,
    Obj,
    Row,
    age,
    at,
    column,
    container_cells,
    dicts_at,
    format_label_selector,
    format_labels,
    human_duration,
    int_at,
    list_at,
    parse_time,
    str_at,
)

__all__ = ["GROUP_PRINTERS"]


def _created(obj: Obj, now: str) -> str:
    return age(at(obj, "metadata", "creationTimestamp"), now)


# ---------------------------------------------------------------- workloads

_DS_COLUMNS = [
    NAME_COLUMN,
    column(
        "Desired", "integer", "The total number of nodes that should be running the daemon pod."
    ),
    column("Current", "integer", "The number of nodes that are running at least 1 daemon pod."),
    column(
        "Ready", "integer", "The number of nodes running the daemon pod with a Ready Condition."
    ),
    column("Up-to-date", "integer", "The number of nodes running the updated daemon pod."),
    column("Available", "integer", "The number of nodes running an available daemon pod."),
    column("Node Selector", description="NodeSelector must match a node's labels."),
    AGE_COLUMN,
    *TEMPLATE_WIDE,
    SELECTOR_WIDE,
]


def _ds_row(ds: Obj, now: str) -> Row:
    return [
        str_at(ds, "metadata", "name"),
        int_at(ds, "status", "desiredNumberScheduled"),
        int_at(ds, "status", "currentNumberScheduled"),
        int_at(ds, "status", "numberReady"),
        int_at(ds, "status", "updatedNumberScheduled"),
        int_at(ds, "status", "numberAvailable"),
        format_labels(at(ds, "spec", "template", "spec", "nodeSelector")),
        _created(ds, now),
        *container_cells(at(ds, "spec", "template", "spec")),
        format_label_selector(at(ds, "spec", "selector")),
    ]


_RC_COLUMNS = [
    NAME_COLUMN,
    column("Desired", "integer", "Replicas is the number of desired replicas."),
    column("Current", "integer", "Replicas is the most recently observed number of replicas."),
    column("Ready", "integer", "The number of ready replicas for this replication controller."),
    AGE_COLUMN,
    *TEMPLATE_WIDE,
    SELECTOR_WIDE,
]


def _rc_row(rc: Obj, now: str) -> Row:
    return [
        str_at(rc, "metadata", "name"),
        int_at(rc, "spec", "replicas"),
        int_at(rc, "status", "replicas"),
        int_at(rc, "status", "readyReplicas"),
        _created(rc, now),
        *container_cells(at(rc, "spec", "template", "spec")),
        format_labels(at(rc, "spec", "selector")),
    ]


# ---------------------------------------------------------------- batch

_JOB_COLUMNS = [
    NAME_COLUMN,
    column("Status", description="Status of the job."),
    column(
        "Completions",
        description="The desired number of successfully finished pods the job should be run with.",
    ),
    column("Duration", description="Time required to complete the job."),
    AGE_COLUMN,
    *TEMPLATE_WIDE,
    SELECTOR_WIDE,
]

#: printJob's precedence of the status column (the first condition present wins).
_JOB_STATUS_ORDER = (
    "Complete",
    "Failed",
    "Terminating",
    "Suspended",
    "FailureTarget",
    "SuccessCriteriaMet",
)


def job_status(job: Obj) -> str:
    """The Job's STATUS cell: Complete, Failed, Terminating, Suspended, ..., Running."""
    present = {
        str_at(c, "type")
        for c in dicts_at(job, "status", "conditions")
        if str_at(c, "status") == "True"
    }
    if at(job, "metadata", "deletionTimestamp"):
        present.add("Terminating")
    return next((s for s in _JOB_STATUS_ORDER if s in present), "Running")


def _job_completions(job: Obj) -> str:
    succeeded = int_at(job, "status", "succeeded")
    completions = at(job, "spec", "completions")
    if isinstance(completions, int):
        return f"{succeeded}/{completions}"
    parallelism = at(job, "spec", "parallelism")
    if isinstance(parallelism, int) and parallelism > 1:
        return f"{succeeded}/1 of {parallelism}"
    return f"{succeeded}/1"


def _job_duration(job: Obj, now: str) -> str:
    start = parse_time(at(job, "status", "startTime"))
    if start is None:
        return ""
    end = parse_time(at(job, "status", "completionTime")) or parse_time(now)
    return human_duration((end - start).total_seconds()) if end is not None else ""


def _job_row(job: Obj, now: str) -> Row:
    return [
        str_at(job, "metadata", "name"),
        job_status(job),
        _job_completions(job),
        _job_duration(job, now),
        _created(job, now),
        *container_cells(at(job, "spec", "template", "spec")),
        format_label_selector(at(job, "spec", "selector")),
    ]


_CRONJOB_COLUMNS = [
    NAME_COLUMN,
    column("Schedule", description="The schedule in Cron format."),
    column("Timezone", description="The time zone name for the given schedule."),
    column(
        "Suspend", "boolean", "This flag tells the controller to suspend subsequent executions."
    ),
    column("Active", "integer", "A list of pointers to currently running jobs."),
    column(
        "Last Schedule",
        description="Information when was the last time the job was successfully scheduled.",
    ),
    AGE_COLUMN,
    *TEMPLATE_WIDE,
    SELECTOR_WIDE,
]


def _cronjob_row(cj: Obj, now: str) -> Row:
    last = at(cj, "status", "lastScheduleTime")
    suspend = at(cj, "spec", "suspend")
    return [
        str_at(cj, "metadata", "name"),
        str_at(cj, "spec", "schedule"),
        str_at(cj, "spec", "timeZone") or "<none>",
        suspend if isinstance(suspend, bool) else "<unset>",
        len(list_at(cj, "status", "active")),
        age(last, now) if last else "<none>",
        _created(cj, now),
        *container_cells(at(cj, "spec", "jobTemplate", "spec", "template", "spec")),
        format_label_selector(at(cj, "spec", "jobTemplate", "spec", "selector")),
    ]


# ---------------------------------------------------------------- networking

_INGRESS_COLUMNS = [
    NAME_COLUMN,
    column("Class", description="The name of the IngressClass resource."),
    column("Hosts", description="Hosts that incoming requests are matched against."),
    column(
        "Address", description="Address is a list containing ingress points for the load-balancer."
    ),
    column("Ports", description="Ports of TLS configurations that open."),
    AGE_COLUMN,
]
_ADDRESS_WIDTH = 16


def _hosts(rules: list[Obj]) -> str:
    hosts = [str_at(r, "host") for r in rules[:3] if str_at(r, "host")]
    if not hosts:
        return "*"
    more = len(rules) - 3
    return ",".join(hosts) + (f" + {more} more..." if more > 0 else "")


def _ingress_address(ingress: Obj) -> str:
    points = {
        str_at(p, "ip") or str_at(p, "hostname")
        for p in dicts_at(ingress, "status", "loadBalancer", "ingress")
    } - {""}
    joined = ",".join(sorted(points))
    if len(joined) > _ADDRESS_WIDTH:
        return joined[: _ADDRESS_WIDTH - 3] + "..."
    return joined


def _ingress_row(ingress: Obj, now: str) -> Row:
    return [
        str_at(ingress, "metadata", "name"),
        str_at(ingress, "spec", "ingressClassName") or "<none>",
        _hosts(dicts_at(ingress, "spec", "rules")),
        _ingress_address(ingress),
        "80, 443" if list_at(ingress, "spec", "tls") else "80",
        _created(ingress, now),
    ]


_INGRESS_CLASS_COLUMNS = [
    NAME_COLUMN,
    column("Controller", description="Controller that should handle this class."),
    column("Parameters", description="A reference to a resource with additional parameters."),
    AGE_COLUMN,
]
_DEFAULT_CLASS = "ingressclass.kubernetes.io/is-default-class"


def _ingress_class_row(ic: Obj, now: str) -> Row:
    name = str_at(ic, "metadata", "name")
    if str_at(ic, "metadata", "annotations", _DEFAULT_CLASS) == "true":
        name += " (default)"
    params = at(ic, "spec", "parameters")
    shown = "<none>"
    if isinstance(params, dict):
        kind = str_at(params, "kind")
        group = str_at(params, "apiGroup")
        shown = (
            f"{kind}.{group}/{str_at(params, 'name')}"
            if group
            else f"{kind}/{str_at(params, 'name')}"
        )
    return [name, str_at(ic, "spec", "controller"), shown, _created(ic, now)]


def _network_policy_row(np: Obj, now: str) -> Row:
    return [
        str_at(np, "metadata", "name"),
        format_label_selector(at(np, "spec", "podSelector") or {}),
        _created(np, now),
    ]


# ---------------------------------------------------------------- policy, storage, aggregation

_PDB_COLUMNS = [
    NAME_COLUMN,
    column("Min Available", description="The minimum number of pods that must be available."),
    column("Max Unavailable", description="The maximum number of pods that may be unavailable."),
    column(
        "Allowed Disruptions", "integer", "Number of pod disruptions that are currently allowed."
    ),
    AGE_COLUMN,
]


def _int_or_string(value: object) -> str:
    return "N/A" if value is None else str(value)


def _pdb_row(pdb: Obj, now: str) -> Row:
    return [
        str_at(pdb, "metadata", "name"),
        _int_or_string(at(pdb, "spec", "minAvailable")),
        _int_or_string(at(pdb, "spec", "maxUnavailable")),
        int_at(pdb, "status", "disruptionsAllowed"),
        _created(pdb, now),
    ]


_SC_COLUMNS = [
    NAME_COLUMN,
    column("Provisioner", description="Indicates the type of the provisioner."),
    column(
        "ReclaimPolicy",
        description="Dynamically provisioned PersistentVolumes of this storage class are created with this reclaimPolicy.",
    ),
    column(
        "VolumeBindingMode",
        description="Indicates how PersistentVolumeClaims should be provisioned and bound.",
    ),
    column(
        "AllowVolumeExpansion", description="Shows whether the storage class allow volume expand."
    ),
    AGE_COLUMN,
]
_DEFAULT_SC = "storageclass.kubernetes.io/is-default-class"


def _sc_row(sc: Obj, now: str) -> Row:
    name = str_at(sc, "metadata", "name")
    if str_at(sc, "metadata", "annotations", _DEFAULT_SC) == "true":
        name += " (default)"
    return [
        name,
        str_at(sc, "provisioner"),
        str_at(sc, "reclaimPolicy") or "Delete",
        str_at(sc, "volumeBindingMode") or "Immediate",
        at(sc, "allowVolumeExpansion") is True,
        _created(sc, now),
    ]


_APISERVICE_COLUMNS = [
    NAME_COLUMN,
    column("Service", description="The reference to the service that hosts this API endpoint."),
    column("Available", description="Whether this service is available."),
    AGE_COLUMN,
]


def _apiservice_row(svc: Obj, now: str) -> Row:
    ref = at(svc, "spec", "service")
    where = (
        f"{str_at(ref, 'namespace')}/{str_at(ref, 'name')}" if isinstance(ref, dict) else "Local"
    )
    available = next(
        (c for c in dicts_at(svc, "status", "conditions") if str_at(c, "type") == "Available"), {}
    )
    shown = str_at(available, "status") or "Unknown"
    if shown != "True" and str_at(available, "reason"):
        shown += f" ({str_at(available, 'reason')})"
    return [str_at(svc, "metadata", "name"), where, shown, _created(svc, now)]


GROUP_PRINTERS: dict[tuple[str, str], tuple[list[Column], Callable[[Obj, str], Row]]] = {
    ("apps", "DaemonSet"): (_DS_COLUMNS, _ds_row),
    ("", "ReplicationController"): (_RC_COLUMNS, _rc_row),
    ("batch", "Job"): (_JOB_COLUMNS, _job_row),
    ("batch", "CronJob"): (_CRONJOB_COLUMNS, _cronjob_row),
    ("networking.k8s.io", "Ingress"): (_INGRESS_COLUMNS, _ingress_row),
    ("networking.k8s.io", "IngressClass"): (_INGRESS_CLASS_COLUMNS, _ingress_class_row),
    ("networking.k8s.io", "NetworkPolicy"): (
        [
            NAME_COLUMN,
            column("Pod-Selector", description="Selects the pods to which this object applies."),
            AGE_COLUMN,
        ],
        _network_policy_row,
    ),
    ("policy", "PodDisruptionBudget"): (_PDB_COLUMNS, _pdb_row),
    ("storage.k8s.io", "StorageClass"): (_SC_COLUMNS, _sc_row),
    ("apiregistration.k8s.io", "APIService"): (_APISERVICE_COLUMNS, _apiservice_row),
}
