"""The one configuration schema: every core key, its kind and default; each transport adds its own.

`FIELDS` holds the keys every config has; a transport's keys live beside the transport
(`transports/<name>/options.py`), a notifier type's beside its delivery (`notifiers/<type>.py`),
and both join through their registries (`all_fields()`), so each default is written down once. Validation, `config show` and the reference in
docs/CONFIGURATION.md all read from here. The rest of the code sees frozen named tuples.

Only `collections` is imported: this module is on every run's path.
"""

from collections import namedtuple

from ..notifiers import EVENTS, NOTIFIER_TYPES
from ..transports import TRANSPORT_NAMES

DEFAULT_CONFIG = "config/config.yaml"
# A config file in a folder of this name is a project's: its default paths are the project's (the folder above).
PROJECT_CONFIG_FOLDER = "config"
SOURCE_PATH_SUFFIX = "_path"
DESTINATION = "backups.destinations.*"
NOTIFIER = "backups.notifications.*"
MAX_SECONDS = 10**8  # about three years; a timer's limit is not much further


class Field(namedtuple("Field", "key kind default help choices required secret types")):
    """One configuration key: dotted name (`*` stands for any name), kind, default, help."""

    __slots__ = ()

    @property
    def name(self):
        return self.key.rsplit(".", 1)[-1]


def field(key, kind, default=None, help="", choices=(), required=False, secret=False, types=()):
    return Field(key, kind, default, help, choices, required, secret, types)


def option(name, kind, default=None, help="", choices=(), secret=False):
    """A destination key that belongs to one transport; the registry fills in which."""
    return field(f"{DESTINATION}.{name}", kind, default, help, choices, secret=secret)


def notifier_option(name, kind, default=None, help="", choices=(), required=False, secret=False):
    """A notifier key that belongs to one notifier type; the registry fills in which."""
    return field(f"{NOTIFIER}.{name}", kind, default, help, choices, required, secret)


def options_tuple(type_name, fields):
    """The frozen view of one transport's keys: a named tuple with a field per key."""
    return namedtuple(type_name, [spec.name for spec in fields])


def defaults(options_type, fields):
    """A transport's options with every default, for a destination that borrows another's transport."""
    return options_type(**{spec.name: spec.default for spec in fields})


DEFAULT_SOURCES = {"csvs": {"path": "data/csvs"}, "results": {"path": "data/results"}}

