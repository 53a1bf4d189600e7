"""Checking raw YAML data against the schema and building the frozen Config.

Each value is converted by its field's kind (`kind_<kind>`, values.py); a destination's own keys are
checked against its transport's fields, and then by that transport's rules (`check`); a
notifier's own keys likewise against its type's (notifiers/<type>.py).
"""

import os
import re

from ..errors import ConfigError
from ..locations import is_inside
from .load import dotted
from .schema import (
    CORE_FIELDS,
    DEFAULT_SOURCES,
    DESTINATION,
    FIELDS,
    NOTIFIER,
    PROJECT_CONFIG_FOLDER,
    SOURCE_PATH_SUFFIX,
    Compression,
    Config,
    Destination,
    Notifier,
    Pipeline,
    SourceSpec,
    leaf_names,
)
from .values import ValueReader, VariableError, describe

CORE_DESTINATION_KEYS = leaf_names(DESTINATION, CORE_FIELDS)
CORE_NOTIFIER_KEYS = leaf_names(NOTIFIER)
FIELD_BY_KEY = {spec.key: spec for spec in FIELDS}
PLAIN_WORD = re.compile(r"\w[\w.-]*")
KERNEL_FOLDERS = ("/proc", "/sys", "/dev")


def project_folder(config_folder):
    """The folder a default path is relative to: the one holding `config/` for a config file in a folder named
    config (<project>/config/config.yaml -> <project>), else the config file's own folder."""
    if os.path.basename(config_folder) == PROJECT_CONFIG_FOLDER:
        return os.path.dirname(config_folder)
    return config_folder


