"""The commands that change a schema: ``setup_schema``, ``update_schema``, ``ensure_schema``.

Each version is applied statement by statement. After each statement the runner records it
(``schema_migration_statement``; on SQL in the same transaction as the statement), so a run
that died part-way resumes from the first unrecorded statement. The one statement whose fate
is unknown after a crash (applied, but not yet recorded) is checked against the catalog
before it is re-run. Files of a partially applied version may change only after its last
applied statement (that is how a broken statement gets fixed); an applied statement whose text
changed stops the run.

Everything that writes runs under the migration lock (:mod:`.lock`); a dry run reads only:
it runs this same code over a :class:`~.dry_run.DryRunAdmin`, which records the writes.

On Astra DB (or with ``astra_compat``) the plan is adapted first (:mod:`.astra_compat`) and
refused before anything runs if a statement has no Astra equivalent. A statement whose object
already exists (a keyspace set up from a full schema file, then run over the versioned
directory) is compared with the catalog's definition (:mod:`.definitions`): the same one is
recorded as applied without running, another is an error naming both.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from persistence_cassandra.errors import SchemaToolError
from persistence_cassandra.schema.admin import (
    LOCK_TABLE,
    VERSION_TABLES,
    HistoryEntry,
    MigrationKind,
    MigrationRecord,
    SchemaAdmin,
    StatementRecord,
    StoredVersion,
    utc_now,
)
from persistence_cassandra.schema.astra_compat import adapt_plan, check_plan_for_astra
from persistence_cassandra.schema.command_hints import suggest_command
from persistence_cassandra.schema.definitions import same_definition
from persistence_cassandra.schema.dry_run import DryRunAction, DryRunAdmin
from persistence_cassandra.schema.effects import Effect, describe_effect
from persistence_cassandra.schema.lock import LockSettings, MigrationLock
from persistence_cassandra.schema.plan import (
    PlannedStatement,
    UpdatePlan,
    VersionStep,
    build_update_plan,
    load_file_step,
)
from persistence_cassandra.schema.progress import MigrationListener
from persistence_cassandra.schema.statements import Statement
from persistence_cassandra.schema.versions import SchemaSet, parse_version

__all__ = ["RunResult", "ensure_schema", "setup_schema", "update_schema"]


@dataclass(frozen=True, slots=True)
class RunResult:
    plan: UpdatePlan
    dry_run: bool
    start_version: str | None
    """The stored version when the run began (after waiting for the lock)."""
    final_version: str | None
    applied_versions: tuple[str, ...] = ()
    resumed_versions: tuple[str, ...] = ()
    executed: int = 0
    """Statements this run executed."""
    already_present: int = 0
    """Statements found already applied in the catalog (a crashed run's last one, or an
    object a full-schema setup made with the same definition)."""
    script: tuple[DryRunAction, ...] = field(default=())
    """A dry run's list of everything the real run would do, in order."""

    @property
    def changed(self) -> bool:
        return bool(self.applied_versions)


_Run = Callable[[SchemaAdmin], Awaitable[RunResult]]


def _astra_plan(admin: SchemaAdmin, plan: UpdatePlan, astra_compat: bool | None) -> UpdatePlan:
    """The plan as it runs on ``admin``: adapted for Astra DB when asked (the default on
    Astra), and refused when Astra would reject a statement of it."""
    adapt = admin.astra if astra_compat is None else astra_compat
    if adapt:
        if admin.backend != "cassandra":
            raise SchemaToolError("--astra-compat applies to Cassandra and Astra DB only")
        plan = adapt_plan(plan)
    if adapt or admin.astra:
        check_plan_for_astra(plan, adapted=adapt)
    return plan


async def _dry_run(admin: SchemaAdmin, run: _Run) -> RunResult:
    recorder = DryRunAdmin(admin)
    result = await run(recorder)
    # Nothing was applied: the result says what is there now, the script what would happen.
    return RunResult(
        result.plan,
        True,
        result.start_version,
        result.start_version,
        script=tuple(recorder.actions),
    )


@dataclass(slots=True)
class _StepTally:
    executed: int = 0
    already_present: int = 0
    resumed: bool = False


async def _stored_version(admin: SchemaAdmin) -> StoredVersion:
    stored = await admin.read_version()
    if stored is None:
        raise SchemaToolError(
            [
                f"{admin.target_description} has no schema version yet; run `",
                suggest_command(admin, "setup-schema -v 0.0"),
                "` first",
            ]
        )
    return stored


