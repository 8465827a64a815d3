"""``persistence-cassandra schema ...``: the schema tool's command line.

A thin adapter over :mod:`persistence_cassandra.schema`: it turns flags into a datastore,
calls one engine function, and prints the result. Flags and environment variables are
temporal-cassandra-tool's (``--ep``/``CASSANDRA_HOST``, ``-p``/``CASSANDRA_PORT``, ``-k``,
``--tls-*`` ...) plus ours (``--secure-connect-bundle``, ``--astra-token``, ``--plugin`` and
``--db`` for SQL, ``--config``/``--store``). Connection flags may come before the command, as
Temporal's tool requires, or after it. Every failure is one ``error:`` line and exit status 1
(``-q`` keeps the status 0, as in Temporal's tool), reported by :mod:`.failures`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shlex
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

import click
from click.core import ParameterSource
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from persistence_cassandra.cli.backup_command import MigrationBackup, backup_option
from persistence_cassandra.cli.failures import CliFailure, reporting
from persistence_cassandra.cli.output import console_for
from persistence_cassandra.cli.schema_json import history_json, status_json, verify_json
from persistence_cassandra.schema import (
    LockSettings,
    MigrationListener,
    SchemaSet,
    find_schema_set,
    lint_statements,
    open_keyspace_admin,
    open_schema_admin,
    schema_history,
    schema_status,
    setup_schema,
    update_schema,
    verify_schema,
)
from persistence_cassandra.schema.admin import LockHolder, SchemaAdmin, StatementOutcome
from persistence_cassandra.schema.astra_compat import lint_with_adaptation
from persistence_cassandra.schema.command_hints import ASTRA_KEYSPACE_MESSAGE
from persistence_cassandra.schema.connect import keyspace_name, server_health
from persistence_cassandra.schema.inspection import SchemaStatus, VerifyReport
from persistence_cassandra.schema.lint import LintFinding
from persistence_cassandra.schema.plan import PlannedStatement, UpdatePlan, VersionStep
from persistence_cassandra.schema.runner import RunResult
from persistence_cassandra.schema.statements import Statement, split_statements
from persistence_cassandra.schema.targets import ConnectionSettings, datastore_for

__all__ = ["schema_group"]

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

_ALIASES = {
    "setup": "setup-schema",
    "update": "update-schema",
    "create": "create-keyspace",
    "create-Keyspace": "create-keyspace",
    "create-database": "create-keyspace",
    "drop": "drop-keyspace",
    "drop-database": "drop-keyspace",
    "vh": "validate-health",
}

# (flag declarations, options): shared by the group and, hidden, by every command.
_CONNECTION_OPTIONS: list[tuple[tuple[str, ...], dict[str, Any]]] = [
    (
        ("--endpoint", "--ep", "endpoint"),
        {
            "envvar": "CASSANDRA_HOST",
            "metavar": "HOSTS",
            "help": "Cassandra hosts, comma-separated "
            "(default 127.0.0.1); the PostgreSQL host with --plugin postgres.",
        },
    ),
    (
        ("--port", "-p", "port"),
        {
            "envvar": "CASSANDRA_PORT",
            "type": int,
            "help": "Port (default 9042; 5432 for postgres).",
        },
    ),
    (("--user", "-u", "user"), {"envvar": ["CASSANDRA_USER", "SQL_USER"], "help": "User name."}),
    (
        ("--password", "--pw", "password"),
        {"envvar": ["CASSANDRA_PASSWORD", "SQL_PASSWORD"], "help": "Password."},
    ),
    (
        ("--keyspace", "-k", "keyspace"),
        {"envvar": "CASSANDRA_KEYSPACE", "help": "Keyspace (default persistence)."},
    ),
    (
        ("--datacenter", "--dc", "datacenter"),
        {
            "envvar": "CASSANDRA_DATACENTER",
            "help": "Local datacenter; with create-keyspace, "
            "NetworkTopologyStrategy in that datacenter.",
        },
    ),
    (
        ("--timeout", "-t", "timeout"),
        {
            "envvar": "CASSANDRA_TIMEOUT",
            "type": click.FloatRange(min=1),
            "help": "Seconds for "
            "connecting, each request and each schema agreement wait (default 30).",
        },
    ),
    (
        ("--disable-initial-host-lookup", "disable_initial_host_lookup"),
        {
            "envvar": "CASSANDRA_DISABLE_INITIAL_HOST_LOOKUP",
            "is_flag": True,
            "help": "Use only the given hosts, never peers discovered from system.peers.",
        },
    ),
    (("--tls", "tls"), {"envvar": "CASSANDRA_ENABLE_TLS", "is_flag": True, "help": "Use TLS."}),
    (
        ("--tls-cert-file", "tls_cert_file"),
        {"envvar": "CASSANDRA_TLS_CERT", "help": "Client cert."},
    ),
    (("--tls-key-file", "tls_key_file"), {"envvar": "CASSANDRA_TLS_KEY", "help": "Client key."}),
    (("--tls-ca-file", "tls_ca_file"), {"envvar": "CASSANDRA_TLS_CA", "help": "CA certificates."}),
    (
        ("--tls-server-name", "tls_server_name"),
        {"envvar": "CASSANDRA_TLS_SERVER_NAME", "help": "Server name to verify (SNI)."},
    ),
    (
        ("--tls-disable-host-verification", "tls_disable_host_verification"),
        {
            "envvar": "CASSANDRA_TLS_DISABLE_HOST_VERIFICATION",
            "is_flag": True,
            "help": "Do not verify the server's certificate.",
        },
    ),
    (
        ("--secure-connect-bundle", "secure_connect_bundle"),
        {
            "envvar": "ASTRA_SECURE_CONNECT_BUNDLE",
            "metavar": "ZIP",
            "help": "Astra DB secure connect bundle (protocol v4, no keyspace DDL).",
        },
    ),
    (
        ("--astra-token", "astra_token"),
        {
            "envvar": "ASTRA_TOKEN",
            "metavar": "TOKEN",
            "help": "Astra DB application token (AstraCS:...); the user name is 'token'.",
        },
    ),
    (
        ("--plugin", "--pl", "plugin"),
        {
            "envvar": "SQL_PLUGIN",
            "type": click.Choice(["sqlite", "postgres", "postgres12", "postgresql"]),
            "help": "Work on an SQL database instead of Cassandra.",
        },
    ),
    (
        ("--database", "--db", "database"),
        {
            "envvar": "SQL_DATABASE",
            "help": "SQL database: the SQLite file, or the PostgreSQL database name.",
        },
    ),
    (
        ("--connect-addr", "connect_addr"),
        {"envvar": "SQL_CONNECT_ADDR", "metavar": "HOST:PORT", "help": "PostgreSQL address."},
    ),
    (
        ("--config", "config_file"),
        {
            "type": click.Path(dir_okay=False, path_type=Path),
            "metavar": "FILE",
            "help": "Take the datastore from this YAML 'persistence:' file instead of the flags.",
        },
    ),
    (
        ("--store", "store"),
        {"metavar": "NAME", "help": "Datastore of --config (default: its defaultStore)."},
    ),
]
_SETTING_NAMES = {f.name for f in fields(ConnectionSettings)}
_CONNECTION_EPILOG = (
    "Connection flags (-k, --ep, -p, --plugin, --db, ...: see 'persistence-cassandra schema "
    "--help') may come before or after the command name."
)


def _connection_options(*, on_group: bool) -> Callable[[F], F]:
    def decorate(function: F) -> F:
        for declarations, options in reversed(_CONNECTION_OPTIONS):
            options = dict(options)
            if not on_group:
                # Repeated after the command name: no environment, no default, not in --help.
                options.pop("envvar", None)
                options["hidden"] = True
            else:
                options["show_envvar"] = "envvar" in options
            function = click.option(*declarations, **options)(function)
        return function

    return decorate


@dataclass(slots=True)
class _GroupState:
    options: dict[str, Any]
    typed: dict[str, Any]
    """Options typed on the command line (not from the environment)."""
    quiet: bool
    verbose: bool


class SchemaGroup(click.Group):
    """Resolves Temporal's command aliases (failures are reported by the root group, with the
    connection flags this group records in :func:`~.failures.reporting`)."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, _ALIASES.get(cmd_name, cmd_name))


