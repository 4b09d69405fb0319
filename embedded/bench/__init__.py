"""The benchmarks, one per module, each figure measured against its floor in the same run.

`decisions` (`leaim bench`), `ingestion` (`leaim bench-ingest`), `models` (`leaim bench-models`), `drift`
(`leaim bench-drift`) and `audit` (`leaim bench-audit`) each rewrite their page of `docs/benchmarks/`
through `report`, which describes the machine and writes the tables.
"""
