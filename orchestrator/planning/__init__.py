"""orchestrator.planning."""
