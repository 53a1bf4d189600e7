"""rclone's own keys and rules; the registry adds them to the schema."""

from ...config.schema import option, options_tuple
from ...locations import join_location

FIELDS = (
    option("remote", "str", None, "the rclone remote's name, e.g. Box-Folder"),
    option("folder", "str", "",
           "folder inside the remote; may hold {source} (and {name} for a roots child), e.g. lab-{source}"),
    option("direction", "choice", "push",
           "push: local to remote; pull: remote to local; bisync: both ways (rclone bisync)",
           choices=("push", "pull", "bisync")),
    option("mode", "choice", "copy",
           "copy: nothing is deleted; mirror: rclone sync, with what it deletes or overwrites kept in a dated "
           "backup folder", choices=("copy", "mirror")),
    option("flags", "strings", (), "extra rclone flags, e.g. ['--s3-storage-class', 'DEEP_ARCHIVE'] (a cold class "
           "only with mode: copy)"),
    option("transfers", "int", 8, "files rclone sends side by side (--transfers; 8 beat rclone's 4 on many small "
           "files in bench/rclone.py)"),
    option("checkers", "int", 8, "files rclone compares side by side (--checkers)"),
    option("rclone_binary", "program", None,
           "the rclone program: a name looked up on PATH, or a path (relative to the config folder); "
           "default: the pinned one in the project's .venv, else rclone on PATH"),
    option("rclone_config", "path", None, "rclone config file; default: rclone's own (~/.config/rclone/rclone.conf)"),
    option("rclone_env", "mapping", {},
           "environment for rclone, for secrets: e.g. RCLONE_CONFIG_BOX_TOKEN: ${BOX_TOKEN}; never shown",
           secret=True),
)
Options = options_tuple("RcloneOptions", FIELDS)

FOLDER_PLACEHOLDERS = ("source", "name")
# rclone flags that would hide or reshape the JSON log the transport reads, or make every run a dry run
LOG_FLAGS = ("-q", "--quiet", "--log-level", "--log-file", "--log-format", "--use-json-log", "--syslog",
             "--combined", "-n", "--dry-run", "-i", "--interactive")
# rclone reads each flag from RCLONE_<FLAG> too: --log-file is RCLONE_LOG_FILE
LOG_VARIABLES = tuple(f"RCLONE_{flag[2:].upper().replace('-', '_')}" for flag in LOG_FLAGS if flag.startswith("--"))
# S3 classes whose objects refuse the server-side copy that --backup-dir needs (GLACIER_IR allows it)
COLD_STORAGE_CLASSES = ("GLACIER", "DEEP_ARCHIVE")
STORAGE_CLASS_FLAG = "--s3-storage-class"
SECRET_WORDS = ("pass", "secret", "token", "credentials", "-key-pem", "customer-key")
NOT_SECRET_ENDINGS = ("-command", "-file", "ask-password")  # a program or a file that holds the secret


def claims(raw, locations):
    """A `remote:` key."""
    return bool(raw.get("remote"))


def check(destination, sources, fail):
    options = destination.options
    remote = options.remote
    if not remote:
        raise fail((), "'remote' is required for an rclone destination")
    if remote.startswith("-") or remote.strip() != remote:
        raise fail(("remote",), f"{remote!r}: a remote's name cannot start with '-' or a space")
    if options.direction == "bisync" and options.mode == "mirror":
        raise fail(("mode",), "mode: mirror is for push and pull; bisync keeps both sides itself")
    if options.direction != "push" and destination.use_compression:
        raise fail(("use_compression",), f"archives are sent only by a push; a {options.direction} needs the "
                                         "files themselves")
    if "{" in options.folder or "}" in options.folder:
        check_folder_template(options.folder, fail)
    for index, flag in enumerate(options.flags):
        check_flag(flag, ("flags", index), fail)
    for key in options.rclone_env:
        check_variable(key, fail)
    if options.mode == "mirror":
        check_mirror_storage_class(options, fail)
    check_sources(destination, sources, fail)
    # "Box-Folder:" as rclone prints it is Box-Folder
    return destination._replace(options=options._replace(remote=remote.removesuffix(":")))


