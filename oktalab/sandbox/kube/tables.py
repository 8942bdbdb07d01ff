"""``meta.k8s.io/v1`` Table responses: what ``kubectl get`` prints as columns.

kubectl asks for a Table on every human-readable get and prints the server's cells
verbatim, so the per-kind columns and CRD ``additionalPrinterColumns`` live here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from .errors import ApiError
from .resources import Resource

Obj = dict[str, Any]

_NAME_COL = {
    "name": "Name",
    "type": "string",
    "format": "name",
    "description": "Name must be unique within a namespace. Is required when creating resources, "
    "although some resources may allow a client to request the generation of an appropriate name "
    "automatically.",
    "priority": 0,
}


def _col(
    name: str, type_: str = "string", description: str = "", priority: int = 0, format_: str = ""
) -> Obj:
    return {
        "name": name,
        "type": type_,
        "format": format_,
        "description": description,
        "priority": priority,
    }


def wants_table(accept: str | None) -> bool:
    """True when the first acceptable media type is a meta.k8s.io Table."""
    for part in (accept or "").split(","):
        params = {
            k.strip(): v.strip() for k, _, v in (p.partition("=") for p in part.split(";")[1:])
        }
        if params.get("as") == "Table":
            if params.get("g") == "meta.k8s.io" and params.get("v") in ("v1", "v1beta1"):
                return True
            continue
        return False
    if "as=Table" in (accept or ""):
        raise ApiError(
            406,
            "NotAcceptable",
            "only the following media types are accepted: application/json, application/yaml, "
            "application/vnd.kubernetes.protobuf",
        )
    return False


def human_duration(seconds: float) -> str:
    """apimachinery's ``duration.HumanDuration``."""
    s = int(seconds)
    if s < 0:
        return "<invalid>"
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    h = s // 3600
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    d = h // 24
    if h < 24 * 8:
        return f"{d}d{h % 24}h" if h % 24 else f"{d}d"
    if d < 365 * 2:
        return f"{d}d"
    if d < 365 * 8:
        y = d // 365
        return f"{y}y{d % 365}d" if d % 365 else f"{y}y"
    return f"{d // 365}y"


def age(obj: Obj) -> str:
    ts = (obj.get("metadata") or {}).get("creationTimestamp")
    if not ts:
        return "<unknown>"
    try:
        created = datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return "<unknown>"
    return human_duration((datetime.now(UTC) - created).total_seconds())


def _name(obj: Obj) -> str:
    return (obj.get("metadata") or {}).get("name", "")


def _service_ports(obj: Obj) -> str:
    ports = ((obj.get("spec") or {}).get("ports")) or []
    out = []
    for p in ports:
        text = str(p.get("port", ""))
        if p.get("nodePort"):
            text += f":{p['nodePort']}"
        out.append(f"{text}/{p.get('protocol', 'TCP')}")
    return ",".join(out) or "<none>"


