"""smb's own keys and rules; the registry adds them to the schema."""

from ...config.schema import option, options_tuple
from ...config.validate import check_locations
from ...locations import is_smb_url

DEFAULT_PORT = 445
FIELDS = (
    option("credentials_file", "path", None,
           "smbclient credentials file (lines username=, password=, optional domain=); must be chmod 600. "
           "Absent: a guest session"),
    option("remote_dir", "str", None, "with base_path //host/share: the folder inside the share"),
    option("port", "int", DEFAULT_PORT,
           "the SMB server's TCP port; a port in the smb:// URL (smb://host:4445/share) is used instead of the "
           "default, and one that differs from a port given here is refused"),
    option("smbclient_options", "strings", (), "extra smbclient arguments, e.g. ['--option=client max protocol=SMB3']"),
    option("method", "choice", "auto",
           "auto: rsync to the mount point when the share is mounted here (cifs in /proc/mounts), else smbclient; "
           "rclone: rclone's smb backend (the pinned rclone, a remote made from host, share, port and "
           "credentials_file; modification times compared to the second, so a tree either method wrote is not "
           "sent again by the other; names checked by the strict rules)",
           choices=("auto", "smbclient", "mount", "rclone")),
    option("names", "choice", "strict",
           "strict: refuse names a Windows server or a default Samba share cannot keep as they are (letter-case "
           "twins, reserved DOS names such as CON, a trailing dot); server: ask the share once per job and refuse "
           "only what it cannot keep (e.g. Samba with case sensitive = yes, mangled names = no)",
           choices=("strict", "server")),
    option("sessions", "int", 16, "the most smbclient sessions that list and upload side by side; a run uses "
           "fewer when the round trip its first session measures is short (one per 0.15 ms: 2 for a server on this "
           "machine, 16 from 2.3 ms; see bench/smb.py) or there are few folders or files for them"),
    option("remove_from_local", "bool", False,
           "after a job, delete the local files whose copy on the server a fresh listing confirmed "
           "(same size and time); never in a dry run"),
    option("mode", "choice", "copy",
           "copy: nothing is deleted; mirror: deletions at the source are carried to the destination, what is "
           "deleted or overwritten kept in <target>-versions/<stamp>/ (through smbclient a server-side rename; a "
           "mounted share through rsync)",
           choices=("copy", "mirror")),
    option("compare", "choice", "size_and_time",
           "size_and_time: a file whose copy on the server has the same size and modification time is unchanged; "
           "size: the same size is enough (files another client put there are not re-sent, and "
           "remove_from_local accepts them)",
           choices=("size_and_time", "size")),
)
Options = options_tuple("SmbOptions", FIELDS)
# what method: rclone cannot do; each says why in one line
NOT_WITH_RCLONE = {
    "names": ("server", "names: server asks the share through smbclient; method: rclone checks names by the "
                        "strict rules"),
    "remove_from_local": (True, "remove_from_local needs the smbclient method's confirming listing; "
                                "method: rclone does not remove local files"),
}


def claims(raw, locations):
    """An smb://host/share URL (or //host/share)."""
    return any(is_smb_url(location) for location in locations)


def check(destination, sources, fail):
    remote_dir, base_path = destination.options.remote_dir, destination.base_path
    if remote_dir and base_path:
        destination = destination._replace(base_path=f"{base_path.rstrip('/')}/{remote_dir.strip('/')}")
    if not 1 <= destination.options.port <= 65535:
        raise fail(("port",), f"{destination.options.port} is not a TCP port (1-65535)")
    destination = with_url_port(destination, fail)
    if destination.options.mode == "mirror" and destination.options.remove_from_local:
        raise fail(("remove_from_local",), "remove_from_local with mode: mirror would move every backed-up file "
                                           "into the versions folder on the next run; choose one")
    if destination.versions or destination.options.mode == "mirror":
        check_folders(destination, fail)
    if destination.options.method == "rclone":
        for key, (value, reason) in NOT_WITH_RCLONE.items():
            if getattr(destination.options, key) == value:
                raise fail((key,), reason)
    check_locations(destination, sources, fail)
    return destination


def check_folders(destination, fail):
    """Versions are kept beside a target folder (<folder>-versions): a source sent to a share's top has none."""
    for source, location in destination.paths.items():
        rest = location.split("://", 1)[-1] if location else ""
        if location and is_smb_url(location) and len([part for part in rest.split("/") if part]) <= 2:
            raise fail((f"{source}_path",), "versions and mode: mirror need a folder inside the share (the "
                                            "versions are kept beside it, in <folder>-versions)")


def with_url_port(destination, fail):
    """The destination with the port its smb:// URLs name moved into `port` (which every session reads) and
    taken out of the URLs, so the host is a host; URLs that name different ports are refused."""
    located = {("base_path",): destination.base_path,
               **{(f"{source}_path",): location for source, location in destination.paths.items()}}
    stripped, named = {}, {}
    for key, location in located.items():
        if not location or not is_smb_url(location):
            stripped[key] = location
            continue
        stripped[key], port = split_port(location, lambda message, key=key: fail(key, message))
        if port is not None:
            named[key] = port
    if not named:
        return destination
    (first_key, port), *others = named.items()
    for key, other in others:
        if other != port:
            raise fail(key, f"port {other} in this URL differs from port {port} in {first_key[0]}: "
                            f"one destination talks to one server port")
    given = destination.options.port
    if given not in (DEFAULT_PORT, port):
        raise fail(first_key, f"the URL names port {port} and port: says {given}; give the port once")
    paths = {key[0][: -len("_path")]: location for key, location in stripped.items() if key != ("base_path",)}
    return destination._replace(base_path=stripped[("base_path",)], paths=paths,
                                options=destination.options._replace(port=port))


def split_port(location, fail):
    """(the location without a port, the port it names or None): smb://host:4445/share -> smb://host/share, 4445.
    An IPv6 address is written in brackets: smb://[::1]:4445/share."""
    scheme = "smb://" if location.startswith("smb://") else "//"
    server, slash, rest = location[len(scheme):].partition("/")
    host, colon, port = server.rpartition(":") if server.rsplit("]", 1)[-1].count(":") == 1 else (server, "", "")
    if not colon:
        return location, None
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise fail(f"{port!r} in {location} is not a TCP port (1-65535)")
    return f"{scheme}{host}{slash}{rest}", int(port)
