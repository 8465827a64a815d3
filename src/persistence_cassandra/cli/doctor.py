"""``persistence-cassandra doctor``: prints the report of
:func:`persistence_cassandra.doctor.run_doctor` as tables or JSON; exit 1 when a check failed."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from persistence_cassandra.cli.context import CliContext, run_async
from persistence_cassandra.cli.failures import CliFailure
from persistence_cassandra.cli.output import console_for
from persistence_cassandra.doctor import DoctorReport, run_doctor

__all__ = ["doctor_command", "print_report", "report_json"]


_STATUS_STYLE = {
    "ok": "[green]OK[/green]",
    "warn": "[yellow]WARN[/yellow]",
    "fail": "[red]FAIL[/red]",
    "skip": "[yellow]SKIP[/yellow]",
}


def print_report(report: DoctorReport, console: Console) -> None:
    """Render the report as two tables: checks, then per-operation latencies."""
    table = Table(title=f"doctor: {report.target or report.backend}")
    table.add_column("check")
    table.add_column("status")
    table.add_column("time", justify="right")
    table.add_column("detail", overflow="fold")
    for check in report.checks:
        elapsed = f"{check.seconds * 1000:.1f} ms" if check.seconds is not None else ""
        table.add_row(check.name, _STATUS_STYLE[check.status], elapsed, check.detail)
    console.print(table)
    if report.operations:
        latencies = Table(title="store operations")
        latencies.add_column("operation")
        latencies.add_column("calls", justify="right")
        latencies.add_column("p50", justify="right")
        latencies.add_column("p99", justify="right")
        for name, calls, p50, p99 in report.operations:
            latencies.add_row(name, str(calls), f"{p50 * 1000:.2f} ms", f"{p99 * 1000:.2f} ms")
        console.print(latencies)
    for warning in report.warnings:
        console.print(f"[bold yellow]WARNING:[/bold yellow] {warning}", soft_wrap=True)


def report_json(report: DoctorReport) -> dict[str, object]:
    """The report for ``--json``: every check, the operations' latencies, the warnings."""
    return {
        "ok": report.ok,
        "backend": report.backend,
        "target": report.target,
        "checks": [
            {
                "name": check.name,
                "status": check.status,
                "detail": check.detail,
                "seconds": None if check.seconds is None else round(check.seconds, 6),
                "warnings": list(check.warnings),
            }
            for check in report.checks
        ],
        "operations": [
            {"operation": name, "calls": calls, "p50_ms": p50 * 1000, "p99_ms": p99 * 1000}
            for name, calls, p50, p99 in report.operations
        ],
        "warnings": report.warnings,
    }


@click.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
@click.pass_obj
def doctor_command(context: CliContext, as_json: bool = False) -> None:
    """Check connectivity, versions and round trips of the store.

    Reports the backend, target, server and schema versions, then times a write/read round
    trip (cluster membership) and a conditional-write round trip (cluster metadata CAS). On
    Cassandra it also warns (without failing) when the commit-log mode, replication factor or
    consistency level can lose acknowledged writes.
    """
    config = context.load_config()
    report = run_async(
        run_doctor(None if context.config_path is None else config, store=context.store)
    )
    if as_json:
        click.echo(json.dumps(report_json(report), indent=2))
    else:
        print_report(report, console_for())
    if not report.ok:
        first = report.failures[0]
        head = f"doctor: {len(report.failures)} check(s) failed; {first.name}: "
        raise CliFailure([head, *first.detail_parts] if first.detail_parts else head + first.detail)
