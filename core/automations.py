"""Automations: what starts when a delivery reaches an outcome, declared in a TOML file.

Rules live in a file the operators own (``automations.toml``), not in accounts' hands:
an action may start any workflow on any task queue of the cluster, which only the
people running the service should decide. The file is checked when the worker starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.catalog import (
    OPERATIONAL_EVENT_TYPE_NAMES,
    SUBSCRIBABLE_EVENT_TYPE_NAMES,
    TEST_EVENT_TYPE,
)
from core.config_files import load_toml_model
from core.contracts import AutomationRule, Trigger


class AutomationError(ValueError):
    """The automations file is missing, unreadable or invalid."""


class StartWorkflow(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str = Field(min_length=1, description="The workflow type to start.")
    task_queue: str = Field(min_length=1)


class RuleSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=60)
    when: Literal["delivered", "exhausted", "settled", "endpoint_disabled", "recovered"]
    event_types: list[str] = Field(default_factory=list)
    endpoint_ids: list[str] = Field(default_factory=list)
    start_workflow: StartWorkflow | None = None
    emit: Literal[OPERATIONAL_EVENT_TYPE_NAMES] | None = None  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _one_action_and_known_types(self) -> RuleSpec:
        if (self.start_workflow is None) == (self.emit is None):
            raise ValueError("a rule has exactly one action: start_workflow or emit")
        unknown = [name for name in self.event_types if name not in SUBSCRIBABLE_EVENT_TYPE_NAMES]
        if unknown:
            raise ValueError(f"unknown event types {unknown}")
        return self


class Automations(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: list[RuleSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> Automations:
        names = [rule.name for rule in self.rules]
        if len(names) != len(set(names)):
            raise ValueError("rule names must be unique")
        return self

    def for_event_type(self, event_type: str) -> list[AutomationRule]:
        """The rules that may fire for an event of this type, as the workflow receives them.

        Operational events start nothing, so that a rule can never feed itself; nor do test
        events, a customer's check of an endpoint rather than an event of theirs.
        """
        if event_type in OPERATIONAL_EVENT_TYPE_NAMES or event_type == TEST_EVENT_TYPE:
            return []
        return [
            AutomationRule(
                name=rule.name,
                when=Trigger(rule.when),
                endpoint_ids=list(rule.endpoint_ids),
                workflow_type=rule.start_workflow.type if rule.start_workflow else None,
                task_queue=rule.start_workflow.task_queue if rule.start_workflow else None,
                emit=rule.emit,
            )
            for rule in self.rules
            if not rule.event_types or event_type in rule.event_types
        ]


def load_automations(path: Path) -> Automations:
    return load_toml_model(path, Automations, what="automations file", error=AutomationError)
