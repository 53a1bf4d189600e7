"""The one configuration schema: every key, its type and default, validation, and the errors.

`FIELDS` is the only place a key or a default is written down. Validation, `config show`,
the sample config and the reference in docs/CONFIGURATION.md are all read from it.
The rest of the code sees frozen named tuples, never the raw YAML.

Only `os`, `re` and `collections` are imported at module level: this module is on every
run's path, and an everyday no-change run should add only a few tens of milliseconds to
rsync's own time (bench/run.py measures it). PyYAML is imported when a file is actually parsed.
"""

import os
import re
from collections import namedtuple

from .errors import ConfigError

DEFAULT_CONFIG = "config/config.yaml"
SOURCE_PATH_SUFFIX = "_path"
DESTINATION_TYPES = ("rsync", "smb", "rclone")


class Field(namedtuple("Field", "key kind default help choices required secret types")):
    """One configuration key: dotted name (`*` stands for any name), kind, default, help."""


def field(key, kind, default=None, help="", choices=(), required=False, secret=False, types=()):
    return Field(key, kind, default, help, choices, required, secret, types)


DEFAULT_SOURCES = {"csvs": {"path": "data/csvs"}, "results": {"path": "data/results"}}

FIELDS = (
    field("backups.enabled", "bool", True, "false: every backup command says so and exits 0"),
    field("backups.name", "str", "backup", "names the lock file (`<state_dir>/<name>.lock`) and messages"),
    field("backups.log_file", "path", "logs/backup.log", "rotating log file (10 MB x 3)"),
    field("backups.state_dir", "path", ".backup_state", "folder for the lock and run state"),
    field("backups.sources", "section", DEFAULT_SOURCES,
          "name -> folder to back up; absent: `csvs` = data/csvs and `results` = data/results"),
    field("backups.sources.*.path", "path", None, "the folder to back up"),
    field("backups.sources.*.roots", "paths", (),
          "instead of `path`: each direct subfolder of each root is its own source `<name>/<child>`"),
    field("backups.sources.*.exclude", "strings", (), "glob patterns left out, e.g. `*.tmp` (rsync's pattern rules; rclone reads them as its own filters)"),
    field("backups.compression", "section", {}, "the archive stage (default off)"),
    field("backups.compression.enabled", "bool", False,
          "send zip/7z archives of each source instead of the tree (each destination's use_compression "
          "overrides it; --compress/--no-compress override both)"),
    field("backups.compression.format", "choice", "zip", "archive format", choices=("zip", "7z")),
    field("backups.compression.output_dir", "path", "backups_compressed",
          "where archives are built: <output_dir>/<source>/<source>-<YYYYmmdd-HHMMSS>.<zip|7z>"),
    field("backups.compression.level", "int", 6, "compression level: zip 1-9, 7z 1-9"),
    field("backups.compression.keep", "int", 5, "newest archives kept per source in output_dir (older ones are "
          "deleted there, never at a destination)"),
    field("backups.destinations", "section", {}, "name -> where to send the sources"),
    field("backups.destinations.*.type", "choice", None,
          "inferred when absent: an smb:// URL -> smb, `remote` -> rclone, a path or user@host:/path -> rsync",
          choices=DESTINATION_TYPES),
    field("backups.destinations.*.enabled", "bool", True, "false: said once, not run"),
    field("backups.destinations.*.base_path", "location", None,
          "source S lands at base_path/S: a path, user@host:/path, or smb://host/share/dir"),
    field("backups.destinations.*.<source>_path", "location", None,
          "where one source lands instead of base_path/SOURCE, e.g. `csvs_path` for the source `csvs`"),
    field("backups.destinations.*.sources", "strings", None, "the sources this destination receives (default: all)"),
    field("backups.destinations.*.use_compression", "bool", None,
          "overrides compression.enabled for this destination"),
    field("backups.destinations.*.timeout", "number", 21600, "seconds one transfer command may run before it is stopped"),
    field("backups.destinations.*.keep_partial", "bool", True,
          "keep an interrupted file in .rsync-partial at the destination and resume it next run", types=("rsync",)),
    field("backups.destinations.*.ssh_command", "strings", None,
          "for user@host:/path: the ssh command as a list, e.g. [ssh, -p, '2222']", types=("rsync",)),
    field("backups.destinations.*.rsync_options", "strings", (),
          "extra rsync arguments, e.g. ['--bwlimit=20m']", types=("rsync",)),
    field("backups.destinations.*.remote", "str", None, "the rclone remote's name, e.g. Box-Folder", types=("rclone",)),
    field("backups.destinations.*.folder", "str", "",
          "folder inside the remote; may hold {source} (and {name} for a roots child), e.g. lab-{source}",
          types=("rclone",)),
    field("backups.destinations.*.direction", "choice", "push",
          "push: local to remote; pull: remote to local; bisync: both ways (rclone bisync)",
          choices=("push", "pull", "bisync"), types=("rclone",)),
    field("backups.destinations.*.mode", "choice", "copy",
          "copy: nothing is deleted; mirror: rclone sync, with what it deletes or overwrites kept in a dated "
          "backup folder", choices=("copy", "mirror"), types=("rclone",)),
    field("backups.destinations.*.flags", "strings", (), "extra rclone flags, e.g. ['--s3-storage-class', "
          "'DEEP_ARCHIVE']", types=("rclone",)),
    field("backups.destinations.*.transfers", "int", 8, "files rclone sends side by side (--transfers; 8 beat "
          "rclone's 4 on many small files in bench/rclone.py)",
          types=("rclone",)),
    field("backups.destinations.*.checkers", "int", 8, "files rclone compares side by side (--checkers)",
          types=("rclone",)),
    field("backups.destinations.*.rclone_binary", "program", None,
          "the rclone program: a name looked up on PATH, or a path (relative to the config folder); "
          "default: the pinned one in the project's .venv, else rclone on PATH",
          types=("rclone",)),
    field("backups.destinations.*.rclone_config", "path", None,
          "rclone config file; default: rclone's own (~/.config/rclone/rclone.conf)", types=("rclone",)),
    field("backups.destinations.*.rclone_env", "mapping", {},
          "environment for rclone, for secrets: e.g. RCLONE_CONFIG_BOX_TOKEN: ${BOX_TOKEN}; never shown",
          secret=True, types=("rclone",)),
    field("backups.destinations.*.credentials_file", "path", None,
          "smbclient credentials file (lines username=, password=, optional domain=); must be chmod 600. "
          "Absent: a guest session", types=("smb",)),
    field("backups.destinations.*.remote_dir", "str", None,
          "with base_path //host/share: the folder inside the share", types=("smb",)),
    field("backups.destinations.*.port", "int", 445, "the SMB server's TCP port", types=("smb",)),
    field("backups.destinations.*.smbclient_options", "strings", (),
          "extra smbclient arguments, e.g. ['--option=client max protocol=SMB3']", types=("smb",)),
    field("backups.destinations.*.method", "choice", "auto",
          "auto: rsync to the mount point when the share is mounted here (cifs in /proc/mounts), else smbclient",
          choices=("auto", "smbclient", "mount"), types=("smb",)),
    field("backups.destinations.*.sessions", "int", 4, "smbclient sessions that upload side by side", types=("smb",)),
    field("backups.destinations.*.remove_from_local", "bool", False,
          "after a job, delete the local files whose copy on the server a fresh listing confirmed "
          "(same size and time); never in a dry run", types=("smb",)),
    field("pipeline.command", "command", None, "the analysis command `make run` wraps (a string or a list; no shell)"),
    field("pipeline.workdir", "path", ".", "the folder the pipeline runs in"),
)

