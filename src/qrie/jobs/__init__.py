"""The job engine: creating jobs, running tasks, exact accounting, reconciliation."""
