"""rsync's own keys and rules; the registry adds them to the schema."""

from ...config.schema import defaults, option, options_tuple
from ...config.validate import check_locations
from ...locations import is_smb_url

KEEP_PERIODS = ("daily", "weekly", "monthly")
DEFAULT_KEEP = {"daily": 7, "weekly": 4, "monthly": 12}

FIELDS = (
    option("keep_partial", "bool", True,
           "keep an interrupted file in .backup_system-partial at the top of the target and resume it next run "
           "(to a local or mounted folder: a file over 8 MiB; a smaller one is simply sent again)"),
    option("ssh_command", "strings", None, "for user@host:/path: the ssh command as a list, e.g. [ssh, -p, '2222']"),
    option("rsync_options", "strings", (), "extra rsync arguments, e.g. ['--bwlimit=20m']"),
    option("mode", "choice", "copy",
           "copy: nothing is deleted; mirror: deletions at the source are carried to the destination, what is "
           "deleted or overwritten kept in <target>-versions/<stamp>/; snapshot: each run a dated tree "
           "<target>/<YYYY-mm-ddTHHMMSS>/ (unchanged files hard links to the previous one) and <target>/latest",
           choices=("copy", "mirror", "snapshot")),
    option("keep", "mapping", DEFAULT_KEEP,
           "mode: snapshot: how many snapshots to keep, the newest of each day, week and month, e.g. "
           "{daily: 7, weekly: 4, monthly: 12}; the newest complete one is always kept"),
)
Options = options_tuple("RsyncOptions", FIELDS)


def claims(raw, locations):
    """A path or user@host:/path."""
    return any(not is_smb_url(location) for location in locations)


def check(destination, sources, fail):
    options = destination.options
    if options.mode == "snapshot" and destination.versions:
        raise fail(("versions",), "versions: true is for mode: copy and mirror; a snapshot keeps every run's tree "
                                  "itself (retention: keep)")
    keep_counts(options.keep, lambda key, message: fail(("keep",) + key, message))
    check_locations(destination, sources, fail)
    return destination


def keep_counts(keep, fail=None):
    """{period: count} of the keep mapping, counts as whole numbers (0: none of that period kept)."""
    counts = {}
    for period, count in (keep or {}).items():
        if period not in KEEP_PERIODS:
            if fail:
                raise fail((period,), f"expected one of {', '.join(KEEP_PERIODS)}")
            continue
        text = str(count).strip()
        if not text.isdigit():
            if fail:
                raise fail((period,), f"expected a whole number of snapshots (0 or more), got {count!r}")
            continue
        counts[period] = int(text)
    return counts


DEFAULTS = defaults(Options, FIELDS)  # for a destination of another kind that sends through rsync (a mounted share)
