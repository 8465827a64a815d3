"""``doctor``: checks of a configured store, for operators (``persistence-cassandra doctor``).

The checks live here, beside the stores they exercise; :mod:`persistence_cassandra.cli.doctor`
only prints their report.
"""

from persistence_cassandra.doctor.checks import MEMBERSHIP_TTL, run_doctor
from persistence_cassandra.doctor.durability import (
    SAFE_REPLICATION_FACTOR,
    durability_warnings,
    replication_factors,
)
from persistence_cassandra.doctor.results import CheckResult, DoctorReport

__all__ = [
    "MEMBERSHIP_TTL",
    "SAFE_REPLICATION_FACTOR",
    "CheckResult",
    "DoctorReport",
    "durability_warnings",
    "replication_factors",
    "run_doctor",
]
