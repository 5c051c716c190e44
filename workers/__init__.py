"""The synthesis role: Celery app and thin tasks, engines, voices, fitting."""
