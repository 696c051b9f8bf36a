"""A chained workflow for the automation tests, in a module of its own for the sandbox."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from core.contracts import DeliveryReport


@workflow.defn(name="RecordReport")
class RecordReport:
    """Hands back the report it was started with."""

    @workflow.run
    async def run(self, report: DeliveryReport) -> DeliveryReport:
        return report