Config = namedtuple("Config", "path enabled name log_file state_dir sources compression destinations pipeline")


def _leaf_names(section):
    prefix = section + "."
    return [f.key[len(prefix):] for f in FIELDS
            if f.key.startswith(prefix) and "." not in f.key[len(prefix):] and not f.key.endswith(">" + SOURCE_PATH_SUFFIX)]


# The typed, frozen views the rest of the code reads: their fields are the schema's keys.
Destination = namedtuple("Destination", ["name", "paths", *_leaf_names("backups.destinations.*")])
SourceSpec = namedtuple("SourceSpec", ["name", *_leaf_names("backups.sources.*")])
Compression = namedtuple("Compression", _leaf_names("backups.compression"))
Pipeline = namedtuple("Pipeline", _leaf_names("pipeline"))
FIELD_BY_KEY = {f.key: f for f in FIELDS}


def load_config(path=None):
    """Read, validate and resolve a config file; raise ConfigError with one line on any mistake."""
    if isinstance(path, Config):
        return path
    path = os.fspath(path) if path is not None else os.environ.get("BACKUP_SYSTEM_CONFIG") or DEFAULT_CONFIG
    data, lines = read_cached(path)
    return Validator(path, lines).config(data)


CACHE_VERSION = 1


def read_cached(path):
    """read_yaml's answer, from a marshal copy while the file is unchanged.

    Importing PyYAML and parsing costs ~15 ms, a third of what an everyday no-change run
    may add to rsync; marshal is built in and loads the copy in well
    under a millisecond. The copy is keyed by the file's path, size, inode and mtime in ns,
    and holds the raw data only: ${VAR} expansion and validation still run every time.
    """
    import marshal

    try:
        info = os.stat(path)
        readable = os.access(path, os.R_OK)
    except OSError:
        readable = False
    if not readable:
        return read_yaml(path)  # says precisely what is wrong
    key = (CACHE_VERSION, os.path.abspath(path), info.st_size, info.st_ino, info.st_mtime_ns)
    cache = _cache_path(key[1])
    try:
        with open(cache, "rb") as stream:
            cached_key, data, lines = marshal.load(stream)
        if cached_key == key:
            return data, lines
    except (OSError, EOFError, ValueError, TypeError):
        pass
    data, lines = read_yaml(path)
    try:
        os.makedirs(os.path.dirname(cache), mode=0o700, exist_ok=True)
        if os.path.lexists(cache + ".tmp"):
            os.remove(cache + ".tmp")
        # private: a config may hold a literal secret (rclone_env), and the copy holds all of it
        with os.fdopen(os.open(cache + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as stream:
            marshal.dump((key, data, lines), stream)
        os.replace(cache + ".tmp", cache)
    except (OSError, ValueError):
        pass  # no cache (read-only home, or YAML values marshal cannot hold such as dates): parse each time
    return data, lines


def _cache_path(absolute_path):
    import zlib

    home = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    name = f"{zlib.crc32(absolute_path.encode('utf-8', 'surrogateescape')):08x}-{os.path.basename(absolute_path)}"
    return os.path.join(home, "backup_system", "configs", name[:200] + ".marshal")


def read_yaml(path):
    """Parse YAML once, keeping each key's line number for error messages."""
    import yaml

    try:
        with open(path, "rb") as stream:
            text = stream.read()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file (give --config PATH or set BACKUP_SYSTEM_CONFIG)") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, not a config file") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror}") from None
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = f"{mark.line + 1}:" if mark else ""
        raise ConfigError(f"{path}:{line} invalid YAML: {error.problem or error.context}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: invalid YAML: {error}") from None
    finally:
        loader.dispose()
    lines = {}
    if node is not None:
        _collect_lines(path, node, (), lines)
    return data, lines


