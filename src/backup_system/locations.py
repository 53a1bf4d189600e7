"""Where a destination is: the one place that tells a remote location from a local path."""


def is_smb_url(location):
    """smb://host/share/... or //host/share/..."""
    return location.startswith(("smb://", "//"))


def is_remote_location(location):
    """True for smb:// URLs, rsync's [user@]host:path and rclone's remote:path; a local path has no colon
    before its first slash."""
    if is_smb_url(location):
        return True
    head = location.split("/", 1)[0]
    return ":" in head and not location.startswith(("/", ".", "~"))


def server_of(location):
    """The server a remote location names (smb host, ssh [user@]host, rclone remote), or None for a local path."""
    if is_smb_url(location):
        return location.split("//", 1)[1].split("/", 1)[0]
    if is_remote_location(location):
        return location.split(":", 1)[0]
    return None


def is_inside(path, folder):
    """True when path is folder itself or somewhere under it (both absolute)."""
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def join_location(base, name):
    """base/name; after a bare `remote:` no slash is added."""
    if not name:
        return base
    return f"{base.rstrip('/')}/{name}" if not base.endswith(":") else f"{base}{name}"