async def update_schema(
    admin: SchemaAdmin,
    schema_set: SchemaSet,
    *,
    target: str | None = None,
    dry_run: bool = False,
    lock: LockSettings | None = None,
    listener: MigrationListener | None = None,
    astra_compat: bool | None = None,
    backup: str | None = None,
) -> RunResult:
    """Apply the versions of ``schema_set`` newer than the stored one, up to ``target``
    (default: the latest). A dry run validates the plan, lists everything the real run would
    do (:attr:`RunResult.script`) and changes nothing. ``astra_compat`` (default: whether the
    target is Astra DB) adapts the statements for Astra (:mod:`.astra_compat`)."""
    listener = listener or MigrationListener()
    target_version = schema_set.resolve_target(target)
    stored = await _stored_version(admin)
    plan = _astra_plan(
        admin, build_update_plan(schema_set, stored.curr_version, target_version), astra_compat
    )
    if dry_run:
        listener.plan_ready(plan, dry_run=True)

        async def real_run(recorder: SchemaAdmin) -> RunResult:
            return await update_schema(
                recorder, schema_set, target=target, lock=lock, astra_compat=astra_compat
            )

        return await _dry_run(admin, real_run)
    if not plan.steps:
        listener.plan_ready(plan, dry_run=False)
        return RunResult(plan, False, stored.curr_version, stored.curr_version)
    await admin.create_migration_tables()
    async with MigrationLock(admin, lock, listener) as held:
        # Another run may have applied part or all of the plan while this one waited.
        stored = await _stored_version(admin)
        plan = _astra_plan(
            admin, build_update_plan(schema_set, stored.curr_version, target_version), astra_compat
        )
        listener.plan_ready(plan, dry_run=False)
        records = {parse_version(r.version): r for r in await admin.read_migrations()}
        previous = stored.curr_version
        tally = _StepTally()
        applied: list[str] = []
        resumed: list[str] = []
        for step in plan.steps:
            step_tally = await _apply_step(
                admin, step, "update", records.get(step.version), held, listener, previous, backup
            )
            tally.executed += step_tally.executed
            tally.already_present += step_tally.already_present
            if step_tally.resumed:
                resumed.append(step.version.text)
            applied.append(step.version.text)
            previous = step.version.text
    return RunResult(
        plan,
        False,
        stored.curr_version,
        previous,
        tuple(applied),
        tuple(resumed),
        tally.executed,
        tally.already_present,
    )