def _collect_lines(path, node, at, lines, inside=()):
    if id(node) in inside:
        raise ConfigError(f"{path}:{node.start_mark.line + 1}: {_dotted(at)}: a YAML alias that contains itself")
    inside = (*inside, id(node))
    if node.id == "mapping":
        seen = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                raise ConfigError(f"{path}:{key_node.start_mark.line + 1}: {_dotted(at + (key,))}: duplicate key")
            seen.add(key)
            lines[at + (key,)] = key_node.start_mark.line + 1
            _collect_lines(path, value_node, at + (key,), lines, inside)
    elif node.id == "sequence":
        for index, item in enumerate(node.value):
            lines[at + (index,)] = item.start_mark.line + 1
            _collect_lines(path, item, at + (index,), lines, inside)


def _dotted(at):
    return ".".join(str(part) for part in at)


class Validator:
    """Checks raw YAML data against FIELDS and builds the frozen Config."""

    def __init__(self, path, lines):
        self.path = path
        self.lines = lines
        self.folder = os.path.dirname(os.path.abspath(path))

    def error(self, at, message):
        """A ConfigError located at the nearest line known for `at`."""
        for end in range(len(at), 0, -1):
            if at[:end] in self.lines:
                return ConfigError(f"{self.path}:{self.lines[at[:end]]}: {_dotted(at)}: {message}")
        return ConfigError(f"{self.path}: {_dotted(at) + ': ' if at else ''}{message}")

    def config(self, data):
        if not isinstance(data, dict) or "backups" not in data:
            raise self.error((), "no 'backups:' section (see docs/CONFIGURATION.md)")
        backups = self.mapping(data["backups"], ("backups",))
        pipeline = self.mapping(data.get("pipeline") or {}, ("pipeline",))
        top = self.section(backups, "backups", ("backups",))
        sources = self.sources(top["sources"])
        compression = self.section(top["compression"], "backups.compression", ("backups", "compression"))
        if not 1 <= compression["level"] <= 9:
            raise self.error(("backups", "compression", "level"), f"expected 1 to 9, got {compression['level']}")
        destinations = {
            name: self.destination(name, raw, sources)
            for name, raw in self.mapping(top["destinations"], ("backups", "destinations")).items()
        }
        pipeline = Pipeline(**self.section(pipeline, "pipeline", ("pipeline",)))
        return Config(self.path, top["enabled"], top["name"], top["log_file"], top["state_dir"], sources,
                      Compression(**compression), destinations, pipeline)

    def mapping(self, raw, at):
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            raise self.error(at, f"expected a mapping of keys, got {_describe(raw)}")
        return raw

    def section(self, raw, section, at, extra_keys=()):
        """Check each key of one mapping against FIELDS; fill in defaults; return name -> value."""
        names = {f.key[len(section) + 1:]: f for f in FIELDS
                 if f.key.startswith(section + ".") and "." not in f.key[len(section) + 1:]}
        names = {name: spec for name, spec in names.items() if name != "*" and "<" not in name}
        values = {}
        for key, value in raw.items():
            key = str(key)
            if key in names:
                values[key] = self.value(names[key], value, at + (key,))
            elif key not in extra_keys:
                raise self.error(at + (key,), f"unknown key{_suggestion(key, [*names, *extra_keys])}")
        for name, spec in names.items():
            if name not in values:
                values[name] = self.default(spec)
        return values

    def value(self, spec, value, at):
        """Convert one value to its field's kind, or raise a located ConfigError."""
        convert = getattr(self, "kind_" + spec.kind)
        if value is None:
            return {} if spec.kind == "section" else self.default(spec)
        return convert(spec, value, at)

    def kind_section(self, spec, value, at):
        return self.mapping(value, at)

    def kind_bool(self, spec, value, at):
        if not isinstance(value, bool):
            raise self.error(at, f"expected true or false, got {_describe(value)}")
        return value

    def kind_number(self, spec, value, at):
        # `not value <= MAX_SECONDS` also refuses .nan; beyond it, a timer cannot be set
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0 or not value <= MAX_SECONDS:
            raise self.error(at, f"expected a positive number up to {MAX_SECONDS}, got {_describe(value)}")
        return value

    def kind_int(self, spec, value, at):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise self.error(at, f"expected a positive whole number, got {_describe(value)}")
        return value

    def kind_str(self, spec, value, at):
        if isinstance(value, (dict, list, bool)):
            raise self.error(at, f"expected text, got {_describe(value)}")
        text = self.expand(str(value), at)
        if "\0" in text:
            raise self.error(at, "holds a NUL character, which no file name or command can")
        return text

    def kind_choice(self, spec, value, at):
        if value not in spec.choices:
            raise self.error(at, f"expected one of {', '.join(spec.choices)}, got {_describe(value)}")
        return value

    def kind_path(self, spec, value, at):
        return self.resolve(self.kind_str(spec, value, at))

    def default(self, spec):
        """A field's default; a relative default path is relative to the config folder too."""
        if spec.kind == "path" and spec.default is not None:
            return self.resolve(spec.default)
        return {} if spec.kind == "section" and spec.default is None else spec.default

    def kind_program(self, spec, value, at):
        """A bare name is looked up on PATH when run; anything with a slash or ~ is a path."""
        text = self.kind_str(spec, value, at)
        return self.resolve(text) if "/" in text or text.startswith("~") else text

    def kind_location(self, spec, value, at):
        text = self.kind_str(spec, value, at)
        if text.startswith("-"):
            raise self.error(at, f"{text!r} starts with '-', which the transfer program would read as an option")
        return text if is_remote_location(text) else self.resolve(text)

    def kind_strings(self, spec, value, at):
        if not isinstance(value, list):
            raise self.error(at, f"expected a list, got {_describe(value)}")
        return tuple(self.kind_str(spec, item, at + (index,)) for index, item in enumerate(value))

    def kind_mapping(self, spec, value, at):
        return {str(key): self.kind_str(spec, item, at + (str(key),))
                for key, item in self.mapping(value, at).items()}

    def kind_paths(self, spec, value, at):
        return tuple(self.resolve(item) for item in self.kind_strings(spec, value, at))

    def kind_command(self, spec, value, at):
        if isinstance(value, list):
            return self.kind_strings(spec, value, at)
        import shlex

        try:
            return tuple(shlex.split(self.kind_str(spec, value, at)))
        except ValueError as error:
            raise self.error(at, f"cannot split the command: {error}") from None

    def expand(self, text, at):
        """Expand ${VAR} from the environment, and ${CONFIG_DIR} to the config file's folder when the
        environment has no such variable; an unset variable is an error, not an empty string."""
        def lookup(match):
            name = match.group(1)
            if name == "CONFIG_DIR" and name not in os.environ:
                return self.folder
            if name not in os.environ:
                raise self.error(at, f"environment variable {name} is not set")
            return os.environ[name]

        return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", lookup, text) if "${" in text else text

    def resolve(self, text):
        """~ expands; a relative path is relative to the config file's folder."""
        return os.path.normpath(os.path.join(self.folder, os.path.expanduser(text)))

    def sources(self, raw):
        sources = {}
        for name, source in raw.items():
            at = ("backups", "sources", str(name))
            values = self.section(self.mapping(source, at), "backups.sources.*", at)
            if (values["path"] is None) == (not values["roots"]):
                raise self.error(at, "give 'path' (one folder) or 'roots' (a list of folders), exactly one")
            if str(name) in ("", ".", "..") or "/" in str(name) or "\0" in str(name):
                raise self.error(at, f"{str(name)!r} cannot name a source: it becomes a folder name at "
                                     f"each destination")
            sources[str(name)] = SourceSpec(name=str(name), **values)
        return sources

    def destination(self, name, raw, sources):
        at = ("backups", "destinations", str(name))
        raw = self.mapping(raw, at)
        path_keys = [str(key) for key in raw if str(key).endswith(SOURCE_PATH_SUFFIX) and str(key) != "base_path"]
        values = self.section(raw, "backups.destinations.*", at, extra_keys=path_keys)
        path_field = FIELD_BY_KEY["backups.destinations.*.<source>_path"]
        paths = {}
        for key in path_keys:
            source = key[: -len(SOURCE_PATH_SUFFIX)]
            if source not in sources:
                raise self.error(at + (key,), f"names no source '{source}'; sources are: {', '.join(sources)}")
            paths[source] = self.value(path_field, raw[key], at + (key,))
        for index, source in enumerate(values["sources"] or ()):
            if source not in sources:
                raise self.error(at + ("sources", index),
                                 f"no source named '{source}'{_suggestion(source, sources)}")
        values["type"] = values["type"] or self.infer_type(values, paths, at)
        if values["remote_dir"] and values["base_path"]:
            values["base_path"] = f"{values['base_path'].rstrip('/')}/{values['remote_dir'].strip('/')}"
        self.check_type_keys(values["type"], raw, at)
        self.check_required(values, paths, sources, at)
        return Destination(name=str(name), paths=paths, **values)

    def infer_type(self, values, paths, at):
        locations = [values["base_path"], *paths.values()]
        if any(location and is_smb_url(location) for location in locations):
            return "smb"
        if values["remote"]:
            return "rclone"
        if values["base_path"] or paths:
            return "rsync"
        raise self.error(at, "cannot tell the destination's type: give base_path (a path or smb:// URL), "
                             "remote (rclone), or type")

    def check_type_keys(self, kind, raw, at):
        for key in raw:
            spec = FIELD_BY_KEY.get(f"backups.destinations.*.{key}")
            if spec and spec.types and kind not in spec.types:
                raise self.error(at + (key,), f"'{key}' is for {'/'.join(spec.types)} destinations, "
                                              f"this one is {kind}")

    def check_required(self, values, paths, sources, at):
        kind = values["type"]
        if kind == "rclone":
            self.check_rclone(values, at)
            self.check_rclone_sources(values, sources, at)
            return
        received = values["sources"] or tuple(sources)
        if not values["base_path"] and any(source not in paths for source in received):
            raise self.error(at, f"'base_path' is required for an {kind} destination "
                                 f"(or a <source>_path for each of its sources)")


    def check_rclone(self, values, at):
        remote = values["remote"]
        if not remote:
            raise self.error(at, "'remote' is required for an rclone destination")
        if remote.startswith("-") or remote.strip() != remote:
            raise self.error(at + ("remote",), f"{remote!r}: a remote's name cannot start with '-' or a space")
        values["remote"] = remote.removesuffix(":")  # "Box-Folder:" as rclone prints it is Box-Folder
        if values["direction"] == "bisync" and values["mode"] == "mirror":
            raise self.error(at + ("mode",), "mode: mirror is for push and pull; bisync keeps both sides itself")
        if values["direction"] != "push" and values["use_compression"]:
            raise self.error(at + ("use_compression",), f"archives are sent only by a push; a {values['direction']} "
                                                        "needs the files themselves")
        if "{" in values["folder"] or "}" in values["folder"]:
            self.check_folder_template(values["folder"], at + ("folder",))
        for index, flag in enumerate(values["flags"]):
            self.check_rclone_flag(flag, at + ("flags", index))
        for key in values["rclone_env"]:
            if not key.startswith("RCLONE_"):
                raise self.error(at + ("rclone_env", key), "rclone reads only variables named RCLONE_..., "
                                                           "e.g. RCLONE_CONFIG_BOX_TOKEN")
            if key in RCLONE_LOG_VARIABLES:
                raise self.error(at + ("rclone_env", key), f"{key} would change the log backup_system reads to "
                                                           "count files; use -v, -q or --dry-run instead")

    def check_folder_template(self, folder, at):
        import string

        try:
            fields = [part[1:] for part in string.Formatter().parse(folder) if part[1] is not None]
        except ValueError as error:
            raise self.error(at, f"{folder!r}: {error}") from None
        for name, format_spec, conversion in fields:
            if name not in FOLDER_PLACEHOLDERS or format_spec or conversion:
                raise self.error(at, f"{folder!r}: the only placeholders are {{source}} and {{name}}")

    def check_rclone_flag(self, flag, at):
        name = flag.split("=", 1)[0]
        if name in RCLONE_LOG_FLAGS:
            raise self.error(at, f"{name} would change the log backup_system reads to count files; "
                                 "use -v, -q or --dry-run on backup_system's command line instead")
        if name.startswith("--") and any(word in name for word in RCLONE_SECRET_WORDS) \
                and not name.endswith(RCLONE_NOT_SECRET_ENDINGS):
            raise self.error(at, f"{name} would put a secret in rclone's arguments, which other users can read; "
                                 "set it in rclone_env (RCLONE_...) or in the rclone config file")

    def check_rclone_sources(self, values, sources, at):
        if values["direction"] == "push":
            return
        for name in values["sources"] or sources:
            if sources[name].roots:
                raise self.error(at + ("direction",), f"the source '{name}' is a list of roots, which only a push "
                                                      f"can send; give a {values['direction']} one folder (path)")


MAX_SECONDS = 10**8  # about three years; a timer's limit is not much further
FOLDER_PLACEHOLDERS = ("source", "name")
# rclone flags that would hide or reshape the JSON log the transport reads, or make every run a dry run
RCLONE_LOG_FLAGS = ("-q", "--quiet", "--log-level", "--log-file", "--log-format", "--use-json-log", "--syslog",
                    "--combined", "-n", "--dry-run", "-i", "--interactive")
# rclone reads each flag from RCLONE_<FLAG> too: --log-file is RCLONE_LOG_FILE
RCLONE_LOG_VARIABLES = tuple(f"RCLONE_{flag[2:].upper().replace('-', '_')}" for flag in RCLONE_LOG_FLAGS
                             if flag.startswith("--"))
RCLONE_SECRET_WORDS = ("pass", "secret", "token", "credentials", "-key-pem", "customer-key")
RCLONE_NOT_SECRET_ENDINGS = ("-command", "-file", "ask-password")  # a program or a file that holds the secret


def is_smb_url(location):
    return location.startswith(("smb://", "//"))


def is_remote_location(location):
    """True for smb:// URLs and rsync's [user@]host:path; a local path has no colon before its first slash."""
    if is_smb_url(location):
        return True
    head = location.split("/", 1)[0]
    return ":" in head and not location.startswith(("/", ".", "~"))


def _describe(value):
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def _suggestion(word, candidates):
    import difflib

    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def effective_config(config):
    """The config with every default filled in, as plain data for `config show`; secrets redacted."""
    def destination(item):
        values = item._asdict()
        values.pop("name")
        paths = values.pop("paths")
        values.update({f"{source}{SOURCE_PATH_SUFFIX}": path for source, path in paths.items()})
        return {key: redact(f"backups.destinations.*.{key}", value) for key, value in values.items()
                if applies(f"backups.destinations.*.{key}", item.type)}

    return {
        "backups": {
            "enabled": config.enabled,
            "name": config.name,
            "log_file": config.log_file,
            "state_dir": config.state_dir,
            "sources": {name: _plain(source._asdict(), skip="name") for name, source in config.sources.items()},
            "compression": _plain(config.compression._asdict()),
            "destinations": {name: destination(item) for name, item in config.destinations.items()},
        },
        "pipeline": _plain(config.pipeline._asdict()),
    }


def applies(key, destination_type):
    spec = FIELD_BY_KEY.get(key)
    return not (spec and spec.types and destination_type not in spec.types)


def redact(key, value):
    spec = FIELD_BY_KEY.get(key)
    return "***" if spec and spec.secret and value is not None else _plain(value)


def _plain(value, skip=None):
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items() if key != skip}
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    return value


