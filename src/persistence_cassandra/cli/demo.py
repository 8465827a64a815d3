"""``demo``: the interim main job, printed step by step with timings and a summary table.

The scenario itself lives in :mod:`persistence_cassandra.workload.demo_scenario`; this module only
opens the configured store, runs it and renders what happened.
"""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from persistence_cassandra.cli.context import CliContext, run_async
from persistence_cassandra.workload.demo_scenario import DemoReport, DemoStep, run_demo

__all__ = ["demo_command", "print_step", "print_summary", "run_demo"]


def print_step(step: DemoStep, console: Console) -> None:
    mark = "[green]ok[/green]  " if step.ok else "[red]FAIL[/red]"
    console.print(f"{mark} {step.name:<26} {step.seconds * 1000:8.1f} ms  {step.detail}")


def print_summary(report: DemoReport, console: Console) -> None:
    """The per-operation table (calls, errors, p50/p99) and the total."""
    table = Table(title=f"demo: {report.target or report.backend}")
    table.add_column("operation")
    table.add_column("calls", justify="right")
    table.add_column("errors")
    table.add_column("p50", justify="right")
    table.add_column("p99", justify="right")
    for summary in report.operations:
        errors = ", ".join(f"{name} {count}" for name, count in sorted(summary.errors.items()))
        table.add_row(
            summary.name,
            str(summary.calls),
            errors or "0",
            f"{summary.p50 * 1000:.2f} ms",
            f"{summary.p99 * 1000:.2f} ms",
        )
    console.print(table)
    total = sum(step.seconds for step in report.steps)
    passed = sum(step.ok for step in report.steps)
    console.print(f"{passed}/{len(report.steps)} steps passed in {total * 1000:.0f} ms")


async def _open_and_run(context: CliContext, console: Console) -> DemoReport:
    async with await context.open() as persistence:
        console.print(f"demo on {persistence.description or persistence.backend_name}")
        return await run_demo(persistence, on_step=lambda step: print_step(step, console))


@click.command("demo")
@click.pass_obj
def demo_command(context: CliContext) -> None:
    """Run a workflow lifecycle through every store and verify it.

    The interim main job: namespace, shard lease, workflow start, transitions with CAS,
    timers, matching tasks, continue-as-new, read-back; prints each step with its timing.
    """
    console = Console()
    report = run_async(_open_and_run(context, console))
    print_summary(report, console)
    if not report.ok:
        failed = next(step for step in report.steps if not step.ok)
        raise click.ClickException(f"demo: step {failed.name!r} failed: {failed.detail}")