async def setup_schema(
    admin: SchemaAdmin,
    *,
    version: str | None,
    schema_file: Path | None = None,
    overwrite: bool = False,
    disable_versioning: bool = False,
    dry_run: bool = False,
    lock: LockSettings | None = None,
    listener: MigrationListener | None = None,
    astra_compat: bool | None = None,
    backup: str | None = None,
) -> RunResult:
    """Create the version tables and record ``version`` (Temporal's ``setup-schema``).

    With ``schema_file`` its statements run first (resumable, like a version). A keyspace that
    already records ``version`` or newer is left alone, so the command is safe to repeat;
    ``overwrite`` drops every table and type first. ``disable_versioning`` only runs the file.
    """
    listener = listener or MigrationListener()
    if disable_versioning:
        if version is not None:
            raise SchemaToolError("--version cannot be combined with --disable-versioning")
        if schema_file is None:
            raise SchemaToolError("--disable-versioning needs --schema-file")
    elif version is None:
        raise SchemaToolError("--version is required (for example -v 0.0) unless versioning is off")
    initial = parse_version(version if version is not None else "0")
    step = load_file_step(schema_file, initial) if schema_file is not None else None
    plan = _astra_plan(
        admin, UpdatePlan(current=None, target=initial, steps=(step,) if step else ()), astra_compat
    )
    step = plan.steps[0] if plan.steps else None
    if dry_run:
        listener.plan_ready(plan, dry_run=True)

        async def real_run(recorder: SchemaAdmin) -> RunResult:
            return await setup_schema(
                recorder,
                version=version,
                schema_file=schema_file,
                overwrite=overwrite,
                disable_versioning=disable_versioning,
                lock=lock,
                astra_compat=astra_compat,
            )

        return await _dry_run(admin, real_run)
    if disable_versioning:
        assert step is not None
        listener.plan_ready(plan, dry_run=False)
        if overwrite:
            await admin.drop_all_objects(keep=())
        for planned in step.statements:
            if planned.runs is None:
                continue  # the Astra adaptation left nothing to run
            await _execute(
                admin,
                step,
                planned,
                None,
                transactional=True,
                kind="setup",
                applied_before=0,
                listener=listener,
            )
            listener.statement_applied(step, planned, "executed")
        return RunResult(plan, False, None, None, executed=len(step.statements))

    await admin.create_version_tables()
    await admin.create_migration_tables()
    async with MigrationLock(admin, lock, listener) as held:
        stored = await admin.read_version()
        if stored is not None and not overwrite:
            if parse_version(stored.curr_version) >= initial:
                listener.plan_ready(UpdatePlan(stored.curr_version, initial, ()), dry_run=False)
                listener.note(
                    f"{admin.target_description} already has schema version "
                    f"{stored.curr_version}; nothing to set up"
                )
                return RunResult(plan, False, stored.curr_version, stored.curr_version)
            raise SchemaToolError(
                [
                    f"{admin.target_description} already has schema version "
                    f"{stored.curr_version}; run `",
                    suggest_command(admin, "update-schema"),
                    "` to move it forward, or setup-schema --overwrite to drop everything and "
                    "start again",
                ]
            )
        listener.plan_ready(plan, dry_run=False)
        if overwrite:
            dropped = await admin.drop_all_objects(keep={LOCK_TABLE})
            await admin.create_version_tables()
            await admin.create_migration_tables()
            listener.note(f"--overwrite dropped {len(dropped)} table(s)/type(s)")
        if step is None:
            history = HistoryEntry(utc_now(), "0", initial.text, "", "initial version")
            await admin.write_version(initial.text, initial.text, history)
            return RunResult(plan, False, None, initial.text, (initial.text,))
        records = {parse_version(r.version): r for r in await admin.read_migrations()}
        existing = records.get(initial)
        if existing is not None and existing.kind != "setup":
            existing = None
        tally = await _apply_step(admin, step, "setup", existing, held, listener, "0", backup)
    return RunResult(
        plan,
        False,
        None,
        initial.text,
        (initial.text,),
        (initial.text,) if tally.resumed else (),
        tally.executed,
        tally.already_present,
    )


async def ensure_schema(
    admin: SchemaAdmin,
    schema_set: SchemaSet,
    *,
    target: str | None = None,
    lock: LockSettings | None = None,
    listener: MigrationListener | None = None,
) -> RunResult:
    """Set up (version 0.0) if needed, then update to ``target``: what an embedded store does
    on first open. Safe when several processes open the same database at once."""
    tables = await admin.existing_tables()
    if not set(VERSION_TABLES) <= tables or await admin.read_version() is None:
        await setup_schema(admin, version="0.0", lock=lock, listener=listener)
    return await update_schema(admin, schema_set, target=target, lock=lock, listener=listener)


def _check_applied_prefix(step: VersionStep, done: list[StatementRecord]) -> None:
    version = step.version.text
    for position, record in enumerate(done):
        if record.index != position:
            raise SchemaToolError(
                f"version {version}: the progress record lacks statement {position + 1}; "
                "it was edited by hand. Inspect schema_migration_statement"
            )
        if record.index >= len(step.statements):
            raise SchemaToolError(
                f"version {version}: {len(done)} statements were applied, but its files now hold "
                f"only {len(step.statements)}; restore the files as they were"
            )
        planned = step.statements[record.index]
        if planned.statement.checksum != record.checksum:
            raise SchemaToolError(
                f"version {version}: statement {record.index + 1} ({planned.statement.source} "
                f"line {planned.statement.line}) was applied with different text. Only statements "
                "after the last applied one may change in a partially applied version; restore "
                "it and re-run"
            )


async def _effect_in_place(admin: SchemaAdmin, effect: Effect) -> bool:
    for obj in effect.objects:
        present = await admin.object_present(obj)
        if present is None or present != effect.present_after:
            return False
    return True