class Validator(ValueReader):
    """Checks raw YAML data against the schema and builds the frozen Config."""

    def __init__(self, path, lines):
        self.path = path
        self.lines = lines
        self.folder = os.path.dirname(os.path.abspath(path))
        self.project = project_folder(self.folder)
        self.lenient = False  # True: an unset variable stays as written (a destination that may never run)
        self.unresolved = {}  # destination name -> the error line of a variable it needs

    def error(self, at, message, kind=ConfigError):
        """A ConfigError located at the nearest line known for `at` (kept as its `at`)."""
        line = next((self.lines[at[:end]] for end in range(len(at), 0, -1) if at[:end] in self.lines), None)
        error = kind(f"{self.path}:{line}: {dotted(at)}: {message}" if line else
                     f"{self.path}: {dotted(at) + ': ' if at else ''}{message}")
        error.at = at
        return error

    def config(self, data):
        if not isinstance(data, dict) or "backups" not in data:
            raise self.error((), "no 'backups:' section (see docs/CONFIGURATION.md)")
        backups = self.mapping(data["backups"], ("backups",))
        pipeline = self.mapping(data.get("pipeline") or {}, ("pipeline",))
        top = self.section(backups, "backups", ("backups",))
        sources = self.sources(top["sources"] if "sources" in backups else self.default_sources())
        compression = self.section(top["compression"], "backups.compression", ("backups", "compression"))
        if not 1 <= compression["level"] <= 9:
            raise self.error(("backups", "compression", "level"), f"expected 1 to 9, got {compression['level']}")
        destinations = {
            str(name): self.destination(str(name), raw, sources)
            for name, raw in self.mapping(top["destinations"], ("backups", "destinations")).items()
        }
        pipeline = Pipeline(**self.section(pipeline, "pipeline", ("pipeline",)))
        self.check_name(top["name"])
        self.check_state_dir(top["state_dir"])
        if top["templates_dir"] and not os.path.isdir(top["templates_dir"]):
            raise self.error(("backups", "templates_dir"), f"{top['templates_dir']} is not a folder")
        return Config(self.path, top["enabled"], top["name"], top["log_file"], top["state_dir"], top["stale_after"],
                      sources, Compression(**compression), destinations, pipeline, top["notifications"],
                      top["templates_dir"], self.unresolved)

    def default_sources(self):
        """The sources of a config without `sources:`: data/csvs and data/results of the project folder."""
        return {name: {key: os.path.join(self.project, value) for key, value in spec.items()}
                for name, spec in DEFAULT_SOURCES.items()}

    def check_name(self, name):
        """The name becomes a file name in state_dir (`<name>.lock`): a plain word, never a path."""
        if not PLAIN_WORD.fullmatch(name):
            raise self.error(("backups", "name"), f"{name!r} is not a plain word: use letters, digits, '.', '_' "
                                                  f"or '-' (it names the lock file in state_dir)")

    def check_state_dir(self, state_dir):
        """A kernel file system (/proc, /sys, /dev) cannot hold the lock, the history or the run state."""
        real = os.path.realpath(state_dir)
        for system in KERNEL_FOLDERS:
            if is_inside(real, system):
                raise self.error(("backups", "state_dir"), f"{state_dir} is in {system}, a kernel file system: "
                                                           f"give a folder on a disk")

    def mapping(self, raw, at):
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            raise self.error(at, f"expected a mapping of keys, got {describe(raw)}")
        return raw

    def section(self, raw, section, at, fields=FIELDS, extra_keys=()):
        """Check each key of one mapping against `fields`; fill in defaults; return name -> value."""
        names = {spec.key[len(section) + 1:]: spec for spec in fields if spec.key.rpartition(".")[0] == section
                 and spec.name != "*" and "<" not in spec.key}
        values = {}
        for key, value in raw.items():
            key = str(key)
            if key in names:
                values[key] = self.value(names[key], value, at + (key,))
            elif key not in extra_keys:
                raise self.error(at + (key,), f"unknown key{suggestion(key, [*names, *extra_keys])}")
        for name, spec in names.items():
            if name not in values:
                values[name] = self.default(spec)
        return values

    # --- sources and destinations ------------------------------------------------------------------

    def sources(self, raw):
        sources = {}
        for name, source in raw.items():
            at = ("backups", "sources", str(name))
            values = self.section(self.mapping(source, at), "backups.sources.*", at)
            if (values["path"] is None) == (not values["roots"]):
                raise self.error(at, "give 'path' (one folder) or 'roots' (a list of folders), exactly one")
            if "/" in (values["path"], *values["roots"]):
                raise self.error(at, "the whole file system ('/') cannot be a source: name the folder to back up")
            if str(name) in ("", ".", "..") or "/" in str(name) or "\0" in str(name):
                raise self.error(at, f"{str(name)!r} cannot name a source: it becomes a folder name at "
                                     f"each destination")
            sources[str(name)] = SourceSpec(name=str(name), **values)
        return sources

    def destination(self, name, raw, sources):
        """One destination. A variable it needs that is unset (or empty, in a path) stops only the runs of this
        destination: it is loaded with the variable as written, and the error kept for when it runs."""
        try:
            return self.load_destination(name, raw, sources)
        except VariableError as error:
            self.lenient = True
            try:
                destination = self.load_destination(name, raw, sources)
            except ConfigError as other:  # another mistake is shown, not one that follows from the missing value
                raise (error if getattr(other, "at", None) == error.at else other) from None
            finally:
                self.lenient = False
            self.unresolved[name] = str(error)
            return destination

    def load_destination(self, name, raw, sources):
        """The keys every destination has, then its transport's own, then that transport's rules."""
        from ..transports import entry, registry

        at = ("backups", "destinations", name)
        raw = self.mapping(raw, at)
        path_keys = [str(key) for key in raw if str(key).endswith(SOURCE_PATH_SUFFIX) and str(key) != "base_path"]
        core_raw = {key: value for key, value in raw.items() if str(key) in CORE_DESTINATION_KEYS}
        own_raw = {str(key): value for key, value in raw.items() if key not in core_raw and str(key) not in path_keys}
        self.check_known(own_raw, at, registry())
        values = self.section(core_raw, DESTINATION, at, CORE_FIELDS)
        paths = self.source_paths(raw, path_keys, sources, at)
        for index, source in enumerate(values["sources"] or ()):
            if source not in sources:
                raise self.error(at + ("sources", index), f"no source named '{source}'{suggestion(source, sources)}")
        transport = entry(values["type"]) if values["type"] else self.claimant(raw, values, paths, at)
        self.check_type_keys(transport, own_raw, at)
        options = transport.options(**self.section(own_raw, DESTINATION, at, transport.fields))
        destination = Destination(name=name, paths=paths, **{**values, "type": transport.name}, options=options)
        return transport.check(destination, sources, lambda keys, message: self.error(at + keys, message))

    def source_paths(self, raw, path_keys, sources, at):
        """{source: location} from the `<source>_path` keys."""
        path_field = FIELD_BY_KEY[f"{DESTINATION}.<source>{SOURCE_PATH_SUFFIX}"]
        paths = {}
        for key in path_keys:
            source = key[: -len(SOURCE_PATH_SUFFIX)]
            if source not in sources:
                raise self.error(at + (key,), f"names no source '{source}'; sources are: {', '.join(sources)}")
            paths[source] = self.value(path_field, raw[key], at + (key,))
        return paths

    def check_known(self, own_raw, at, entries):
        known = [*CORE_DESTINATION_KEYS, *(spec.name for entry in entries for spec in entry.fields)]
        for key in own_raw:
            if key not in known:
                raise self.error(at + (key,), f"unknown key{suggestion(key, known)}")

    def claimant(self, raw, values, paths, at):
        """The first transport that claims a destination without `type:`."""
        from ..transports import registry

        locations = [location for location in (values["base_path"], *paths.values()) if location]
        for transport in registry():
            if transport.claims(raw, locations):
                return transport
        raise self.error(at, "cannot tell the destination's type: give base_path (a path or smb:// URL), "
                             "remote (rclone), or type")

    def check_type_keys(self, transport, own_raw, at):
        from ..transports import registry

        for key in own_raw:
            if not any(spec.name == key for spec in transport.fields):
                owners = [other.name for other in registry() if any(spec.name == key for spec in other.fields)]
                raise self.error(at + (key,), f"'{key}' is for {'/'.join(owners)} destinations, "
                                              f"this one is {transport.name}")


    def notifier(self, raw, at):
        """The keys every notifier has, then its type's own, then that type's rules."""
        from ..notifiers import NOTIFIER_TYPES
        from ..notifiers.registry import attribute, entry

        # YAML 1.1 reads a bare `on` as true: as a notifier's key it can only mean `on`
        raw = {"on" if key is True else str(key): value for key, value in self.mapping(raw, at).items()}
        values = self.section({key: value for key, value in raw.items() if key in CORE_NOTIFIER_KEYS}, NOTIFIER, at)
        if values["name"] is None or values["type"] is None:
            raise self.error(at, "'name' and 'type' are required; types are: " + ", ".join(NOTIFIER_TYPES))
        kind = entry(values["type"])
        own_raw = {key: value for key, value in raw.items() if key not in CORE_NOTIFIER_KEYS}
        self.check_notifier_keys(kind, own_raw, at)
        options = self.section(own_raw, NOTIFIER, at, kind.fields)
        for spec in kind.fields:
            if spec.required and options[spec.name] is None:
                raise self.error(at, f"'{spec.name}' is required for a{'n' if kind.name[0] in 'ae' else ''} "
                                     f"{kind.name} notifier")
        values["on"] = kind.default_on if values["on"] is None else values["on"]
        notifier = Notifier(**values, options=kind.options(**{attribute(key): item for key, item in options.items()}))
        return kind.check(notifier, lambda keys, message: self.error(at + keys, message))

    def check_notifier_keys(self, kind, own_raw, at):
        """Each key belongs to this notifier's type: a refused key says why, another type's key says whose."""
        from ..notifiers.registry import type_fields

        for key in own_raw:
            if key in kind.misplaced:
                raise self.error(at + (key,), kind.misplaced[key])
            if any(spec.name == key for spec in kind.fields):
                continue
            owners = next((spec.types for spec in type_fields() if spec.name == key), ())
            if owners:
                raise self.error(at + (key,), f"'{key}' is for {'/'.join(owners)} notifiers, this one is {kind.name}")
            known = [*CORE_NOTIFIER_KEYS, *(spec.name for spec in kind.fields)]
            raise self.error(at + (key,), f"unknown key{suggestion(key, known)}")


def check_locations(destination, sources, fail):
    """A destination that sends to paths needs base_path, or a <source>_path for each source it receives."""
    received = destination.sources or tuple(sources)
    if not destination.base_path and any(source not in destination.paths for source in received):
        article = "an" if destination.type[:1] in "aeiors" else "a"  # an rsync, an smb, a copy
        raise fail((), f"'base_path' is required for {article} {destination.type} destination "
                       f"(or a <source>_path for each of its sources)")


def suggestion(word, candidates):
    import difflib

    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
