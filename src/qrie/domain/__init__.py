"""qrie's vocabulary: the words every layer speaks, importing no boto3, Powertools or Lambda.

- :mod:`.vocabulary` — the closed sets: job and task states, task kinds, severities, finding
  states, account states (``StrEnum``: they compare and serialize as their text).
- :mod:`.timestamps` — the one timestamp format stored and shown.
- :mod:`.resource` — an inventoried ``Resource``.
- :mod:`.jobs` — ``Job``, ``Task``, ``TaskKey``, ``TaskOutcome``, ``final_status``.
- :mod:`.findings` — ``Finding`` and its lifecycle (open, refresh, reopen, resolve, mute).
- :mod:`.results` — every verdict recorded: ``Evaluation`` per (policy, resource),
  ``PolicyTally`` per (account, policy), ``ResultStatus``.
- :mod:`.mutes` — ``Mute``: an accepted failing check, with its reason and expiry.
- :mod:`.accounts` — a registered ``Account``.
- :mod:`.usage` — ``Usage``: what a task or a job consumed in AWS (requests, capacity, time).

Records are frozen dataclasses; ``to_dict()`` gives the JSON vocabulary of every API and script
(snake_case keys). How they are stored is the store's business (:mod:`qrie.store`).
"""

from qrie.domain.accounts import Account
from qrie.domain.findings import Finding
from qrie.domain.jobs import Coverage, Job, SkippedAccount, Task, TaskKey, TaskOutcome, final_status
from qrie.domain.mutes import Mute
from qrie.domain.resource import GLOBAL, Resource
from qrie.domain.results import Evaluation, PolicyTally, ResultStatus
from qrie.domain.timestamps import TIME_FORMAT, now_iso, parse_timestamp, timestamp
from qrie.domain.usage import Usage
from qrie.domain.vocabulary import (
    FINDING_STATE_FILTERS,
    SERVICES,
    SEVERITIES,
    AccountStatus,
    FindingState,
    JobStatus,
    Severity,
    TaskKind,
    TaskStatus,
)

__all__ = [
    "FINDING_STATE_FILTERS",
    "GLOBAL",
    "SERVICES",
    "SEVERITIES",
    "TIME_FORMAT",
    "Account",
    "AccountStatus",
    "Coverage",
    "Evaluation",
    "Finding",
    "FindingState",
    "Job",
    "JobStatus",
    "Mute",
    "PolicyTally",
    "Resource",
    "ResultStatus",
    "Severity",
    "SkippedAccount",
    "Task",
    "TaskKey",
    "TaskKind",
    "TaskOutcome",
    "TaskStatus",
    "Usage",
    "final_status",
    "now_iso",
    "parse_timestamp",
    "timestamp",
]
