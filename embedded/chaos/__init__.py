"""The fault suite: each fault made on the local stack under steady traffic, then every promise checked.

`run_chaos` runs it (`leaim chaos`); `checks` holds what is checked, `scenarios` what each fault does,
`traffic` the steady decisions and their duplicates, `restart` the kill of a whole `leaim up`.
"""

from embedded.chaos.checks import Exchange, Findings, TrailEvent, examine, recovery_seconds
from embedded.chaos.run import ChaosOptions, SuiteResult, fault_names, fault_table, run_chaos

__all__ = [
    "ChaosOptions",
    "Exchange",
    "Findings",
    "SuiteResult",
    "TrailEvent",
    "examine",
    "fault_names",
    "fault_table",
    "recovery_seconds",
    "run_chaos",
]