def reference_markdown():
    """The option table for docs/CONFIGURATION.md, one row per field."""
    rows = ["| key | type | default | what it does |", "|---|---|---|---|"]
    for spec in FIELDS:
        kind = spec.kind + (f" ({' / '.join(spec.choices)})" if spec.choices else "")
        if spec.types:
            kind += f"; {'/'.join(spec.types)} only"
        default = "" if spec.kind == "section" and spec.default == {} else _format_default(spec.default)
        rows.append(f"| `{spec.key}` | {kind} | {default} | {spec.help} |")
    return "\n".join(rows) + "\n"


def _format_default(value):
    if value is None:
        return "—"
    if value == "":
        return '`""`'
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, tuple):
        return "`[]`"
    if isinstance(value, dict):
        return "see text"
    return f"`{value}`"


REFERENCE_BEGIN = "<!-- generated from config.py: do not edit -->"
REFERENCE_END = "<!-- end generated -->"


def rewrite_reference(doc_path):
    """Replace the generated block of docs/CONFIGURATION.md with the table from FIELDS."""
    with open(doc_path, encoding="utf-8") as stream:
        text = stream.read()
    head, _, rest = text.partition(REFERENCE_BEGIN)
    _, _, tail = rest.partition(REFERENCE_END)
    new = f"{head}{REFERENCE_BEGIN}\n{reference_markdown()}{REFERENCE_END}{tail}"
    with open(doc_path, "w", encoding="utf-8") as stream:
        stream.write(new)
    return new != text


if __name__ == "__main__":
    import sys

    if sys.argv[1:2] == ["--reference"]:
        target = sys.argv[2] if len(sys.argv) > 2 else "docs/CONFIGURATION.md"
        print(f"{target}: {'rewritten' if rewrite_reference(target) else 'already up to date'}")
    else:
        print(reference_markdown(), end="")
