"""smb's own keys and rules; the registry adds them to the schema."""

from ...config.schema import option, options_tuple
from ...config.validate import check_locations
from ...locations import is_smb_url

FIELDS = (
    option("credentials_file", "path", None,
           "smbclient credentials file (lines username=, password=, optional domain=); must be chmod 600. "
           "Absent: a guest session"),
    option("remote_dir", "str", None, "with base_path //host/share: the folder inside the share"),
    option("port", "int", 445, "the SMB server's TCP port"),
    option("smbclient_options", "strings", (), "extra smbclient arguments, e.g. ['--option=client max protocol=SMB3']"),
    option("method", "choice", "auto",
           "auto: rsync to the mount point when the share is mounted here (cifs in /proc/mounts), else smbclient",
           choices=("auto", "smbclient", "mount")),
    option("names", "choice", "strict",
           "strict: refuse names a Windows server or a default Samba share cannot keep as they are (letter-case "
           "twins, reserved DOS names such as CON, a trailing dot); server: ask the share once per job and refuse "
           "only what it cannot keep (e.g. Samba with case sensitive = yes, mangled names = no)",
           choices=("strict", "server")),
    option("sessions", "int", 4, "smbclient sessions that upload side by side"),
    option("remove_from_local", "bool", False,
           "after a job, delete the local files whose copy on the server a fresh listing confirmed "
           "(same size and time); never in a dry run"),
)
Options = options_tuple("SmbOptions", FIELDS)


def claims(raw, locations):
    """An smb://host/share URL (or //host/share)."""
    return any(is_smb_url(location) for location in locations)


def check(destination, sources, fail):
    remote_dir, base_path = destination.options.remote_dir, destination.base_path
    if remote_dir and base_path:
        destination = destination._replace(base_path=f"{base_path.rstrip('/')}/{remote_dir.strip('/')}")
    check_locations(destination, sources, fail)
    return destination