def _typed_flags(state: _GroupState) -> str:
    """The connection flags typed on the command line, for the fix commands of errors: the
    target flags the hint already names are left out, and a secret becomes a reference to its
    environment variable, never its value."""
    parts: list[str] = []
    for declarations, options in _CONNECTION_OPTIONS:
        name = declarations[-1]
        value = state.typed.get(name)
        if name in _HINTED or value in (None, False):
            continue
        if name in _SECRETS:
            envvar = options.get("envvar")
            variable = envvar[0] if isinstance(envvar, list | tuple) else envvar
            parts.append(f'{declarations[0]} "${{{variable}}}"')
        elif options.get("is_flag"):
            parts.append(declarations[0])
        else:
            parts.append(f"{declarations[0]} {shlex.quote(str(value))}")
    return " ".join(parts)


_HINTED = frozenset({"keyspace", "plugin", "database"})
"""Target flags the fix commands name themselves."""
_SECRETS = frozenset({"password", "astra_token"})


@click.group(
    "schema",
    cls=SchemaGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@_connection_options(on_group=True)
@click.option("--quiet", "-q", is_flag=True, help="Exit with status 0 even on error.")
@click.option("--verbose", is_flag=True, hidden=True, help="Show tracebacks.")
@click.pass_context
def schema_group(ctx: click.Context, /, quiet: bool, verbose: bool, **options: Any) -> None:
    """Create and migrate keyspaces and databases from versioned schema directories.

    The directory format and version tables are temporal-cassandra-tool's, so a Temporal
    keyspace can be managed too. Typical bootstrap:

    \b
      persistence-cassandra schema -k ks create-keyspace --rf 3
      persistence-cassandra schema -k ks setup-schema -v 0.0
      persistence-cassandra schema -k ks update-schema --schema-name cassandra/persistence

    Updates take a lock (a second run waits, then fails naming the holder), resume after a
    failure from the first unapplied statement, and record a checksum of every file.
    """
    parent = ctx.obj
    if options.get("config_file") is None and getattr(parent, "config_path", None) is not None:
        options["config_file"] = parent.config_path
        options["store"] = options.get("store") or getattr(parent, "store", None)
    typed = {
        name: value
        for name, value in options.items()
        if ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE
    }
    verbose = verbose or bool(getattr(parent, "verbose", False))
    state = _GroupState(options=options, typed=typed, quiet=quiet, verbose=verbose)
    ctx.obj = state
    report = reporting(ctx)
    report.connection_flags = _typed_flags(state)
    report.quiet = quiet
    report.verbose = verbose
    if not verbose:
        # The driver logs reconnection chatter at WARNING; errors reach the user as one line.
        logging.getLogger("cassandra").setLevel(logging.ERROR)


def _settings(command_options: dict[str, Any]) -> tuple[ConnectionSettings, ConnectionSettings]:
    """(effective settings, settings typed on the command line) for the running command."""
    state = click.get_current_context().find_object(_GroupState)
    assert state is not None
    merged = dict(state.options)
    typed = dict(state.typed)
    for name, value in command_options.items():
        if name in _SETTING_NAMES and value not in (None, False):
            merged[name] = value
            typed[name] = value
    chosen = {k: v for k, v in merged.items() if k in _SETTING_NAMES}
    return ConnectionSettings(**chosen), ConnectionSettings(
        **{k: v for k, v in typed.items() if k in _SETTING_NAMES}
    )


def _timeout(settings_options: dict[str, Any]) -> float:
    state = click.get_current_context().find_object(_GroupState)
    value = settings_options.get("timeout") or (state.options.get("timeout") if state else None)
    return float(value or 30)


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


async def _with_admin(
    options: dict[str, Any],
    work: Callable[[SchemaAdmin], Coroutine[Any, Any, T]],
    *,
    create: bool = False,
) -> T:
    settings, typed = _settings(options)
    datastore = datastore_for(settings, typed=typed)
    admin = await open_schema_admin(datastore, request_timeout=_timeout(options), create=create)
    try:
        return await work(admin)
    finally:
        await admin.close()


def _migration_backup(wanted: bool, options: dict[str, Any]) -> MigrationBackup:
    """``--backup``: the datastore's medusa backup, taken by the command before it migrates."""
    settings, typed = _settings(options)
    datastore = datastore_for(settings, typed=typed) if wanted else None
    return MigrationBackup(wanted, settings.config_file, settings.store, datastore)


def _schema_set(schema_dir: Path | None, schema_name: str | None) -> SchemaSet:
    return find_schema_set(schema_dir, schema_name)


def _lock_options(function: F) -> F:
    function = click.option(
        "--lock-timeout",
        type=click.FloatRange(min=0),
        default=300.0,
        show_default=True,
        envvar="PC_SCHEMA_LOCK_TIMEOUT",
        help="Seconds to wait for another run's migration lock.",
    )(function)
    return click.option(
        "--lock-ttl",
        type=click.FloatRange(min=3),
        default=60.0,
        show_default=True,
        help="Seconds a crashed run's lock outlives its last heartbeat.",
    )(function)


def _astra_compat_option(function: F) -> F:
    return click.option(
        "--astra-compat/--no-astra-compat",
        default=None,
        help="Rewrite statements for Astra DB (plain indexes as SAI, no ignored table "
        "options, full CLUSTERING ORDER lists); on by default with --secure-connect-bundle. "
        "Checksums stay the files'.",
    )(function)


# ------------------------------------------------------------------------------ rendering
class _ProgressListener(MigrationListener):
    """Progress on stderr (a bar on a terminal, lines otherwise); the plan of a dry run and
    the summary on stdout."""

    def __init__(self, target: str) -> None:
        self._target = target
        self._console = console_for(stderr=True)
        self._progress: Progress | None = None
        self._task: Any = None
        self._last_wait_note = 0.0

    def plan_ready(self, plan: UpdatePlan, *, dry_run: bool) -> None:
        if dry_run:
            return  # the command prints the dry run's script when it is complete
        if not plan.steps:
            return
        versions = ", ".join(step.version.text for step in plan.steps)
        adapted = sum(len(step.adaptations) for step in plan.steps)
        adapted_note = f", {adapted} adapted for Astra DB (see history)" if adapted else ""
        self._console.print(
            f"{self._target}: applying {len(plan.steps)} version(s) ({versions}), "
            f"{plan.statement_count} statement(s){adapted_note}",
            highlight=False,
        )
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self._console,
            transient=True,
        )
        self._task = self._progress.add_task("migrating", total=plan.statement_count)
        self._progress.start()

    def waiting_for_lock(self, holder: LockHolder, waited: float) -> None:
        now = time.monotonic()
        if now - self._last_wait_note >= 10 or self._last_wait_note == 0:
            self._last_wait_note = now
            self._console.print(
                f"waiting for the migration lock held by {holder.describe()}; "
                f"{holder.describe_lease()} (waited {waited:.0f}s)",
                highlight=False,
                markup=False,
            )

    def version_started(self, step: VersionStep, resume_from: int) -> None:
        if self._progress is not None:
            self._progress.update(self._task, description=f"v{step.version.text}")
            if resume_from:
                self._progress.advance(self._task, resume_from)
        if resume_from:
            self._console.print(
                f"resuming v{step.version.text} at statement {resume_from + 1} of "
                f"{len(step.statements)} ({resume_from} already applied)",
                highlight=False,
            )

    def statement_applied(
        self, step: VersionStep, planned: PlannedStatement, outcome: StatementOutcome
    ) -> None:
        if self._progress is not None:
            self._progress.advance(self._task)
        if outcome == "skipped":
            self._console.print(
                f"v{step.version.text} statement {planned.index + 1}: nothing left to run after "
                "the Astra adaptation, recorded as skipped",
                highlight=False,
            )
        if outcome == "already-present":
            self._console.print(
                f"v{step.version.text} statement {planned.index + 1}: already in place "
                f"(found in the catalog), recorded without running it",
                highlight=False,
            )

    def version_applied(self, step: VersionStep) -> None:
        self._console.print(
            f"applied v{step.version.text}: {step.description}".rstrip(": "), highlight=False
        )

    def note(self, message: str) -> None:
        self._console.print(message, highlight=False, markup=False)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def _commented(text: str) -> str:
    return "\n".join(f"--   {line}" for line in text.splitlines())


