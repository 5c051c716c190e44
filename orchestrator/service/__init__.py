"""The HTTP service (``voicecast serve``): an asynchronous job API over the
same job store, scheduler and queues as the CLI. :mod:`.app` holds the thin
routes; the work is in :mod:`.tenants` (keys), :mod:`.submit` (jobs in),
:mod:`.views` (jobs out), :mod:`.webhooks` and :mod:`.background`."""
