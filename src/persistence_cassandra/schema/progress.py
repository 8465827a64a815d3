"""What a migration run reports while it works (the CLI draws it; the engine only calls it)."""

from __future__ import annotations

from persistence_cassandra.schema.admin import LockHolder, StatementOutcome
from persistence_cassandra.schema.plan import PlannedStatement, UpdatePlan, VersionStep

__all__ = ["MigrationListener"]


class MigrationListener:
    """Receives a run's events. Every method does nothing here; override what you show."""

    def plan_ready(self, plan: UpdatePlan, *, dry_run: bool) -> None:
        """The plan is validated; for a dry run this is all that happens."""

    def waiting_for_lock(self, holder: LockHolder, waited: float) -> None:
        """Another run holds the migration lock; called at every poll."""

    def lock_acquired(self, holder: LockHolder) -> None: ...

    def version_started(self, step: VersionStep, resume_from: int) -> None:
        """``resume_from`` > 0 when earlier statements of this version were already applied."""

    def statement_applied(
        self, step: VersionStep, planned: PlannedStatement, outcome: StatementOutcome
    ) -> None: ...

    def version_applied(self, step: VersionStep) -> None: ...

    def note(self, message: str) -> None:
        """Something the operator should know that is not an error."""
