"""The operators' client: jobs and their history, listings, stats, cancel, redrive, purge
(``AdminClient``, ``AsyncAdminClient``), and the records they return."""

from .aio import AsyncAdminClient
from .client import AdminClient
from .records import AttemptError, Job, JobEvent, JobHistory, JobPage, JobState, Progress, RedriveResult
from .breakers import Breaker
from .queues import QueueControls
from .retry import QueueRetry
from .schedules import Schedule
from .stats import QueueStats, StatsReport, WindowCounts
from .subscriptions import Subscription
from .webhook_sources import WebhookSource

__all__ = ["AdminClient", "AsyncAdminClient", "AttemptError", "Breaker", "Job", "JobEvent", "JobHistory", "JobPage",
           "JobState", "Progress", "QueueControls", "QueueRetry", "QueueStats", "RedriveResult", "Schedule",
           "StatsReport", "Subscription", "WebhookSource", "WindowCounts"]
