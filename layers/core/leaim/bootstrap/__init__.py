"""The composition root: the one place that builds adapters from settings and wires them into services.

One module per kind of function (`decisions`, `ingestion`, `lifecycle`, `governance`), each importing only
what its functions use; `runtime` builds what every function starts from.
"""
