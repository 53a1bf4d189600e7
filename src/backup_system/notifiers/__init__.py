"""Where notices go: one module per notifier type, each owning its config keys, rules and delivery.

A type's module (`notifiers/<type>.py`) holds FIELDS (its keys under backups.notifications.*),
DEFAULT_ON (the events it tells when `on` is not given), check(notifier, fail) (its rules, run
when a config is loaded), optionally MISPLACED ({key: why it is refused}) and
send(notifier, notice) -> str, which delivers one Notice and says what the far end answered,
or raises NoticeFailed with one line. Its module level imports nothing heavy: smtplib,
urllib and jinja2 load only when a notice goes out. A new type is one module and one name in
NOTIFIER_TYPES.

This module holds only what the schema reads on every run; the registry is in registry.py, what
every delivery shares (Notice, NoticeFailed, reading a secret) in notice.py.
"""

NOTIFIER_TYPES = ("email", "teams", "slack", "webhook", "ping")
EVENTS = ("success", "failure", "stale")