def _print_dry_run(target: str, result: RunResult) -> None:
    """The plan as a script: every schema statement (an adapted one under its original,
    commented out), and, as comments, everything else the real run would do."""
    plan = result.plan
    current = plan.current if plan.current is not None else "(none)"
    click.echo(
        f"-- dry run on {target}: version {current} -> {plan.target.text}; "
        f"{len(plan.steps)} version(s), {plan.statement_count} statement(s); nothing is executed"
    )
    planned_by_key = {
        (step.version.text, planned.index): (step, planned)
        for step in plan.steps
        for planned in step.statements
    }
    shown: set[str] = set()
    for action in result.script:
        found = planned_by_key.get(action.key) if action.key is not None else None
        if found is not None and found[0].version.text not in shown:
            step = found[0]
            shown.add(step.version.text)
            click.echo(f"\n-- v{step.version.text}: {step.description}")
            for name, checksum in step.file_checksums.items():
                click.echo(f"--   {name}  sha256 {checksum[:16]}")
        if action.kind == "bookkeeping":
            click.echo(f"-- bookkeeping: {action.text}")
            continue
        if found is None:
            click.echo(f"{action.text};")
            continue
        planned = found[1]
        statement = planned.statement
        click.echo(f"-- [{planned.index + 1}] {statement.source} line {statement.line}")
        if planned.adaptation is None or not planned.adaptation.changed:
            click.echo(f"{statement.text};")
            continue
        click.echo(f"-- original:\n{_commented(statement.text)}")
        click.echo(f"-- adapted for Astra DB: {planned.adaptation.describe()}")
        if action.kind == "statement":
            click.echo(f"{action.text};")


