"""Process KPIs of a use case: DORA's four keys, measured on model changes, with retraining and oversight rates.

- Deployment frequency: promotions (new champions) per week.
- Lead time: from a training job's creation to its version becoming champion.
- Change failure rate: rollbacks over deployments (a new champion or a new challenger is a deployment; a challenger
  taken out of traffic or a champion restored undoes one).
- Time to recovery: from a drift or bias alert's opening to its closing.

Every figure is computed from the registry's traffic history, the training jobs, the alerts and the decisions' audit
events of the window: nothing is sampled or estimated.
"""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import timedelta
from typing import TYPE_CHECKING

import numpy as np

from contracts.governance.v1 import ProcessKpis
from leaim.governance.oversight.ports import ROLLBACKS

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from datetime import datetime

    from contracts.governance.v1 import Alert
    from contracts.model.v1 import TrainingJob
    from leaim.governance.oversight.ports import TrafficChangeRecord, UsageFact

WEEK = timedelta(days=7)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
# The alerts a recovery is measured on: an abuse alert names a caller, not a model that needs mending.
RECOVERED_KINDS = ("drift", "bias")


def process_kpis(
    use_case: str,
    since: datetime,
    until: datetime,
    *,
    changes: Sequence[TrafficChangeRecord],
    trained: Mapping[tuple[str, str], TrainingJob],
    jobs: Sequence[TrainingJob],
    alerts: Sequence[Alert],
    usage: Sequence[UsageFact],
) -> ProcessKpis:
    """The KPIs of `use_case` over [since, until).

    `changes` are the traffic changes of the window; `trained` the training job of each (model, version) they
    promoted (where one produced it); `jobs` the training jobs created in the window; `alerts` every alert of the use
    case, open or closed; `usage` its decisions of the window.
    """
    promotions = [change for change in changes if change.change == "promote"]
    deployments = sum(change.change in ("promote", "challenge") for change in changes)
    rollbacks = sum(change.change in ROLLBACKS for change in changes)
    lead = [
        (change.at - trained[change.model_name, change.version].created_at) / HOUR
        for change in promotions
        if change.version is not None and (change.model_name, change.version) in trained
    ]
    watched = [alert for alert in alerts if alert.kind in RECOVERED_KINDS]
    closed = [alert for alert in watched if alert.closed_at is not None and since <= alert.closed_at < until]
    recovery = [(alert.closed_at - alert.opened_at) / HOUR for alert in closed if alert.closed_at is not None]
    created = sorted(job.created_at for job in jobs)
    gaps = [(later - earlier) / DAY for earlier, later in itertools.pairwise(created)]
    reviewed = [fact for fact in usage if fact.review_required]
    return ProcessKpis(
        use_case=use_case,
        since=since,
        until=until,
        deployments=deployments,
        promotions=len(promotions),
        deployments_per_week=len(promotions) / ((until - since) / WEEK),
        lead_time_p50_hours=float(np.median(lead)) if lead else None,
        lead_time_max_hours=max(lead) if lead else None,
        rollbacks=rollbacks,
        change_failure_rate=rollbacks / deployments if deployments else None,
        alerts_opened=sum(since <= alert.opened_at < until for alert in watched),
        alerts_closed=len(closed),
        alerts_open=sum(
            alert.opened_at < until and (alert.closed_at is None or alert.closed_at >= until) for alert in watched
        ),
        mean_time_to_recovery_hours=sum(recovery) / len(recovery) if recovery else None,
        training_jobs=len(jobs),
        training_jobs_by_trigger=dict(sorted(Counter(job.trigger for job in jobs).items())),
        versions_trained=sum(job.state == "succeeded" for job in jobs),
        retraining_interval_days=sum(gaps) / len(gaps) if gaps else None,
        decisions=len(usage),
        review_rate=len(reviewed) / len(usage) if usage else None,
        override_rate=sum(fact.overridden for fact in reviewed) / len(reviewed) if reviewed else None,
    )
