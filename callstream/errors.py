"""The one error root of callstream.

Every foreseeable failure is raised as a subclass of ``CallstreamError``; the CLI
prints it as one line (what went wrong, then what to do) and exits non-zero.
"""

from __future__ import annotations


class CallstreamError(Exception):
    """A failure the user can act on: ``message`` says what, ``hint`` says what to do."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(CallstreamError):
    """Invalid connection settings, options or files."""


class DependencyError(ConfigError):
    """An installed library is outside the range callstream supports."""


class CatalogError(ConfigError):
    """The topic catalog is invalid or does not match what was asked."""


class LocalKafkaError(CallstreamError):
    """The local Apache Kafka could not be resolved, started, or reached."""


class KafkaOperationError(CallstreamError):
    """A Kafka request failed; wraps the broker's error code."""

    def __init__(self, message: str, hint: str | None = None, code: str | None = None) -> None:
        super().__init__(message, hint)
        self.code = code


class EncodeError(CallstreamError):
    """An event could not be serialized (a producer-side contract violation)."""


class DecodeError(CallstreamError):
    """A message could not be read as a callstream event (sent to the dead-letter topic)."""


class SchemaCompatibilityError(CallstreamError):
    """A schema change would break an existing producer or consumer."""


class SchemaRegistryError(KafkaOperationError):
    """A schema registry could not be reached or refused a request."""


class SimulationError(ConfigError):
    """Impossible simulator options or an unreadable traffic curve."""


class ArchiveError(CallstreamError):
    """The archive (object storage tables) could not be read or written."""


class ScenarioError(ConfigError):
    """An invalid rehearsal scenario schedule."""


class MigrationError(CallstreamError):
    """A migration between two clusters cannot proceed (or a step's check failed)."""
