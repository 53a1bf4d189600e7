"""rclone's own keys and rules; the registry adds them to the schema."""

import os

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
           "with mode: mirror only with versions: true, on an S3 bucket that keeps versions)"),
    option("transfers", "int", 8, "files rclone sends side by side (--transfers; 8 beat rclone's 4 on many small "
           "files in bench/rclone.py)"),
    option("checkers", "int", 8, "files rclone compares side by side (--checkers)"),
    option("rclone_binary", "program", None,
           "the rclone program: a name looked up on PATH, or a path (relative to the config folder); "
           "default: the pinned one in the project's .venv, else rclone on PATH"),
    option("rclone_config", "path", None,
           "rclone config file; default: the one rclone reads ($RCLONE_CONFIG, else its own, "
           "~/.config/rclone/rclone.conf); `config show` names it"),
    option("rclone_env", "mapping", {},
           "environment for rclone, for secrets: e.g. RCLONE_CONFIG_BOX_TOKEN: ${BOX_TOKEN}; never shown. A password "
           "(RCLONE_..._PASS, _PASSWORD) must be obscured, as in rclone's config file: give the output of "
           "`rclone obscure -` (`config validate` notes one that is not)", secret=True),
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
    if options.mode == "mirror" and not destination.versions:
        check_mirror_storage_class(options, fail)  # with versions: true an S3 bucket keeps them (s3_versions.py)
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
                           f"sent; use mode: copy (nothing is deleted), or versions: true (an S3 bucket then keeps "
                           f"them itself)")


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


def effective(options):
    """The values a run uses for the keys left out, for `config show`: the rclone program and config file."""
    from ...log import WARNING, Log
    from .command import rclone_binary

    values = {"rclone_binary": rclone_binary(options)}
    if not options.rclone_config:
        values["rclone_config"] = config_file_read(options, Log(None, WARNING))
    return values


# --- what `config validate` can tell without contacting the server -------------------------------------

# rclone reads these obscured (base64url of a 16-byte IV and the encrypted text); RCLONE_CONFIG_PASS, the
# config file's own password, is plain
PASSWORD_ENDINGS = ("_PASS", "_PASSWORD", "_PASSWORD2")
PLAIN_PASSWORDS = ("RCLONE_CONFIG_PASS",)
LOCAL_CHECK_TIMEOUT = 20


def local_problems(destination, log):
    """([(key, problem)], [notes]) of an rclone destination, found without contacting its server: its remote is
    neither in the rclone config file rclone reads nor defined in the environment; a password in rclone_env
    that is not obscured. Runs the pinned rclone (config file, listremotes), which reads local files only."""
    options = destination.options
    notes = [f"rclone_env.{key}: does not look obscured: rclone reads a password there obscured, so give the "
             f"output of `rclone obscure -` (it reads the password from its input)"
             for key, value in options.rclone_env.items() if is_password(key) and not looks_obscured(value)]
    name = options.remote.split(",", 1)[0]
    if name.startswith(":"):
        return [], notes  # a backend named on the fly (:s3,...): nothing to look up
    if options.rclone_config and not os.path.isfile(options.rclone_config):
        return [("rclone_config", f"rclone config file {options.rclone_config} does not exist")], notes
    env = {**os.environ, **options.rclone_env}
    if f"RCLONE_CONFIG_{name.upper()}_TYPE" in env:
        return [], notes  # a remote defined by environment variables
    remotes = listed_remotes(options, log)
    if remotes is None or name in remotes:
        return [], notes
    return [("remote", unknown_remote(name, config_file_read(options, log), remotes))], notes


def unknown_remote(name, config_file, remotes):
    """remote 'X' is not in the rclone config file F; did you mean 'x'? (or: its remotes are ...)"""
    import difflib

    message = f"remote '{name}' is not in the rclone config file {config_file}"
    folded = {remote.lower(): remote for remote in remotes}
    close = folded.get(name.lower()) or next(iter(difflib.get_close_matches(name, remotes, n=1, cutoff=0.6)), None)
    if close:
        return f"{message}; did you mean '{close}'?"
    if remotes:
        return f"{message}; remotes there: {', '.join(remotes)}"
    return f"{message}, which has no remotes (make one with: python scripts/backup_system.py rclone config)"


def listed_remotes(options, log):
    """The remotes of the config file rclone reads and those the environment defines; None when rclone cannot
    list them (an encrypted file without its password): then nothing is said."""
    listed = run_rclone(options, ["listremotes", "--ask-password=false"], log)
    return None if listed is None else [line.strip().removesuffix(":") for line in listed
                                        if line.strip().endswith(":")]


def config_file_read(options, log):
    """The config file rclone reads: rclone_config, else $RCLONE_CONFIG, else rclone's own default, which
    `rclone config file` prints on its last line."""
    lines = run_rclone(options, ["config", "file"], log)
    return next((line.strip() for line in reversed(lines or []) if line.strip()), "rclone's default file")


def run_rclone(options, words, log):
    """The output lines of a local rclone command (no server is contacted), or None when it fails."""
    from ... import proc
    from ...errors import TransportError
    from .command import config_option, rclone_binary

    lines = []
    try:
        ran = proc.run([rclone_binary(options), *config_option(options), *words], timeout=LOCAL_CHECK_TIMEOUT,
                       log=log, secrets=[value for value in options.rclone_env.values() if value],
                       env=options.rclone_env, on_line=lines.append)
    except TransportError:
        return None  # no rclone: the run says so
    return lines if ran.returncode == 0 else None


def is_password(key):
    return key.endswith(PASSWORD_ENDINGS) and key not in PLAIN_PASSWORDS


def looks_obscured(value):
    """rclone's obscured form: unpadded base64url of at least 16 bytes (what `rclone reveal` accepts)."""
    import base64
    import binascii
    import re

    text = str(value)
    if "${" in text:
        return True  # a variable not set here: nothing to tell
    if not re.fullmatch(r"[A-Za-z0-9_-]+", text):
        return False
    try:
        return len(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))) >= 16
    except (binascii.Error, ValueError):
        return False