def check_folder_template(folder, fail):
    import string

    try:
        fields = [part[1:] for part in string.Formatter().parse(folder) if part[1] is not None]
    except ValueError as error:
        raise fail(("folder",), f"{folder!r}: {error}") from None
    for name, format_spec, conversion in fields:
        if name not in FOLDER_PLACEHOLDERS or format_spec or conversion:
            raise fail(("folder",), f"{folder!r}: the only placeholders are {{source}} and {{name}}")


def check_flag(flag, at, fail):
    name = flag.split("=", 1)[0]
    if name in LOG_FLAGS:
        raise fail(at, f"{name} would change the log backup_system reads to count files; "
                       "use -v, -q or --dry-run on backup_system's command line instead")
    if name.startswith("--") and any(word in name for word in SECRET_WORDS) and not name.endswith(NOT_SECRET_ENDINGS):
        raise fail(at, f"{name} would put a secret in rclone's arguments, which other users can read; "
                       "set it in rclone_env (RCLONE_...) or in the rclone config file")


def check_mirror_storage_class(options, fail):
    """mirror keeps what it replaces or deletes by a server-side copy into the versions folder; a cold object
    refuses that copy, so rclone would neither upload a changed file nor delete one, every run, and say ok."""
    for at, value in storage_classes(options):
        if value.strip().upper() in COLD_STORAGE_CLASSES:
            raise fail(at, f"mode: mirror does not work with the storage class {value.strip()}: it keeps what it "
                           f"replaces or deletes by a server-side copy into the versions folder, which S3 refuses "
                           f"for {' and '.join(COLD_STORAGE_CLASSES)} objects, so changed files would never be "
                           f"sent; use mode: copy (nothing is deleted), or wait for native bucket versioning")


def storage_classes(options):
    """(key path, value) of each S3 storage class the destination sets: in flags (one word with '=' or
    two words) and in rclone_env (RCLONE_S3_STORAGE_CLASS, or a remote's RCLONE_CONFIG_<REMOTE>_STORAGE_CLASS)."""
    flags = options.flags
    for index, flag in enumerate(flags):
        name, equals, value = flag.partition("=")
        if name == STORAGE_CLASS_FLAG and (equals or index + 1 < len(flags)):
            yield ("flags", index), value if equals else flags[index + 1]
    for key, value in options.rclone_env.items():
        if key == "RCLONE_S3_STORAGE_CLASS" or (key.startswith("RCLONE_CONFIG_") and key.endswith("_STORAGE_CLASS")):
            yield ("rclone_env", key), str(value)


def check_variable(key, fail):
    if not key.startswith("RCLONE_"):
        raise fail(("rclone_env", key), "rclone reads only variables named RCLONE_..., e.g. RCLONE_CONFIG_BOX_TOKEN")
    if key in LOG_VARIABLES:
        raise fail(("rclone_env", key), f"{key} would change the log backup_system reads to count files; "
                                        "use -v, -q or --dry-run instead")


def check_sources(destination, sources, fail):
    if destination.direction == "push":
        return
    for name in destination.sources or sources:
        if sources[name].roots:
            raise fail(("direction",), f"the source '{name}' is a list of roots, which only a push can send; "
                                       f"give a {destination.direction} one folder (path)")


def locate(destination, spec_name, source):
    """remote:folder/<source name>; a folder holding {source} (and {name}, a roots child) is filled in
    instead, and whatever of the source's name it does not use is appended: `lab-{source}` sends the
    roots child scans/run1 to remote:lab-scans/run1."""
    options = destination.options
    folder = options.folder or ""
    if "{" not in folder:
        return join_location(f"{options.remote}:{folder}", source.name)
    child = source.name[len(spec_name) + 1:]
    filled = folder.format(source=spec_name, name=child or spec_name)  # placeholders checked when loaded
    rest = child if child and "{name}" not in folder else ""
    return join_location(f"{options.remote}:{filled.rstrip('/')}", rest)
