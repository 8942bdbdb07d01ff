"""What the apiserver does to built-in kinds on write: defaults, light validation, Secrets.

Only the behaviour clients can observe is reproduced: ``stringData`` folded into ``data``,
Service cluster IPs and port defaults, Namespace phase, name rules, and top-level unknown
fields (so ``fieldValidation=Strict`` catches a typo like ``dta:``).
"""

from __future__ import annotations

import base64
import hashlib
import re
import string
from typing import Any

from .errors import (
    FieldError,
    bad_request,
    forbidden,
    invalid,
    not_supported,
    required,
    type_invalid,
)
from .resources import Resource

Obj = dict[str, Any]

_COMMON = {"apiVersion", "kind", "metadata"}
TOP_FIELDS: dict[str, set[str]] = {
    "namespaces": _COMMON | {"spec", "status"},
    "configmaps": _COMMON | {"data", "binaryData", "immutable"},
    "secrets": _COMMON | {"data", "stringData", "type", "immutable"},
    "services": _COMMON | {"spec", "status"},
    "pods": _COMMON | {"spec", "status"},
    "events": _COMMON
    | {
        "action",
        "count",
        "eventTime",
        "firstTimestamp",
        "involvedObject",
        "lastTimestamp",
        "message",
        "reason",
        "related",
        "reportingComponent",
        "reportingInstance",
        "series",
        "source",
        "type",
    },
    "serviceaccounts": _COMMON | {"automountServiceAccountToken", "imagePullSecrets", "secrets"},
    "customresourcedefinitions": _COMMON | {"spec", "status"},
    "deployments": _COMMON | {"spec", "status"},
    "nodes": _COMMON | {"spec", "status"},
    "selfsubjectaccessreviews": _COMMON | {"spec", "status"},
    "selfsubjectreviews": _COMMON | {"status"},
    "selfsubjectrulesreviews": _COMMON | {"spec", "status"},
}

SANDBOX_USER = {
    "username": "sandbox-admin",
    "groups": ["system:masters", "system:authenticated"],
}


def review(res: Resource, body: Obj) -> Obj:
    """The answer to a self-review: the sandbox token may do anything."""
    out = {k: v for k, v in body.items() if k in ("apiVersion", "kind", "metadata", "spec")}
    out.setdefault("metadata", {})
    out["metadata"].setdefault("creationTimestamp", None)
    if res.plural == "selfsubjectaccessreviews":
        out.setdefault("spec", {})
        out["status"] = {"allowed": True, "reason": "the sandbox token is a cluster admin"}
    elif res.plural == "selfsubjectrulesreviews":
        out.setdefault("spec", {})
        out["status"] = {
            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
            "incomplete": False,
        }
    else:
        out["status"] = {"userInfo": dict(SANDBOX_USER)}
    return out


