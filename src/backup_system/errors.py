"""The errors a user can act on, each one line; cli.exit_code_for maps them to exit codes."""


class BackupError(Exception):
    """Base of every error backup_system reports as a message instead of a traceback."""


class ConfigError(BackupError):
    """A mistake in the config file or on the command line: `file:line: dotted.key: what is wrong`."""


class LockHeld(BackupError):
    """Another run holds the lock for this config."""


class TransportError(BackupError):
    """One job failed: the destination was unreachable, refused us, or the transfer broke."""
