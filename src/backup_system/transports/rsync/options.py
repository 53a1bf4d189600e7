"""rsync's own keys and rules; the registry adds them to the schema."""

from ...config.schema import defaults, option, options_tuple
from ...config.validate import check_locations
from ...locations import is_smb_url

FIELDS = (
    option("keep_partial", "bool", True,
           "keep an interrupted file in .backup_system-partial at the top of the target and resume it next run"),
    option("ssh_command", "strings", None, "for user@host:/path: the ssh command as a list, e.g. [ssh, -p, '2222']"),
    option("rsync_options", "strings", (), "extra rsync arguments, e.g. ['--bwlimit=20m']"),
)
Options = options_tuple("RsyncOptions", FIELDS)


def claims(raw, locations):
    """A path or user@host:/path."""
    return any(not is_smb_url(location) for location in locations)


def check(destination, sources, fail):
    check_locations(destination, sources, fail)
    return destination

DEFAULTS = defaults(Options, FIELDS)  # for a destination of another kind that sends through rsync (a mounted share)
