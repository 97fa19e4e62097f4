"""One exception hierarchy for Switchboard; every message says what to do about it."""

from __future__ import annotations


class SwitchboardError(Exception):
    """Base of every domain failure; `user_message` is safe to show to staff."""

    def __init__(self, message: str, *, user_message: str | None = None) -> None:
        super().__init__(message)
        self.user_message = user_message or message


class InvalidInputError(SwitchboardError):
    """The message or payload cannot be processed as sent (empty, oversized, malformed)."""


class InvalidIdentityError(InvalidInputError):
    """An identity is not written as platform:tenant:user (a bare user id above all)."""


class DatabaseUnavailableError(SwitchboardError):
    """The database did not answer (down, unreachable, locked): nothing of the unit of work was kept,
    so the same request can simply be tried again later."""


class LeaseLostError(SwitchboardError):
    """Another instance took over a pending delivery while this one was still answering it (its lease was not
    renewed in time, e.g. the database was out of reach): this instance must not deliver its answer."""


class ServiceUrlNotAllowedError(SwitchboardError):
    """An activity asked the bot to call a Bot Framework service URL outside SWITCHBOARD_TEAMS_SERVICE_URLS."""


class ConfigurationError(SwitchboardError):
    """Settings or the policy file are wrong; the message names the setting to fix."""


class SchemaError(SwitchboardError):
    """The database's schema cannot be brought to this release's (newer than it, or not one we created)."""


class MissingCredentialsError(SwitchboardError):
    """A chosen model needs a key that is not set."""

    def __init__(self, model: str, env_vars: tuple[str, ...]) -> None:
        names = " and ".join(env_vars)
        super().__init__(
            f"Model {model} needs {names}; set {names} in the environment (or disable the model "
            "in the policy).",
        )
        self.model = model
        self.env_vars = env_vars


class ProviderError(SwitchboardError):
    """A provider call failed after retries; `retryable` tells whether a fallback may help."""

    def __init__(self, message: str, *, model: str, retryable: bool, status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.model = model
        self.retryable = retryable
        self.status = status
        self.retry_after = retry_after


class ProviderTimeoutError(ProviderError):
    """An attempt ran out of time: `phase` is "connect", "first token", "stall" or "deadline" (the
    answer's total time ran out while this attempt was running)."""

    def __init__(self, message: str, *, model: str, phase: str) -> None:
        super().__init__(message, model=model, retryable=True)
        self.phase = phase


class DeadlineExceededError(SwitchboardError):
    """The answer's total deadline (the policy's `deadlines.total_s`) passed; its work was cancelled."""


class NoModelAvailableError(SwitchboardError):
    """Every model the privacy verdict allows is down, disabled or unconfigured."""


class BudgetExceededError(SwitchboardError):
    """A hard budget limit refuses the request."""


class PolicyValidationError(SwitchboardError):
    """A policy change was refused; the message says why."""


class CommandError(SwitchboardError):
    """An admin command is unknown, malformed or not allowed."""