async def _defined_already(
    admin: SchemaAdmin, step: VersionStep, planned: PlannedStatement, effect: Effect
) -> bool:
    """Whether every object the statement creates exists with the definition it declares (a
    hand-off from a full-schema setup); an object defined otherwise stops the run."""
    runs = planned.runs
    assert runs is not None
    for obj in effect.objects:
        existing = await admin.existing_definition(obj)
        if existing is None:
            return False  # absent, or the catalog cannot tell: the statement runs
        wanted = await admin.declared_definition(runs, obj)
        if wanted is None:
            return False
        if not same_definition(wanted, existing):
            raise SchemaToolError(
                f"v{step.version.text} statement {planned.index + 1} "
                f"({runs.source} line {runs.line}) creates {obj.describe()}, which already "
                f"exists with another definition: it is {existing.describe()} in the catalog, "
                f"the statement declares {wanted.describe()}. Nothing of this statement was "
                "run; reconcile the two by hand"
            )
    return True


async def _execute(
    admin: SchemaAdmin,
    step: VersionStep,
    planned: PlannedStatement,
    record: StatementRecord | None,
    *,
    transactional: bool,
    kind: MigrationKind,
    applied_before: int,
    listener: MigrationListener,
) -> None:
    runs: Statement | None = planned.runs
    assert runs is not None
    try:
        warnings = await admin.execute(runs, record, transactional=transactional)
    except SchemaToolError as exc:
        statement = planned.statement
        recorded = (
            f"; {applied_before} earlier statement(s) of this version are recorded as applied. "
            "Fix the statement and re-run to resume from it"
            if record is not None
            else ""
        )
        raise SchemaToolError(
            f"{kind} of version {step.version.text} failed at statement {planned.index + 1} of "
            f"{len(step.statements)} ({statement.source} line {statement.line}: "
            f"'{statement.excerpt(60)}'): {exc}{recorded}"
        ) from exc
    for warning in warnings:
        # Astra DB accepts table options it ignores with only a warning: show it.
        statement = planned.statement
        listener.note(
            f"server warning for v{step.version.text} statement {planned.index + 1} "
            f"({statement.source} line {statement.line}): {warning}"
        )


async def _apply_step(
    admin: SchemaAdmin,
    step: VersionStep,
    kind: MigrationKind,
    existing: MigrationRecord | None,
    held: MigrationLock,
    listener: MigrationListener,
    old_version: str,
    backup: str | None = None,
) -> _StepTally:
    version = step.version.text
    done = await admin.read_statement_records(version) if existing is not None else []
    _check_applied_prefix(step, done)
    tally = _StepTally(resumed=existing is not None)
    started = existing.started_at if existing is not None else utc_now()
    adaptation = step.adaptations
    running = MigrationRecord(
        version=version,
        kind=kind,
        state="running",
        description=step.description,
        manifest_md5=step.manifest_md5,
        file_checksums=step.file_checksums,
        statement_count=len(step.statements),
        started_at=started,
        finished_at=None,
        run_by=held.holder.holder_id,
        adaptation=adaptation,
        # A resumed version keeps the backup taken before its first run.
        backup=backup or (existing.backup if existing is not None else None),
    )
    held.check()
    await admin.write_migration(running)
    listener.version_started(step, len(done))
    for planned in step.statements[len(done) :]:
        held.check()
        record = StatementRecord(
            version,
            planned.index,
            planned.file_name,
            planned.statement.checksum,
            "executed",
            utc_now(),
        )
        runs = planned.runs
        if runs is None:
            # The Astra adaptation removed everything (options Astra ignores): record it.
            await admin.record_statement(replace(record, outcome="skipped"))
            listener.statement_applied(step, planned, "skipped")
            continue
        effect = describe_effect(runs)
        # Only the first unrecorded statement of a resumed version can have been applied
        # without its record (the previous run died in between); later ones never ran.
        resumed_here = existing is not None and planned.index == len(done)
        if effect is not None and (
            (resumed_here and await _effect_in_place(admin, effect))
            or (effect.present_after and await _defined_already(admin, step, planned, effect))
        ):
            await admin.record_statement(replace(record, outcome="already-present"))
            tally.already_present += 1
            listener.statement_applied(step, planned, "already-present")
            continue
        await _execute(
            admin,
            step,
            planned,
            record,
            transactional=effect is None or effect.transactional,
            kind=kind,
            applied_before=planned.index,
            listener=listener,
        )
        tally.executed += 1
        listener.statement_applied(step, planned, "executed")
    held.check()
    finished = replace(running, state="applied", finished_at=utc_now())
    history = HistoryEntry(
        update_time=utc_now(),
        old_version=old_version,
        new_version=version,
        manifest_md5=step.manifest_md5,
        description=step.description,
    )
    await admin.finish_version(finished, step.min_compatible_version.text, history)
    listener.version_applied(step)
    return tally
