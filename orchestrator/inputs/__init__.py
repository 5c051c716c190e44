"""orchestrator.inputs."""