CORE_FIELDS = (
    field("backups.enabled", "bool", True, "false: every backup command says so and exits 0"),
    field("backups.name", "str", "backup", "names the lock file (`<state_dir>/<name>.lock`) and messages; "
          "a plain word: letters, digits, `.`, `_`, `-`"),
    field("backups.log_file", "path", "logs/backup.log", "rotating log file (10 MB x 3)"),
    field("backups.state_dir", "path", ".backup_state",
          "folder for the lock, the run history and run state (not in /proc, /sys or /dev)"),
    field("backups.stale_after", "duration", "7d",
          "a destination with no successful backup for this long is `stale` (`status` exits 1): e.g. 26h, 7d, 90m"),
    field("backups.sources", "section", DEFAULT_SOURCES,
          "name -> folder to back up; absent: `csvs` = data/csvs and `results` = data/results of the project "
          "folder, as every default path (the folder holding config/ for a config file in a folder named config, "
          "else the config file's folder; a path you write is relative to the config file's folder)"),
    field("backups.sources.*.path", "path", None, "the folder to back up (not `/`)"),
    field("backups.sources.*.roots", "paths", (),
          "instead of `path`: each direct subfolder of each root is its own source `<name>/<child>`"),
    field("backups.sources.*.exclude", "strings", (), "glob patterns left out, e.g. `*.tmp`, by rsync's rules on "
          "every transport: no `/` is a file or folder at any depth, a trailing `/` folders only, a leading `/` "
          "anchors at the source folder"),
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
    field(f"{DESTINATION}.type", "choice", None,
          "inferred when absent, by the first transport that claims the destination: an smb:// URL -> smb, "
          "`remote` -> rclone, a path or user@host:/path -> rsync",
          choices=TRANSPORT_NAMES),
    field(f"{DESTINATION}.enabled", "bool", True, "false: said once, not run"),
    field(f"{DESTINATION}.base_path", "location", None,
          "source S lands at base_path/S: a path, user@host:/path, or smb://host/share/dir"),
    field(f"{DESTINATION}.create", "bool", False,
          "true: make base_path (or a <source>_path) when it is missing; false: a missing one fails the job, "
          "since it usually means a disk or share that is not mounted (folders below it are always made)"),
    field(f"{DESTINATION}.<source>_path", "location", None,
          "where one source lands instead of base_path/SOURCE, e.g. `csvs_path` for the source `csvs`"),
    field(f"{DESTINATION}.sources", "strings", None, "the sources this destination receives (default: all)"),
    field(f"{DESTINATION}.use_compression", "bool", None,
          "overrides compression.enabled for this destination"),
    field(f"{DESTINATION}.timeout", "number", 21600, "seconds one transfer command may run before it is stopped"),
    field(f"{DESTINATION}.connect_timeout", "number", 15,
          "seconds to wait for the server to answer a connection before the job fails as unreachable (and "
          "this destination's other jobs in the run fail at once with the same reason)"),
    field(f"{DESTINATION}.stall_timeout", "number", 120,
          "seconds with no answer from the server during a transfer before the job fails with \"the server "
          "stopped answering\""),
    field(f"{DESTINATION}.stale_after", "duration", None, "this destination's own stale_after (default: the global one)"),
    field(f"{DESTINATION}.versions", "bool", False,
          "true: before a backup overwrites a file at the destination, the old copy is kept in "
          "<target>-versions/<stamp>/ (a mirror always keeps what it replaces or deletes)"),
    field(f"{DESTINATION}.keep_days", "int", 180,
          "kept versions (what a mirror replaced or deleted, in <target>-versions/<stamp>/) older than this many "
          "days are removed by `prune`, by the date in their folder's name"),
    field(f"{DESTINATION}.prune", "choice", "auto",
          "auto: a backup prunes this destination's old versions at its end (at most once a day); manual: only "
          "the `prune` command does", choices=("auto", "manual")),
    field(f"{DESTINATION}.max_shrink", "number", 50,
          "percent: a mirror or bisync is refused, nothing touched, when its source lost more than this share "
          "of its files or bytes since the job's last success (or is missing or empty); --force runs it once"),
)
NOTIFICATION_FIELDS = (
    field("backups.templates_dir", "path", None,
          "a folder of your own message templates (notice_subject.txt.j2, notice.txt.j2, notice.html.j2, "
          "notice_slack.txt.j2, notice_teams.md.j2); one missing there comes from the package"),
    field("backups.notifications", "list", (),
          "notifiers: where a notice goes after a run (email, Teams, Slack, a webhook, a ping), each a "
          "mapping with name and type"),
    field(f"{NOTIFIER}.name", "str", None, "names the notifier in messages, the log and `notify test NAME`",
          required=True),
    field(f"{NOTIFIER}.type", "choice", None, "what kind of notifier, which decides its other keys",
          choices=NOTIFIER_TYPES, required=True),
    field(f"{NOTIFIER}.on", "choices", None,
          "the events it tells: success (the run's jobs all succeeded), failure (a job failed, or the pipeline "
          "of `run`), stale (after the run some destination/source pair is stale or never backed up); default "
          "[failure, stale], a ping's [success, failure]", choices=EVENTS),
    field(f"{NOTIFIER}.timeout", "number", 20, "seconds one notice may take before it is given up (a warning)"),
)
PIPELINE_FIELDS = (
    field("pipeline.command", "command", None, "the analysis command `make run` wraps (a string or a list; no shell)"),
    field("pipeline.workdir", "path", ".", "the folder the pipeline runs in (default: the project folder)"),
)
FIELDS = CORE_FIELDS + NOTIFICATION_FIELDS + PIPELINE_FIELDS


def all_fields():
    """Every key: the core ones, each transport's own, the notifiers' (common, then each type's), then the
    pipeline's; the order of the reference."""
    from ..notifiers.registry import type_fields
    from ..transports import registry

    return (CORE_FIELDS + tuple(spec for entry in registry() for spec in entry.fields) + NOTIFICATION_FIELDS
            + type_fields() + PIPELINE_FIELDS)


def leaf_names(section, fields=FIELDS):
    """The direct keys of one section, e.g. `backups.compression` -> enabled, format, ..."""
    prefix = section + "."
    return [spec.key[len(prefix):] for spec in fields
            if spec.key.startswith(prefix) and "." not in spec.key[len(prefix):] and "<" not in spec.key]


class Destination(namedtuple("Destination", ["name", "paths", *leaf_names(DESTINATION), "options"])):
    """One destination: the keys every destination has, and `options`, its transport's own keys."""

    __slots__ = ()

    @property
    def direction(self):
        """push, pull or bisync; only a transport that can bring files down offers anything but push."""
        return getattr(self.options, "direction", "push")


class Notifier(namedtuple("Notifier", [*leaf_names(NOTIFIER), "options"])):
    """One notifier: the keys every notifier has (`on` filled in by its type when not given), and `options`,
    its type's own keys (`from` is `options.from_`, a Python keyword)."""

    __slots__ = ()


Config = namedtuple("Config", "path enabled name log_file state_dir stale_after sources compression destinations "
                               "pipeline notifications templates_dir unresolved", defaults=(None,))
Config.__doc__ = ("A loaded config. `unresolved`: destination name -> the error line of a ${VAR} it needs that is unset "
                  "(or empty, in a path), raised only when that destination runs (None: none).")
SourceSpec = namedtuple("SourceSpec", ["name", *leaf_names("backups.sources.*")])
Compression = namedtuple("Compression", leaf_names("backups.compression"))
Pipeline = namedtuple("Pipeline", leaf_names("pipeline"))
