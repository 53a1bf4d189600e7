"""The errors a user can act on, each one line; cli maps them to exit codes in one place."""


class BackupError(Exception):
    """Base of every error backup_system reports as a message instead of a traceback."""


class ConfigError(BackupError):
    """A mistake in the config file or on the command line: `file:line: dotted.key: what is wrong`."""


class LockHeld(BackupError):
    """Another run holds the lock for this config."""


class TransportError(BackupError):
    """One job failed as a whole. `outcome`: what the transport had done before it failed, if anything."""

    kind = "failed"

    def __init__(self, message, outcome=None):
        super().__init__(message)
        self.outcome = outcome


class Unreachable(TransportError):
    """The server could not be reached, or the connection was lost."""

    kind = "unreachable"


class Stalled(TransportError):
    """The server stopped answering in the middle of a job: nothing moved for the destination's stall_timeout."""

    kind = "stalled"


class Refused(TransportError):
    """The destination answered but refused us: wrong password, no permission."""

    kind = "refused"


class DestinationFull(TransportError):
    """The disk or the quota at the destination (or, pulling, here) is full."""

    kind = "full"


class NotFound(TransportError):
    """What the job needs does not exist: the source folder, the share, the remote or its folder."""

    kind = "not-found"


class TimedOut(TransportError):
    """The transfer ran past the destination's timeout and was stopped."""

    kind = "timed-out"


class CompressionError(TransportError):
    """An archive could not be built, or failed its test: one line naming the archive and the cause."""
