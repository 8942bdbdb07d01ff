"""A Kubernetes-API-compatible server for the sandbox, good enough for the real kubectl.

``create_kube_app(store, token=...)`` (in :mod:`.api`) is the whole public surface: an ASGI
app serving discovery (legacy and aggregated), OpenAPI v3, CRUD, the four patch types,
server-side apply, watches and Tables for the built-in kinds and for every CRD found in the
:class:`~.store.ObjectStore`. Serve it over TLS (:mod:`.tls`): kubectl sends no bearer
token over plain HTTP.

Modules, by layer:

* ``resources``: what is served (built-ins + CRDs from the store); ``discovery``, ``openapi``
* ``api``: routing and the read/write pipeline; ``errors``: ``Status`` bodies
* ``patch``, ``smp``, ``ssa``: merge/JSON/strategic patches, server-side apply, managedFields
* ``schema``: CRD pruning, defaulting, validation; ``builtins``: built-in kinds' defaults
* ``cluster``: what controllers would do (bootstrap objects, namespace contents, GC)
* ``scale``: the Scale subresource; ``selectors``, ``tables``, ``watch``
* ``protobuf``: decoding of the bodies ``kubectl create``/``kubectl auth`` send; ``tls``
* ``devserver``: ``python -m oktalab.sandbox.kube.devserver`` serves only this app
"""
