"""orchestrator.output."""