def sandbox_node(name: str, now: str) -> Obj:
    """The one Node of the sandbox, Ready, so that node listings look like a small cluster."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "node-role.kubernetes.io/control-plane": "",
            },
        },
        "spec": {"podCIDR": "10.244.0.0/24", "podCIDRs": ["10.244.0.0/24"]},
        "status": {
            "addresses": [
                {"type": "InternalIP", "address": "127.0.0.1"},
                {"type": "Hostname", "address": name},
            ],
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "message": "kubelet is posting ready status",
                    "lastHeartbeatTime": now,
                    "lastTransitionTime": now,
                }
            ],
            "nodeInfo": {
                "kubeletVersion": "v1.32.4",
                "kubeProxyVersion": "v1.32.4",
                "containerRuntimeVersion": "containerd://1.7.24",
                "operatingSystem": "linux",
                "architecture": "amd64",
                "osImage": "oktalab sandbox",
                "kernelVersion": "",
                "machineID": "",
                "systemUUID": "",
                "bootID": "",
            },
        },
    }


META_FIELDS = {
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
}

_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
    "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
_LABEL_NAMED = {"namespaces", "services"}


def unknown_fields(res: Resource, obj: Obj) -> list[str]:
    """Paths of fields a built-in kind does not have (top level and metadata only)."""
    out = []
    allowed = TOP_FIELDS.get(res.plural)
    if allowed is not None:
        out += [k for k in obj if k not in allowed]
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        out += [f"metadata.{k}" for k in meta if k not in META_FIELDS]
    return out


def prune_unknown(res: Resource, obj: Obj) -> Obj:
    drop = set(unknown_fields(res, obj))
    out = {k: v for k, v in obj.items() if k not in drop}
    if isinstance(out.get("metadata"), dict):
        out["metadata"] = {k: v for k, v in out["metadata"].items() if f"metadata.{k}" not in drop}
    return out


_CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_CONFIG_KEY_MSG = (
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  "
    "or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"
)
_NAME_PART = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_NAME_PART_MSG = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
    "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
    "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
    "'12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
_PREFIX_MSG = (
    "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
    "'-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)


def _qualified_name(field: str, key: str) -> list[FieldError]:
    prefix, _, name = key.rpartition("/")
    errors = []
    if "/" in key and (not prefix or len(prefix) > 253 or not _SUBDOMAIN.match(prefix)):
        errors.append(invalid(field, key, _PREFIX_MSG))
    if not name:
        errors.append(invalid(field, key, "name part must be non-empty"))
    elif len(name) > 63:
        errors.append(invalid(field, key, "name part must be no more than 63 characters"))
    elif not _NAME_PART.match(name):
        errors.append(invalid(field, key, _NAME_PART_MSG))
    return errors


def validate_metadata(obj: Obj) -> list[FieldError]:
    """Label and annotation rules every kind shares (apimachinery's ValidateObjectMeta)."""
    meta = obj.get("metadata") or {}
    errors: list[FieldError] = []
    labels = meta.get("labels") or {}
    if not isinstance(labels, dict):
        return [invalid("metadata.labels", labels, "must be a map of strings")]
    for key, value in labels.items():
        errors += _qualified_name("metadata.labels", str(key))
        if not isinstance(value, str):
            errors.append(invalid("metadata.labels", value, "must be a string"))
        elif len(value) > 63:
            errors.append(invalid("metadata.labels", value, "must be no more than 63 characters"))
        elif value and not _NAME_PART.match(value):
            errors.append(invalid("metadata.labels", value, _LABEL_VALUE_MSG))
    annotations = meta.get("annotations") or {}
    if not isinstance(annotations, dict):
        return errors + [invalid("metadata.annotations", annotations, "must be a map of strings")]
    for key, value in annotations.items():
        errors += _qualified_name("metadata.annotations", str(key).lower())
        if not isinstance(value, str):
            errors.append(invalid("metadata.annotations", value, "must be a string"))
    size = sum(len(str(k)) + len(str(v)) for k, v in annotations.items())
    if size > 262144:
        errors.append(
            FieldError(
                "FieldValueTooLong",
                "metadata.annotations",
                "Too long: must have at most 262144 bytes",
            )
        )
    return errors


def validate_update(res: Resource, old: Obj, new: Obj) -> list[FieldError]:
    """Rules about changes: immutable ConfigMaps/Secrets, a Service's cluster IP."""
    errors: list[FieldError] = []
    if res.group:
        return errors
    if res.plural in ("configmaps", "secrets") and old.get("immutable") is True:
        for key in ("data", "binaryData"):
            if (old.get(key) or {}) != (new.get(key) or {}):
                errors.append(forbidden(key, "field is immutable when `immutable` is set"))
        if new.get("immutable") is not True:
            errors.append(forbidden("immutable", "field is immutable when `immutable` is set"))
    if res.plural == "secrets" and old.get("type") and new.get("type") != old.get("type"):
        errors.append(invalid("type", new.get("type"), "field is immutable"))
    if res.plural == "services":
        before = (old.get("spec") or {}).get("clusterIP")
        after = (new.get("spec") or {}).get("clusterIP")
        if before and after and before != after and before != "None":
            errors.append(invalid("spec.clusterIP", after, "field is immutable"))
    return errors


def validate_name(res: Resource, name: str) -> list[FieldError]:
    if not name:
        return [required("metadata.name", "name or generateName is required")]
    if res.plural in _LABEL_NAMED:
        if len(name) > 63 or not _LABEL.match(name):
            return [invalid("metadata.name", name, _LABEL_MSG)]
    elif res.builtin and res.plural != "customresourcedefinitions":
        if len(name) > 253 or not _SUBDOMAIN.match(name):
            return [invalid("metadata.name", name, _SUBDOMAIN_MSG)]
    elif not res.builtin and (len(name) > 253 or not _SUBDOMAIN.match(name)):
        return [invalid("metadata.name", name, _SUBDOMAIN_MSG)]
    return []


def _cluster_ip(namespace: str, name: str) -> str:
    digest = hashlib.sha256(f"{namespace}/{name}".encode()).digest()
    return f"10.96.{digest[0]}.{max(digest[1], 2)}"


def _node_port(meta: Obj, port: Obj, old: Obj | None) -> int:
    """Keep a port's nodePort across updates, else pick a stable one in 30000-32767."""
    for prev in ((old or {}).get("spec") or {}).get("ports") or []:
        if isinstance(prev, dict) and prev.get("port") == port.get("port") and prev.get("nodePort"):
            return int(prev["nodePort"])
    key = f"{meta.get('namespace')}/{meta.get('name')}/{port.get('port')}/{port.get('protocol')}"
    return 30000 + int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") % 2768


def default(res: Resource, obj: Obj, old: Obj | None) -> Obj:
    """Apply the server-side defaults of a built-in kind (in place, returned for chaining)."""
    if res.builtin and res.group == "apps" and res.plural == "deployments":
        return _default_deployment(obj)
    if not res.builtin or res.group:
        return obj
    meta = obj.setdefault("metadata", {})
    if res.plural == "secrets":
        string_data = obj.pop("stringData", None)
        if isinstance(string_data, dict):
            data = obj.get("data") or {}
            for key, value in string_data.items():
                data[key] = base64.b64encode(str(value).encode()).decode()
            obj["data"] = data
        obj.setdefault("type", "Opaque")
    elif res.plural == "namespaces":
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        obj.setdefault("status", {}).setdefault("phase", "Active")
        labels = meta.setdefault("labels", {})
        labels.setdefault("kubernetes.io/metadata.name", meta.get("name", ""))
    elif res.plural == "services":
        spec = obj.setdefault("spec", {})
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        if spec.get("type") != "ExternalName":
            old_ip = ((old or {}).get("spec") or {}).get("clusterIP")
            ip = (
                spec.get("clusterIP")
                or old_ip
                or _cluster_ip(meta.get("namespace", ""), meta.get("name", ""))
            )
            spec["clusterIP"] = ip
            spec.setdefault("clusterIPs", [ip])
            spec.setdefault("ipFamilies", ["IPv4"])
            spec.setdefault("ipFamilyPolicy", "SingleStack")
            spec.setdefault("internalTrafficPolicy", "Cluster")
        for port in spec.get("ports") or []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")
                if "port" in port:
                    port.setdefault("targetPort", port["port"])
                if spec.get("type") in ("NodePort", "LoadBalancer") and "nodePort" not in port:
                    port["nodePort"] = _node_port(meta, port, old)
        obj.setdefault("status", {}).setdefault("loadBalancer", {})
    elif res.plural == "pods":
        spec = obj.setdefault("spec", {})
        _default_pod_spec(spec)
        spec.setdefault("serviceAccountName", "default")
        if old is None:
            spec.setdefault("nodeName", NODE_NAME)
            obj["status"] = _running_pod_status(obj)
    return obj


NODE_NAME = "sandbox-control-plane"


def _running_pod_status(pod: Obj) -> Obj:
    """Stand-in for scheduler and kubelet: a new Pod is Running and Ready at once."""
    from .store import now_rfc3339

    now = now_rfc3339()
    meta = pod.get("metadata") or {}
    digest = hashlib.sha256(f"{meta.get('namespace')}/{meta.get('name')}".encode()).digest()
    ip = f"10.244.0.{2 + digest[0] % 250}"
    conditions = [
        {"type": t, "status": "True", "lastProbeTime": None, "lastTransitionTime": now}
        for t in (
            "PodReadyToStartContainers",
            "Initialized",
            "Ready",
            "ContainersReady",
            "PodScheduled",
        )
    ]
    statuses = [
        {
            "name": c.get("name", ""),
            "image": c.get("image", ""),
            "imageID": "",
            "ready": True,
            "started": True,
            "restartCount": 0,
            "state": {"running": {"startedAt": now}},
            "lastState": {},
        }
        for c in ((pod.get("spec") or {}).get("containers") or [])
        if isinstance(c, dict)
    ]
    return {
        "phase": "Running",
        "conditions": conditions,
        "hostIP": "127.0.0.1",
        "hostIPs": [{"ip": "127.0.0.1"}],
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "startTime": now,
        "qosClass": "BestEffort",
        "containerStatuses": statuses,
    }


def _default_pod_spec(spec: Obj) -> None:
    """PodSpec defaults, for Pods and for the templates of Deployments."""
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    spec.setdefault("terminationGracePeriodSeconds", 30)
    for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        if not isinstance(c, dict):
            continue
        image = str(c.get("image", ""))
        latest = image.endswith(":latest") or ":" not in image.rsplit("/", 1)[-1]
        c.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
        c.setdefault("terminationMessagePath", "/dev/termination-log")
        c.setdefault("terminationMessagePolicy", "File")
        c.setdefault("resources", {})
        for port in c.get("ports") or []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")


def _default_deployment(obj: Obj) -> Obj:
    spec = obj.setdefault("spec", {})
    template = spec.get("template")
    if isinstance(template, dict) and isinstance(template.get("spec"), dict):
        _default_pod_spec(template["spec"])
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    spec.setdefault(
        "strategy",
        {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
    )
    return obj


def roll_out(obj: Obj, now: str) -> None:
    """Stand-in for the deployment controller: every generation is rolled out at once.

    There are no nodes, so ``kubectl rollout status`` would otherwise wait forever.
    """
    meta = obj.get("metadata") or {}
    replicas = int((obj.get("spec") or {}).get("replicas", 1) or 0)
    name = meta.get("name", "")
    old_conditions = {c.get("type"): c for c in ((obj.get("status") or {}).get("conditions")) or []}

    def condition(ctype: str, reason: str, message: str) -> Obj:
        prev = old_conditions.get(ctype) or {}
        return {
            "type": ctype,
            "status": "True",
            "lastUpdateTime": now,
            "lastTransitionTime": prev.get("lastTransitionTime", now),
            "reason": reason,
            "message": message,
        }

    status: Obj = {"observedGeneration": int(meta.get("generation") or 1)}
    if replicas:
        status.update(
            replicas=replicas,
            updatedReplicas=replicas,
            readyReplicas=replicas,
            availableReplicas=replicas,
        )
    status["conditions"] = [
        condition("Available", "MinimumReplicasAvailable", "Deployment has minimum availability."),
        condition(
            "Progressing",
            "NewReplicaSetAvailable",
            f'ReplicaSet "{name}" has successfully progressed.',
        ),
    ]
    obj["status"] = status


_POD_SHAPES = (
    ("spec.containers", "array of objects"),
    ("spec.initContainers", "array of objects"),
    ("spec.volumes", "array of objects"),
)
_SHAPES: dict[str, tuple[tuple[str, str], ...]] = {
    "pods": _POD_SHAPES,
    "services": (("spec.ports", "array of objects"), ("spec.selector", "object")),
    "deployments": (
        ("spec.selector", "object"),
        ("spec.template", "object"),
        ("spec.template.metadata", "object"),
        ("spec.template.spec", "object"),
        ("spec.template.spec.containers", "array of objects"),
    ),
    "namespaces": (("spec.finalizers", "array"),),
    "serviceaccounts": (("secrets", "array of objects"), ("imagePullSecrets", "array of objects")),
    "customresourcedefinitions": (("spec.names", "object"), ("spec.versions", "array of objects")),
}


def shape_errors(res: Resource, obj: Obj) -> list[FieldError]:
    """Wrong JSON types in the fields the other checks read (the Go decoder rejects them)."""
    maps = {"configmaps": ("data", "binaryData"), "secrets": ("data", "stringData")}.get(
        res.plural, ()
    )
    errors = [
        type_invalid(key, obj[key], f"{key} in body must be of type object")
        for key in maps
        if obj.get(key) is not None and not isinstance(obj[key], dict)
    ]
    for key in ("spec", "status"):
        if key in obj and obj[key] is not None and not isinstance(obj[key], dict):
            errors.append(type_invalid(key, obj[key], f"{key} in body must be of type object"))
    for path, kind in _SHAPES.get(res.plural, ()):
        value: Any = obj
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value is None:
            continue
        ok = isinstance(value, dict) if kind == "object" else isinstance(value, list)
        if kind == "array of objects":
            ok = ok and all(isinstance(v, dict) for v in value)
        if not ok:
            errors.append(
                type_invalid(path, value, f"{path} in body must be of type {kind.split()[0]}")
            )
    meta = obj.get("metadata") or {}
    for key in ("labels", "annotations"):
        if meta.get(key) is not None and not isinstance(meta[key], dict):
            errors.append(
                type_invalid(
                    f"metadata.{key}", meta[key], f"metadata.{key} in body must be of type object"
                )
            )
    return errors


def drop_nulls(obj: Obj) -> None:
    """Top-level and metadata nulls mean "absent" to the Go decoder; make them so."""
    for key in [k for k, v in obj.items() if v is None]:
        del obj[key]
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        for key in [k for k, v in meta.items() if v is None]:
            del meta[key]


def validate(res: Resource, obj: Obj) -> list[FieldError]:
    errors: list[FieldError] = []
    if res.plural in ("configmaps", "secrets"):
        for field in ("data", "binaryData"):
            for key in obj.get(field) or {}:
                if not _CONFIG_KEY.match(str(key)) or len(str(key)) > 253:
                    errors.append(invalid(f"{field}[{key}]", key, _CONFIG_KEY_MSG))
    if res.plural == "secrets":
        for key, value in (obj.get("data") or {}).items():
            if not isinstance(value, str):
                errors.append(invalid(f"data[{key}]", value, "must be a base64 string"))
                continue
            try:
                base64.b64decode(value, validate=True)
            except ValueError:
                # Go's encoding/json fails decoding the []byte and names the offset, never
                # the value (base64.CorruptInputError): a 400, as the apiserver answers.
                alphabet = set(string.ascii_letters + string.digits + "+/=")
                pos = next((i for i, ch in enumerate(value) if ch not in alphabet), len(value))
                raise bad_request(
                    'Secret in version "v1" cannot be handled as a Secret: '
                    f"illegal base64 data at input byte {pos}"
                ) from None
    if res.plural == "configmaps":
        for key, value in (obj.get("data") or {}).items():
            if not isinstance(value, str):
                errors.append(invalid(f"data[{key}]", value, "must be a string"))
    if res.plural == "services":
        for i, port in enumerate(((obj.get("spec") or {}).get("ports")) or []):
            if not isinstance(port, dict) or "port" not in port:
                errors.append(required(f"spec.ports[{i}].port"))
    if res.plural == "pods":
        containers = ((obj.get("spec") or {}).get("containers")) or []
        if not containers:
            errors.append(required("spec.containers"))
        for i, c in enumerate(containers):
            if isinstance(c, dict):
                if not c.get("name"):
                    errors.append(required(f"spec.containers[{i}].name"))
                if not c.get("image"):
                    errors.append(required(f"spec.containers[{i}].image"))
    if res.plural == "customresourcedefinitions":
        errors += validate_crd(obj)
    if res.plural == "deployments":
        spec = obj.get("spec") or {}
        if not (
            (spec.get("selector") or {}).get("matchLabels")
            or (spec.get("selector") or {}).get("matchExpressions")
        ):
            errors.append(required("spec.selector"))
        if not (((spec.get("template") or {}).get("spec") or {}).get("containers")):
            errors.append(required("spec.template.spec.containers"))
    return errors


def validate_crd(obj: Obj) -> list[FieldError]:
    spec = obj.get("spec") or {}
    names = spec.get("names") or {}
    errors: list[FieldError] = []
    if not spec.get("group"):
        errors.append(required("spec.group"))
    if not names.get("plural"):
        errors.append(required("spec.names.plural"))
    if not names.get("kind"):
        errors.append(required("spec.names.kind"))
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        errors.append(
            FieldError(
                "FieldValueNotSupported",
                "spec.scope",
                f'Unsupported value: "{spec.get("scope", "")}": supported values: "Cluster", "Namespaced"',
            )
        )
    expected = f"{names.get('plural')}.{spec.get('group')}"
    name = (obj.get("metadata") or {}).get("name", "")
    if names.get("plural") and spec.get("group") and name != expected:
        errors.append(invalid("metadata.name", name, 'must be spec.names.plural+"."+spec.group'))
    versions = spec.get("versions") or []
    if not versions:
        errors.append(
            required("spec.versions", "must have exactly one version marked as storage version")
        )
    elif sum(1 for v in versions if v.get("storage")) != 1:
        errors.append(
            invalid(
                "spec.versions", versions, "must have exactly one version marked as storage version"
            )
        )
    for i, v in enumerate(versions):
        schema = (v.get("schema") or {}).get("openAPIV3Schema") if isinstance(v, dict) else None
        path = f"spec.versions[{i}].schema.openAPIV3Schema"
        if not schema:
            errors.append(required(path, "schemas are required"))
        elif isinstance(schema, dict):
            errors += structural_errors(schema, path)
    return errors


_SCHEMA_TYPES = ["array", "boolean", "integer", "number", "object", "string"]


def structural_errors(schema: Obj, path: str) -> list[FieldError]:
    """The parts of apiextensions' structural-schema rules a typo is likely to break.

    Every node under ``properties``/``items``/``additionalProperties`` needs a known ``type``
    (unless it is int-or-string or preserves unknown fields), and the root is an object.
    """
    errors: list[FieldError] = []
    root_type = schema.get("type")
    if root_type is None and not schema.get("x-kubernetes-preserve-unknown-fields"):
        errors.append(required(f"{path}.type", "must not be empty at the root"))
    elif root_type is not None and root_type != "object":
        errors.append(invalid(f"{path}.type", root_type, "must be object at the root"))
    _structural(schema, path, errors, root=True)
    return errors


def _structural(node: Obj, path: str, errors: list[FieldError], *, root: bool = False) -> None:
    kind = node.get("type")
    if not root:
        if kind is None:
            if not node.get("x-kubernetes-int-or-string") and not node.get(
                "x-kubernetes-preserve-unknown-fields"
            ):
                errors.append(
                    required(f"{path}.type", "must not be empty for specified object fields")
                )
        elif kind not in _SCHEMA_TYPES:
            errors.append(not_supported(f"{path}.type", kind, _SCHEMA_TYPES))
    props = node.get("properties")
    if isinstance(props, dict):
        for key, sub in props.items():
            if root and key == "metadata":
                continue
            if isinstance(sub, dict):
                _structural(sub, f"{path}.properties[{key}]", errors)
    for key in ("items", "additionalProperties"):
        sub = node.get(key)
        if isinstance(sub, dict):
            _structural(sub, f"{path}.{key}", errors)