def _print_status(status: SchemaStatus, schema_label: str | None) -> None:
    click.echo(status.target)
    stored = status.stored
    if stored is None:
        click.echo("  current version:  none (run setup-schema -v 0.0)")
    else:
        created = (
            stored.creation_time.isoformat(timespec="seconds") if stored.creation_time else "?"
        )
        click.echo(
            f"  current version:  {stored.curr_version} (min compatible "
            f"{stored.min_compatible_version or '?'}), written {created}"
        )
    if status.latest is not None:
        click.echo(f"  latest available: {status.latest} ({schema_label})")
        click.echo(f"  pending:          {', '.join(status.pending) or 'none'}")
    for run in status.incomplete:
        click.echo(
            f"  incomplete:       v{run.version}: {run.applied_statements} of "
            f"{run.statement_count} statements applied (started {run.started_at}, run "
            f"{run.run_by}); re-run update-schema to resume"
        )
    for version, count in status.adapted:
        click.echo(f"  adapted:          v{version}: {count} statement(s) rewritten for Astra DB")
    if status.verify is not None:
        drift = status.verify.drift
        summary = "none" if not drift else f"{len(drift)} file(s) differ (see `verify`)"
        click.echo(f"  drift:            {summary}")


def _print_verify(report: VerifyReport) -> None:
    for drift in report.drift:
        click.echo(f"DRIFT {drift.describe()}")
    for setup in report.setup_checked:
        click.echo(f"checked the schema file of setup-schema {setup}")
    for setup in report.setup_unchecked:
        click.echo(f"not checked: setup-schema {setup}; give --schema-file FILE to check it")
    if report.unrecorded:
        click.echo(
            f"not checked (applied by another tool, no checksums recorded): "
            f"{', '.join(report.unrecorded)}"
        )
    checked = ", ".join(report.checked) or "none"
    verdict = "ok" if report.ok else f"{len(report.drift)} problem(s)"
    click.echo(f"verified versions: {checked}: {verdict}")