def _external_ip(obj: Obj) -> str:
    spec = obj.get("spec") or {}
    ips = list(spec.get("externalIPs") or [])
    for ing in (((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress")) or []:
        ips.append(ing.get("ip") or ing.get("hostname") or "")
    if spec.get("type") == "ExternalName":
        return spec.get("externalName", "<none>")
    if ips:
        return ",".join(ips)
    return "<pending>" if spec.get("type") == "LoadBalancer" else "<none>"


def _pod_ready(obj: Obj) -> str:
    containers = ((obj.get("spec") or {}).get("containers")) or []
    statuses = ((obj.get("status") or {}).get("containerStatuses")) or []
    ready = sum(1 for s in statuses if s.get("ready"))
    return f"{ready}/{len(containers)}"


def _pod_restarts(obj: Obj) -> int:
    statuses = ((obj.get("status") or {}).get("containerStatuses")) or []
    return sum(int(s.get("restartCount") or 0) for s in statuses)


Column = tuple[Obj, Callable[[Obj], Any]]

BUILTIN_COLUMNS: dict[str, list[Column]] = {
    "namespaces": [
        (
            _col("Status", description="The status of the namespace"),
            lambda o: (o.get("status") or {}).get("phase", ""),
        ),
        (_col("Age", description="CreationTimestamp"), age),
    ],
    "secrets": [
        (_col("Type", description="The type of the secret"), lambda o: o.get("type", "")),
        (
            _col("Data", "string", "The number of items in the secret"),
            lambda o: len(o.get("data") or {}),
        ),
        (_col("Age", description="CreationTimestamp"), age),
    ],
    "configmaps": [
        (
            _col("Data", "string", "Number of data in configmap"),
            lambda o: len(o.get("data") or {}) + len(o.get("binaryData") or {}),
        ),
        (_col("Age", description="CreationTimestamp"), age),
    ],
    "services": [
        (
            _col("Type", description="The type of service"),
            lambda o: (o.get("spec") or {}).get("type", "ClusterIP"),
        ),
        (
            _col("Cluster-IP", description="The cluster IP"),
            lambda o: (o.get("spec") or {}).get("clusterIP") or "<none>",
        ),
        (_col("External-IP", description="External IPs"), _external_ip),
        (_col("Port(s)", description="The ports of the service"), _service_ports),
        (_col("Age", description="CreationTimestamp"), age),
        (
            _col("Selector", description="The selector", priority=1),
            lambda o: (
                ",".join(
                    f"{k}={v}"
                    for k, v in sorted(((o.get("spec") or {}).get("selector") or {}).items())
                )
                or "<none>"
            ),
        ),
    ],
    "pods": [
        (
            _col(
                "Ready",
                description="The aggregate readiness state of this pod for accepting traffic.",
            ),
            _pod_ready,
        ),
        (
            _col("Status", description="The aggregate status of the containers in this pod."),
            lambda o: (
                (o.get("status") or {}).get("reason") or (o.get("status") or {}).get("phase", "")
            ),
        ),
        (
            _col(
                "Restarts",
                "string",
                "The number of times the containers in this pod have been restarted",
            ),
            _pod_restarts,
        ),
        (_col("Age", description="CreationTimestamp"), age),
        (
            _col("IP", description="The IP address assigned to the pod", priority=1),
            lambda o: (o.get("status") or {}).get("podIP") or "<none>",
        ),
        (
            _col("Node", description="The node the pod is scheduled on", priority=1),
            lambda o: (o.get("spec") or {}).get("nodeName") or "<none>",
        ),
    ],
    "serviceaccounts": [
        (_col("Secrets", "string", "Number of secrets"), lambda o: len(o.get("secrets") or [])),
        (_col("Age", description="CreationTimestamp"), age),
    ],
    "events": [
        (_col("Last Seen", description="Time since last seen"), lambda o: _event_age(o)),
        (_col("Type", description="Type"), lambda o: o.get("type", "")),
        (_col("Reason", description="Reason"), lambda o: o.get("reason", "")),
        (
            _col("Object", description="Involved object"),
            lambda o: (
                f"{((o.get('involvedObject') or {}).get('kind') or '').lower()}/{(o.get('involvedObject') or {}).get('name', '')}"
            ),
        ),
        (_col("Message", description="Message"), lambda o: o.get("message", "")),
    ],
    "endpoints": [
        (_col("Endpoints", description="Endpoints"), lambda o: _endpoints(o)),
        (_col("Age", description="CreationTimestamp"), age),
    ],
    "endpointslices": [
        (_col("AddressType", description="Type of address"), lambda o: o.get("addressType", "")),
        (
            _col("Ports", description="Ports"),
            lambda o: ",".join(str(p.get("port")) for p in o.get("ports") or []) or "<unset>",
        ),
        (
            _col("Endpoints", description="Endpoints"),
            lambda o: (
                ",".join(a for e in o.get("endpoints") or [] for a in e.get("addresses") or [])
                or "<unset>"
            ),
        ),
        (_col("Age", description="CreationTimestamp"), age),
    ],
    "nodes": [
        (_col("Status", description="The status of the node"), lambda o: _node_status(o)),
        (_col("Roles", description="The roles of the node"), lambda o: _node_roles(o)),
        (_col("Age", description="CreationTimestamp"), age),
        (
            _col("Version", description="Kubelet Version reported by the node."),
            lambda o: (((o.get("status") or {}).get("nodeInfo")) or {}).get("kubeletVersion", ""),
        ),
        (
            _col("Internal-IP", description="List of internal IPs in the node.", priority=1),
            lambda o: next(
                (
                    a.get("address")
                    for a in ((o.get("status") or {}).get("addresses")) or []
                    if a.get("type") == "InternalIP"
                ),
                "<none>",
            ),
        ),
    ],
    "deployments": [
        (
            _col("Ready", description="Number of the pod with ready state"),
            lambda o: (
                f"{(o.get('status') or {}).get('readyReplicas', 0)}/{(o.get('spec') or {}).get('replicas', 1)}"
            ),
        ),
        (
            _col(
                "Up-to-date",
                "integer",
                "Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
            ),
            lambda o: (o.get("status") or {}).get("updatedReplicas", 0),
        ),
        (
            _col(
                "Available",
                "integer",
                "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
            ),
            lambda o: (o.get("status") or {}).get("availableReplicas", 0),
        ),
        (_col("Age", description="CreationTimestamp"), age),
        (
            _col("Containers", description="Names of each container in the template.", priority=1),
            lambda o: ",".join(
                c.get("name", "")
                for c in (
                    (((o.get("spec") or {}).get("template") or {}).get("spec") or {}).get(
                        "containers"
                    )
                    or []
                )
            ),
        ),
        (
            _col(
                "Images",
                description="Images referenced by each container in the template.",
                priority=1,
            ),
            lambda o: ",".join(
                c.get("image", "")
                for c in (
                    (((o.get("spec") or {}).get("template") or {}).get("spec") or {}).get(
                        "containers"
                    )
                    or []
                )
            ),
        ),
        (
            _col("Selector", description="Label selector for pods.", priority=1),
            lambda o: ",".join(
                f"{k}={v}"
                for k, v in sorted(
                    (((o.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}).items()
                )
            ),
        ),
    ],
    "customresourcedefinitions": [
        (
            _col("Created At", "date", "CreationTimestamp"),
            lambda o: (o.get("metadata") or {}).get("creationTimestamp", ""),
        ),
    ],
}


def _endpoints(obj: Obj) -> str:
    """``10.244.0.5:8080,10.244.0.6:8080``, as kubectl's printer shows (at most three)."""
    pairs = [
        f"{a.get('ip')}:{p.get('port')}"
        for subset in obj.get("subsets") or []
        for a in subset.get("addresses") or []
        for p in subset.get("ports") or [{"port": ""}]
    ]
    if not pairs:
        return "<none>"
    text = ",".join(pairs[:3])
    return text + (f" + {len(pairs) - 3} more..." if len(pairs) > 3 else "")


def _node_status(obj: Obj) -> str:
    ready = next(
        (
            c
            for c in ((obj.get("status") or {}).get("conditions")) or []
            if c.get("type") == "Ready"
        ),
        None,
    )
    text = (
        "Ready" if ready and ready.get("status") == "True" else "NotReady" if ready else "Unknown"
    )
    if (obj.get("spec") or {}).get("unschedulable"):
        text += ",SchedulingDisabled"
    return text


def _node_roles(obj: Obj) -> str:
    prefix = "node-role.kubernetes.io/"
    labels = ((obj.get("metadata") or {}).get("labels")) or {}
    roles = sorted(k[len(prefix) :] for k in labels if k.startswith(prefix))
    return ",".join(roles) or "<none>"


def _event_age(obj: Obj) -> str:
    ts = (
        obj.get("lastTimestamp")
        or obj.get("eventTime")
        or (obj.get("metadata") or {}).get("creationTimestamp")
    )
    return age({"metadata": {"creationTimestamp": ts}}) if ts else "<unknown>"


# -- JSONPath for printer columns ------------------------------------------------------------
_TOKEN = re.compile(
    r"\.([A-Za-z0-9_\-$]+)|\['([^']*)'\]|\[\"([^\"]*)\"\]|\[(-?\d+|\*)\]"
    r"|\[\?\(@\.([A-Za-z0-9_.\-]+)\s*(==|!=)\s*(?:\"([^\"]*)\"|'([^']*)'|([^)\s]+))\)\]"
)


def json_path(obj: Any, path: str) -> list[Any]:
    """The JSONPath subset CRD printer columns use.

    ``.status.conditions[0].type``, ``.a['b.c']``, ``.items[*].name`` and filters such as
    ``.status.conditions[?(@.type=="Ready")].status``.
    """
    path = path.strip()
    if path.startswith("{") and path.endswith("}"):
        path = path[1:-1]
    if path.startswith("$"):
        path = path[1:]
    current: list[Any] = [obj]
    pos = 0
    while pos < len(path):
        m = _TOKEN.match(path, pos)
        if not m:
            return []
        pos = m.end()
        key = m.group(1) or m.group(2) or m.group(3)
        nxt: list[Any] = []
        if m.group(5):
            field, op = m.group(5), m.group(6)
            literal = next((g for g in (m.group(7), m.group(8), m.group(9)) if g is not None), "")
            for c in current:
                for item in c if isinstance(c, list) else []:
                    found = json_path(item, "." + field)
                    text = _literal(found[0]) if found else None
                    if (text == literal) == (op == "=="):
                        nxt.append(item)
            current = nxt
            continue
        for c in current:
            if key is not None:
                if isinstance(c, dict) and key in c:
                    nxt.append(c[key])
            elif m.group(4) == "*":
                if isinstance(c, list):
                    nxt.extend(c)
                elif isinstance(c, dict):
                    nxt.extend(c.values())
            elif isinstance(c, list):
                i = int(m.group(4))
                if -len(c) <= i < len(c):
                    nxt.append(c[i])
        current = nxt
    return current


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _printer_cell(obj: Obj, column: Obj) -> Any:
    values = json_path(obj, column.get("jsonPath", ""))
    if not values:
        return None
    value = values[0]
    kind = column.get("type", "string")
    if kind == "integer":
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    if kind == "number":
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    if kind == "boolean":
        return value if isinstance(value, bool) else None
    if kind == "date":
        if isinstance(value, str):
            try:
                created = datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            except ValueError:
                return value
            return human_duration((datetime.now(UTC) - created).total_seconds())
        return None
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _cell_of(column: Obj) -> Callable[[Obj], Any]:
    return lambda obj: _printer_cell(obj, column)


def columns_for(res: Resource, version: str) -> list[Column]:
    if res.builtin:
        return BUILTIN_COLUMNS.get(
            res.plural, [(_col("Age", description="CreationTimestamp"), age)]
        )
    printer = res.printer_columns.get(version) or []
    cols: list[Column] = []
    for c in printer:
        definition = _col(
            c.get("name", ""),
            "string" if c.get("type") == "date" else c.get("type", "string"),
            c.get("description", ""),
            int(c.get("priority", 0) or 0),
            c.get("format", ""),
        )
        if c.get("type") == "date":
            definition["type"] = "date"
        cols.append((definition, _cell_of(c)))
    if not any(c.get("name", "").lower() == "age" for c in printer):
        cols.append((_col("Age", "date", "CreationTimestamp"), age))
    return cols


def _row_object(obj: Obj, include: str, list_version: str) -> Obj | None:
    if include == "None":
        return None
    if include == "Object":
        return obj
    meta = dict(obj.get("metadata") or {})
    meta.pop("managedFields", None)
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": meta}


def table(
    res: Resource,
    version: str,
    objects: list[Obj],
    resource_version: str,
    include_object: str = "Metadata",
    continue_token: str = "",
) -> Obj:
    cols = columns_for(res, version)
    rows = []
    for obj in objects:
        row: Obj = {"cells": [_name(obj)] + [fn(obj) for _, fn in cols]}
        ro = _row_object(obj, include_object, version)
        if ro is not None:
            row["object"] = ro
        rows.append(row)
    meta: Obj = {"resourceVersion": resource_version}
    if continue_token:
        meta["continue"] = continue_token
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": [dict(_NAME_COL)] + [c for c, _ in cols],
        "rows": rows,
    }
