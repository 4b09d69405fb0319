"""Seeded synthetic small-business loan applications: the data file a new use case is onboarded from.

`docs/use-cases/loan_applications.csv` is `loan_applications()` written as CSV; `python -m embedded.loans` writes
it again. Defaults come from a fixed logistic ground truth over the application (the amount against the
applicant's income, the term, the years in employment, the purpose and the region), so a logistic regression
on the features `leaim use-case draft` suggests has something real to learn. The applicant's age band, a
protected attribute, does not enter it, so a model that never reads it can pass the bias gate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from embedded.clients.records import write_records

if TYPE_CHECKING:
    from pydantic import JsonValue

SEED = 16
ROWS = 3_000
# The shipped file, in the repository's documentation: the command runs from a checkout, as the benchmarks do.
SHIPPED_FILE = Path(__file__).resolve().parents[1] / "docs" / "use-cases" / "loan_applications.csv"
FIRST_APPLICATION = datetime(2025, 1, 1, tzinfo=UTC)
APPLICATION_DAYS = 365
PURPOSES = ["equipment", "working_capital", "expansion", "inventory", "refinancing"]
PURPOSE_WEIGHTS = [0.32, 0.28, 0.2, 0.12, 0.08]
REGIONS = ["north", "south", "east", "west", "central"]
AGE_BANDS = ["18-25", "26-40", "41-65", "65+"]
AGE_BAND_WEIGHTS = [0.18, 0.34, 0.33, 0.15]
# The most years in employment an applicant of each age band can have.
MAX_EMPLOYMENT_YEARS = {"18-25": 10, "26-40": 20, "41-65": 25, "65+": 25}
TERMS_MONTHS = [12, 24, 36, 48, 60]
TERM_WEIGHTS = [0.15, 0.25, 0.3, 0.15, 0.15]
FIRST_NAMES = ["Amara", "Bruno", "Chen", "Dalia", "Emil", "Fatima", "Goran", "Hana", "Ivo", "Jana", "Kofi", "Lucia"]
LAST_NAMES = ["Abebe", "Berg", "Castro", "Dimitrov", "Eklund", "Ferreira", "Gupta", "Horvat", "Ito", "Jovanovic"]
# Ground truth, in log-odds: what makes an application default here.
LOG_AMOUNT_WEIGHT = 2.6
LOG_INCOME_WEIGHT = -2.6
TERM_WEIGHT = 0.03
EMPLOYMENT_WEIGHT = -0.03
PURPOSE_EFFECT = {"equipment": -0.4, "working_capital": 0.0, "expansion": 0.4, "inventory": 0.3, "refinancing": 1.2}
REGION_EFFECT = {"north": 0.0, "south": 0.3, "east": 0.1, "west": -0.2, "central": 0.0}
# Chosen with the weights so that about one application in six defaults.
BIAS = -2.6


@dataclass(frozen=True, slots=True)
class Applicant:
    """A business owner who applies, perhaps more than once."""

    applicant_id: str
    applicant_name: str
    age_band: str
    region: str
    income: float
    employment_years: int


def loan_applications(rows: int = ROWS, seed: int = SEED) -> list[dict[str, JsonValue]]:
    """`rows` applications, oldest first, each with whether it defaulted (1) or was repaid (0).

    The same `rows` and `seed` give the same applications. Some applicants apply more than once: the
    application id is unique, the applicant id is not.
    """
    rng = np.random.default_rng(seed)
    applicants = [_applicant(rng, number) for number in range(max(rows * 5 // 6, 1))]
    offsets = np.sort(rng.uniform(0, APPLICATION_DAYS * 24 * 3600, size=rows))
    records: list[dict[str, JsonValue]] = []
    for number, offset in enumerate(offsets):
        applicant = applicants[int(rng.integers(0, len(applicants)))]
        amount = round(float(np.clip(rng.lognormal(math.log(40_000), 0.8), 1_000, 500_000)), 2)
        term = int(rng.choice(TERMS_MONTHS, p=TERM_WEIGHTS))
        purpose = str(rng.choice(PURPOSES, p=PURPOSE_WEIGHTS))
        logit = (
            BIAS
            + LOG_AMOUNT_WEIGHT * (math.log1p(amount) - math.log1p(40_000))
            + LOG_INCOME_WEIGHT * (math.log1p(applicant.income) - math.log1p(60_000))
            + TERM_WEIGHT * (term - 36)
            + EMPLOYMENT_WEIGHT * (applicant.employment_years - 10)
            + PURPOSE_EFFECT[purpose]
            + REGION_EFFECT[applicant.region]
        )
        defaulted = int(rng.random() < 1.0 / (1.0 + math.exp(-logit)))
        applied_at = FIRST_APPLICATION + timedelta(seconds=int(offset))
        records.append(
            {
                "application_id": f"app-{number + 1:06d}",
                "applied_at": applied_at.isoformat().replace("+00:00", "Z"),
                "applicant_id": applicant.applicant_id,
                "applicant_name": applicant.applicant_name,
                "age_band": applicant.age_band,
                "region": applicant.region,
                "purpose": purpose,
                "amount": amount,
                "term_months": term,
                "income": applicant.income,
                "employment_years": applicant.employment_years,
                "defaulted": defaulted,
            }
        )
    return records


def _applicant(rng: np.random.Generator, number: int) -> Applicant:
    age_band = str(rng.choice(AGE_BANDS, p=AGE_BAND_WEIGHTS))
    return Applicant(
        applicant_id=f"apl-{number + 1:05d}",
        applicant_name=f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
        age_band=age_band,
        region=str(rng.choice(REGIONS)),
        income=round(float(np.clip(rng.lognormal(math.log(60_000), 0.5), 8_000, 1_000_000)), 2),
        employment_years=int(rng.integers(0, MAX_EMPLOYMENT_YEARS[age_band] + 1)),
    )


def write_loan_applications(path: Path = SHIPPED_FILE, rows: int = ROWS, seed: int = SEED) -> None:
    """Write `loan_applications(rows, seed)` to `path` as CSV, a header first."""
    write_records(path, loan_applications(rows, seed), "csv")


if __name__ == "__main__":
    write_loan_applications()