_json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print the result as JSON on stdout."
)


# ------------------------------------------------------------------------------ commands
@schema_group.command("create-keyspace", epilog=_CONNECTION_EPILOG)
@click.option(
    "--replication-factor",
    "--rf",
    "replication_factor",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Replication factor.",
)
@_connection_options(on_group=False)
def create_keyspace_command(replication_factor: int, **options: Any) -> None:
    """Create the keyspace (or SQL database).

    SimpleStrategy with --rf, or NetworkTopologyStrategy {DC: RF} with --dc. Refused on Astra
    DB, where keyspaces are made in the Astra portal or with the DevOps API.
    """
    settings, typed = _settings(options)
    if settings.is_astra:
        raise CliFailure(ASTRA_KEYSPACE_MESSAGE)
    datastore = datastore_for(settings, typed=typed)
    name = keyspace_name(datastore)

    async def work() -> bool:
        admin = await open_keyspace_admin(datastore, request_timeout=_timeout(options))
        try:
            return await admin.create_keyspace(
                name, replication_factor=replication_factor, datacenter=settings.datacenter
            )
        finally:
            await admin.close()

    created = _run(work())
    if datastore.cassandra is not None:
        strategy = (
            f"NetworkTopologyStrategy {{{settings.datacenter}: {replication_factor}}}"
            if settings.datacenter
            else f"SimpleStrategy, replication factor {replication_factor}"
        )
        click.echo(
            f"created keyspace '{name}' ({strategy})"
            if created
            else f"keyspace '{name}' already exists"
        )
    else:
        click.echo(f"created database {name}" if created else f"database {name} already exists")


