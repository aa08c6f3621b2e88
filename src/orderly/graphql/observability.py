"""Metrics and one log line per GraphQL operation: its name, type, root field and duration,
and the problem codes of its errors.

The operation name is the client's free text, so it goes to the log only; metrics are
labelled by operation type and root field (bounded by the schema: a document selecting
several root fields counts as ``multiple``) and errors by problem code."""

from __future__ import annotations

import time
from collections.abc import Iterator

import structlog
from graphql import FieldNode, OperationDefinitionNode
from prometheus_client import Counter, Histogram
from strawberry.extensions import SchemaExtension

OPERATIONS = Counter(
    "orderly_graphql_operations_total",
    "GraphQL operations by type, root field and outcome (ok or error)",
    ["type", "field", "outcome"],
)
DURATION = Histogram(
    "orderly_graphql_operation_duration_seconds",
    "Time to answer a GraphQL query or mutation (a subscription: how long it stayed open)",
    ["type", "field"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
ERRORS = Counter(
    "orderly_graphql_errors_total", "Errors in GraphQL results by problem code", ["code"]
)
log = structlog.get_logger("orderly.graphql")


class OperationMetrics(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        duration = time.perf_counter() - started
        context = self.execution_context
        kind, field = self._shape()
        result = context.result
        codes = [
            str((error.extensions or {}).get("code", "unknown"))
            for error in (getattr(result, "errors", None) or [])
        ]
        for code in codes:
            ERRORS.labels(code).inc()
        OPERATIONS.labels(kind, field, "error" if codes else "ok").inc()
        DURATION.labels(kind, field).observe(duration)
        name = context.operation_name
        log.info(
            "graphql_operation",
            operation_name=name[:100] if name else None,
            operation_type=kind,
            field=field,
            duration_ms=round(duration * 1000, 2),
            errors=codes or None,
        )

    def _shape(self) -> tuple[str, str]:
        """The operation's type and root field (``none`` when the document did not parse)."""
        document = self.execution_context.graphql_document
        if document is None:
            return "none", "none"
        wanted = self.execution_context.operation_name
        operations = [
            node
            for node in document.definitions
            if isinstance(node, OperationDefinitionNode)
            and (wanted is None or (node.name is not None and node.name.value == wanted))
        ]
        if len(operations) != 1:
            return "none", "none"
        operation = operations[0]
        root = self.execution_context.schema._schema.get_root_type(operation.operation)
        known = root.fields if root is not None else {}
        fields = {
            node.name.value if node.name.value in known else "unknown"
            for node in operation.selection_set.selections
            if isinstance(node, FieldNode)
        }
        field = fields.pop() if len(fields) == 1 else ("multiple" if fields else "none")
        return operation.operation.value, field
