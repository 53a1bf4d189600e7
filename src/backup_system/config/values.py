"""How one raw YAML value becomes a value of its field's kind (`kind_<kind>`), with ${VAR} expanded and relative
paths resolved; the Validator (validate.py) walks the structure and calls these."""

import os
import re

from ..errors import ConfigError
from ..locations import is_remote_location
from ..times import parse_duration
from .schema import MAX_SECONDS

PATH_KINDS = ("path", "paths", "location", "program")  # where a variable set to "" is a mistake, not a value


class VariableError(ConfigError):
    """A ${VAR} that is unset, or empty in a path: in a destination, it stops only the runs of that destination."""


class ValueReader:
    """The kinds of value. Needs from its subclass: error(at, message, kind), mapping(raw, at), notifier(raw, at),
    and the attributes folder, project and lenient."""

    def value(self, spec, value, at):
        """Convert one value to its field's kind, or raise a located ConfigError."""
        convert = getattr(self, "kind_" + spec.kind)
        if value is None:
            return {} if spec.kind == "section" else self.default(spec)
        return convert(spec, value, at)

    def default(self, spec):
        """A field's default; a relative default path is relative to the project folder (see project_folder)."""
        if spec.kind == "path" and spec.default is not None:
            return self.resolve(spec.default, self.project)
        if spec.kind == "duration" and spec.default is not None:
            return parse_duration(spec.default)
        return {} if spec.kind == "section" and spec.default is None else spec.default

    # --- the kinds of value ------------------------------------------------------------------------

    def kind_section(self, spec, value, at):
        return self.mapping(value, at)

    def kind_bool(self, spec, value, at):
        if not isinstance(value, bool):
            raise self.error(at, f"expected true or false, got {describe(value)}")
        return value

    def kind_number(self, spec, value, at):
        # `not value <= MAX_SECONDS` also refuses .nan; beyond it, a timer cannot be set
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0 or not value <= MAX_SECONDS:
            raise self.error(at, f"expected a positive number up to {MAX_SECONDS}, got {describe(value)}")
        return value

    def kind_int(self, spec, value, at):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise self.error(at, f"expected a positive whole number, got {describe(value)}")
        return value

    def kind_duration(self, spec, value, at):
        """Seconds, from a number of seconds or a count and a unit: 90m, 26h, 7d, 2w."""
        seconds = parse_duration(value)
        if seconds is None:
            raise self.error(at, f"expected a duration such as 90m, 26h or 7d, got {describe(value)}")
        return seconds

    def kind_str(self, spec, value, at):
        if isinstance(value, (dict, list, bool)):
            raise self.error(at, f"expected text, got {describe(value)}")
        text = self.expand(str(value), at, empty_ok=spec.kind not in PATH_KINDS)
        if "\0" in text:
            raise self.error(at, "holds a NUL character, which no file name or command can")
        return text

    def kind_choice(self, spec, value, at):
        if value not in spec.choices:
            raise self.error(at, f"expected one of {', '.join(spec.choices)}, got {describe(value)}")
        return value

    def kind_path(self, spec, value, at):
        return self.resolve(self.kind_str(spec, value, at))

    def kind_program(self, spec, value, at):
        """A bare name is looked up on PATH when run; anything with a slash or ~ is a path."""
        text = self.kind_str(spec, value, at)
        return self.resolve(text) if "/" in text or text.startswith("~") else text

    def kind_location(self, spec, value, at):
        text = self.kind_str(spec, value, at)
        if text.startswith("-"):
            raise self.error(at, f"{text!r} starts with '-', which the transfer program would read as an option")
        return text if is_remote_location(text) else self.resolve(text)

    def kind_strings(self, spec, value, at, numbers=False):
        """A list of text items; a number only where `numbers` (a command's arguments), never null or true."""
        if not isinstance(value, list):
            raise self.error(at, f"expected a list, got {describe(value)}")
        allowed = (str, int, float) if numbers else str
        for index, item in enumerate(value):
            if isinstance(item, bool) or not isinstance(item, allowed):
                hint = f" (quote it: '{item}')" if isinstance(item, (int, float)) and not isinstance(item, bool) else ""
                raise self.error(at + (index,), f"expected text, got {describe(item)}{hint}")
        return tuple(self.kind_str(spec, item, at + (index,)) for index, item in enumerate(value))

    def kind_mapping(self, spec, value, at):
        return {str(key): self.kind_str(spec, item, at + (str(key),))
                for key, item in self.mapping(value, at).items()}

    def kind_choices(self, spec, value, at):
        """A list of some of the field's choices."""
        return tuple(self.kind_choice(spec, item, at + (index,))
                     for index, item in enumerate(self.kind_strings(spec, value, at)))

    def kind_list(self, spec, value, at):
        """A list of typed entries: backups.notifications, each a notifier."""
        if not isinstance(value, list):
            raise self.error(at, f"expected a list of notifiers (each with name and type), got {describe(value)}")
        notifiers = []
        for index, raw in enumerate(value):
            notifier = self.notifier(raw, at + (index,))
            if any(other.name == notifier.name for other in notifiers):
                raise self.error(at + (index, "name"), f"a second notifier named '{notifier.name}'")
            notifiers.append(notifier)
        return tuple(notifiers)

    def kind_paths(self, spec, value, at):
        return tuple(self.resolve(item) for item in self.kind_strings(spec, value, at))

    def kind_command(self, spec, value, at):
        if isinstance(value, list):
            return self.kind_strings(spec, value, at, numbers=True)
        import shlex

        try:
            return tuple(shlex.split(self.kind_str(spec, value, at)))
        except ValueError as error:
            raise self.error(at, f"cannot split the command: {error}") from None

    def expand(self, text, at, empty_ok=True):
        """Expand ${VAR} from the environment, and ${CONFIG_DIR} to the config file's folder when the
        environment has no such variable; an unset variable is an error, not an empty string, and so is
        one set to "" unless `empty_ok` (in a path, "" would silently mean the config's folder)."""
        def lookup(match):
            name = match.group(1)
            if name == "CONFIG_DIR" and name not in os.environ:
                return self.folder
            if name not in os.environ:
                problem = f"environment variable {name} is not set"
            elif not empty_ok and not os.environ[name]:
                problem = f"environment variable {name} is set but empty, in a path"
            else:
                return os.environ[name]
            if self.lenient:
                return match.group(0)
            raise self.error(at, problem, VariableError)

        return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", lookup, text) if "${" in text else text

    def resolve(self, text, folder=None):
        """~ expands; a relative path is relative to the config file's folder (or to `folder`)."""
        return os.path.normpath(os.path.join(folder or self.folder, os.path.expanduser(text)))


def describe(value):
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)