@schema_group.command("drop-keyspace", epilog=_CONNECTION_EPILOG)
@click.option("--force", "-f", is_flag=True, help="Do not ask for confirmation.")
@_connection_options(on_group=False)
def drop_keyspace_command(force: bool, **options: Any) -> None:
    """Drop the keyspace (or SQL database).

    Deletes all its data; asks first unless --force. Refused on Astra DB.
    """
    settings, typed = _settings(options)
    if settings.is_astra:
        raise CliFailure(ASTRA_KEYSPACE_MESSAGE)
    datastore = datastore_for(settings, typed=typed)
    name = keyspace_name(datastore)
    if not force and not click.confirm(f"Drop {name!r} and ALL its data?", default=False):
        click.echo("not dropped")
        return

    async def work() -> bool:
        admin = await open_keyspace_admin(datastore, request_timeout=_timeout(options))
        try:
            return await admin.drop_keyspace(name)
        finally:
            await admin.close()

    click.echo(f"dropped {name}" if _run(work()) else f"{name} does not exist")


@schema_group.command("setup-schema", epilog=_CONNECTION_EPILOG)
@click.option("--version", "-v", "version", help="Initial version to record (e.g. 0.0).")
@click.option(
    "--schema-file",
    "-f",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Statements to run first (a full schema).",
)
@click.option(
    "--disable-versioning", "-d", is_flag=True, help="Only run --schema-file; no version tables."
)
@click.option("--overwrite", "-o", is_flag=True, help="Drop every table and type first.")
@click.option("--dry-run", is_flag=True, help="Print what would run; execute nothing.")
@_astra_compat_option
@backup_option
@_lock_options
@_connection_options(on_group=False)
def setup_schema_command(
    version: str | None,
    schema_file: Path | None,
    disable_versioning: bool,
    overwrite: bool,
    dry_run: bool,
    astra_compat: bool | None,
    lock_timeout: float,
    lock_ttl: float,
    backup: bool,
    **options: Any,
) -> None:
    """Create the version tables; record -v VERSION.

    With --schema-file its statements run first (resumably). A keyspace that already records
    VERSION or newer is left alone, so the command is safe to repeat.
    """
    lock = LockSettings(ttl=lock_ttl, wait_timeout=lock_timeout)
    guard = _migration_backup(backup and not dry_run, options)

    async def work(admin: SchemaAdmin) -> None:
        await guard.take(admin, only_if_data=True)
        listener = _ProgressListener(admin.target_description)
        try:
            result = await setup_schema(
                admin,
                version=version,
                schema_file=schema_file,
                overwrite=overwrite,
                disable_versioning=disable_versioning,
                dry_run=dry_run,
                lock=lock,
                listener=listener,
                astra_compat=astra_compat,
                backup=guard.name,
            )
        finally:
            listener.close()
        if dry_run:
            _print_dry_run(admin.target_description, result)
            extra = " (dropping every table and type first)" if overwrite else ""
            click.echo(f"-- would record version {version or '(versioning disabled)'}{extra}")
        elif result.applied_versions:
            click.echo(f"{admin.target_description}: schema version {result.final_version}")
        elif disable_versioning:
            click.echo(f"{admin.target_description}: ran {result.executed} statement(s)")

    with guard.restore_hint():
        _run(_with_admin(options, work, create=not dry_run))


@schema_group.command("update-schema", epilog=_CONNECTION_EPILOG)
@click.option("--version", "-v", "target", help="Target version (default: the latest).")
@click.option(
    "--schema-dir",
    "-d",
    type=click.Path(file_okay=False, path_type=Path),
    help="A versioned schema directory (holding vX.Y/).",
)
@click.option("--schema-name", "-s", help="A bundled schema, e.g. cassandra/persistence.")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print the plan and every statement; execute nothing, take no lock.",
)
@_astra_compat_option
@backup_option
@_lock_options
@_connection_options(on_group=False)
def update_schema_command(
    target: str | None,
    schema_dir: Path | None,
    schema_name: str | None,
    dry_run: bool,
    astra_compat: bool | None,
    lock_timeout: float,
    lock_ttl: float,
    backup: bool,
    **options: Any,
) -> None:
    """Apply pending versions, up to --version.

    Takes the migration lock (a second run waits, then fails naming the holder), resumes a
    failed run from its first unapplied statement, records a checksum of every file.
    """
    schema_set = _schema_set(schema_dir, schema_name)
    lock = LockSettings(ttl=lock_ttl, wait_timeout=lock_timeout)
    guard = _migration_backup(backup and not dry_run, options)

    async def work(admin: SchemaAdmin) -> None:
        await guard.take(admin)
        listener = _ProgressListener(admin.target_description)
        try:
            result = await update_schema(
                admin,
                schema_set,
                target=target,
                dry_run=dry_run,
                lock=lock,
                listener=listener,
                astra_compat=astra_compat,
                backup=guard.name,
            )
        finally:
            listener.close()
        if dry_run:
            _print_dry_run(admin.target_description, result)
            return
        if not result.applied_versions:
            click.echo(f"{admin.target_description}: already at version {result.final_version}")
            return
        skipped = (
            f", {result.already_present} found already in place" if result.already_present else ""
        )
        resumed = (
            f" (resumed {', '.join(result.resumed_versions)})" if result.resumed_versions else ""
        )
        click.echo(
            f"{admin.target_description}: {result.start_version} -> {result.final_version}; "
            f"applied {', '.join(result.applied_versions)}{resumed}: {result.executed} "
            f"statement(s) executed{skipped}"
        )

    with guard.restore_hint():
        _run(_with_admin(options, work))


