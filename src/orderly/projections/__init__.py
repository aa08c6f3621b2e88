"""Read models kept in step with the write tables (CQRS)."""