@schema_group.command("validate-health", epilog=_CONNECTION_EPILOG)
@_connection_options(on_group=False)
def validate_health_command(**options: Any) -> None:
    """Check that the server answers.

    On Cassandra only the cluster is contacted; the keyspace need not exist.
    """
    settings, typed = _settings(options)
    datastore = datastore_for(settings, typed=typed)
    click.echo(f"ok: {_run(server_health(datastore, request_timeout=_timeout(options)))}")


@schema_group.command("status", epilog=_CONNECTION_EPILOG)
@click.option(
    "--schema-dir",
    "-d",
    type=click.Path(file_okay=False, path_type=Path),
    help="Versioned directory to compare with (pending versions, drift).",
)
@click.option("--schema-name", "-s", help="A bundled schema to compare with.")
@_json_option
@_connection_options(on_group=False)
def status_command(
    schema_dir: Path | None, schema_name: str | None, as_json: bool = False, **options: Any
) -> None:
    """Show the current version and what is pending.

    With --schema-dir/--schema-name: pending versions and drift of applied files. Always:
    unfinished (failed) runs.
    """
    schema_set = (
        _schema_set(schema_dir, schema_name) if schema_dir is not None or schema_name else None
    )
    status = _run(_with_admin(options, lambda admin: schema_status(admin, schema_set)))
    if as_json:
        click.echo(json.dumps(status_json(status), indent=2))
    else:
        _print_status(status, str(schema_name or schema_dir))


@schema_group.command("history", epilog=_CONNECTION_EPILOG)
@_json_option
@_connection_options(on_group=False)
def history_command(as_json: bool = False, **options: Any) -> None:
    """Show schema_update_history and recorded runs."""

    async def work(admin: SchemaAdmin) -> None:
        entries = await schema_history(admin)
        records = await admin.read_migrations()
        if as_json:
            document = history_json(admin.target_description, entries, records)
            click.echo(json.dumps(document, indent=2))
            return
        click.echo(admin.target_description)
        if not entries:
            click.echo("  no schema history")
        for entry in entries:
            click.echo(
                f"  {entry.update_time.isoformat(timespec='seconds')}  {entry.old_version:>6} -> "
                f"{entry.new_version:<6}  md5 {entry.manifest_md5[:8] or '-':8}  "
                f"{entry.description}"
            )
        for record in sorted(records, key=lambda r: r.started_at):
            finished = (
                record.finished_at.isoformat(timespec="seconds") if record.finished_at else "-"
            )
            backed_up = f", backup {record.backup}" if record.backup else ""
            adapted = (
                f", adapted for Astra DB ({len(record.adaptation)} statement(s) rewritten)"
                if record.adaptation
                else ""
            )
            click.echo(
                f"  run {record.run_by}: {record.kind} v{record.version} {record.state}, "
                f"{record.statement_count} statement(s), {len(record.file_checksums)} file(s), "
                f"finished {finished}{backed_up}{adapted}"
            )
            for line in record.adaptation:
                click.echo(f"      adapted {line}")

    _run(_with_admin(options, work))


@schema_group.command("verify", epilog=_CONNECTION_EPILOG)
@click.option(
    "--schema-dir",
    "-d",
    type=click.Path(file_okay=False, path_type=Path),
    help="The versioned directory the versions were applied from.",
)
@click.option("--schema-name", "-s", help="A bundled schema, e.g. cassandra/persistence.")
@click.option(
    "--schema-file",
    "-f",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The full schema file setup-schema --schema-file ran, to check it too.",
)
@_json_option
@_connection_options(on_group=False)
def verify_command(
    schema_dir: Path | None,
    schema_name: str | None,
    schema_file: Path | None,
    as_json: bool = False,
    **options: Any,
) -> None:
    """Check applied versions' files for changes.

    Compares every file of every applied version (and, with --schema-file, the file of a
    setup-schema --schema-file run) with the checksum recorded when it was applied; exit
    status 1 on drift.
    """
    schema_set = (
        None
        if schema_file is not None and schema_dir is None and not schema_name
        else _schema_set(schema_dir, schema_name)
    )
    report = _run(_with_admin(options, lambda admin: verify_schema(admin, schema_set, schema_file)))
    if as_json:
        click.echo(json.dumps(verify_json(report), indent=2))
    else:
        _print_verify(report)
    if not report.ok:
        raise CliFailure(
            f"{len(report.drift)} file(s) of applied versions changed since they were applied"
        )


def _lint_files(
    schema_dir: Path | None, schema_name: str | None, files: tuple[Path, ...]
) -> tuple[list[Statement], list[Statement]]:
    paths: list[tuple[Path, str]] = [(path, path.name) for path in files]
    if schema_dir is not None or schema_name:
        for entry in _schema_set(schema_dir, schema_name).versions:
            paths += [
                (entry.file_path(name), f"{entry.path.name}/{name}")
                for name in entry.manifest.files
            ]
    if not paths:
        raise CliFailure("give --schema-dir, --schema-name or schema files to lint")
    cql: list[Statement] = []
    sql: list[Statement] = []
    for path, label in paths:
        statements = split_statements(path.read_text(encoding="utf-8"), source=label)
        # The Astra rules are about CQL; .sql files get the allowed-verb rule only.
        (sql if path.suffix.lower() == ".sql" else cql).extend(statements)
    return cql, sql


@schema_group.command("lint")
@click.option(
    "--schema-dir",
    "-d",
    type=click.Path(file_okay=False, path_type=Path),
    help="A versioned schema directory to lint.",
)
@click.option("--schema-name", "-s", help="A bundled schema, e.g. cassandra/persistence.")
@click.option("--strict", is_flag=True, help="Fail on warnings too.")
@click.option(
    "--astra",
    "astra",
    is_flag=True,
    help="Say which findings --astra-compat resolves; fail only on those it cannot.",
)
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, exists=True, path_type=Path))
def lint_command(
    schema_dir: Path | None,
    schema_name: str | None,
    strict: bool,
    astra: bool,
    files: tuple[Path, ...],
) -> None:
    """Flag what Astra DB rejects or ignores.

    Offline. Errors: keyspace DDL, materialized views, UDF/UDA, triggers, non-SAI indexes,
    partial CLUSTERING ORDER, disallowed verbs; warnings: ignored table options, reused index
    names. Exit status 1 on errors (--strict: on warnings too). With --astra, each finding
    says whether the --astra-compat adaptation resolves it, and only the others count.
    """
    cql, sql = _lint_files(schema_dir, schema_name, files)
    verdicts: list[tuple[LintFinding, bool | None]] = []
    if astra:
        verdicts += lint_with_adaptation(cql)
    else:
        verdicts += [(finding, None) for finding in lint_statements(cql)]
    verdicts += [(finding, None) for finding in lint_statements(sql, astra_rules=False)]
    for finding, resolved in verdicts:
        suffix = {
            None: "",
            True: " (resolved by --astra-compat)",
            False: " (not resolved by --astra-compat)",
        }[resolved]
        click.echo(finding.describe() + suffix)
    remaining = [f for f, resolved in verdicts if not resolved]
    errors = sum(1 for f in remaining if f.severity == "error")
    warnings = len(remaining) - errors
    if astra:
        fixed = len(verdicts) - len(remaining)
        click.echo(
            f"{errors} error(s), {warnings} warning(s) after the adaptation; "
            f"--astra-compat resolves {fixed} finding(s)"
        )
    else:
        click.echo(f"{errors} error(s), {warnings} warning(s)")
    if errors or (strict and warnings):
        raise CliFailure(f"lint found {errors} error(s) and {warnings} warning(s)")
