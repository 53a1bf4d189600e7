"""Reading a config file: YAML with each key's line number, from a private marshal copy while unchanged."""

import os
import stat

from ..errors import ConfigError
from .schema import DEFAULT_CONFIG, Config

CACHE_VERSION = 1
MAX_CONFIG_BYTES = 4 * 1024 * 1024  # a config is a few KB; /dev/zero or a log given by mistake is not read whole


def load_config(path=None):
    """Read, validate and resolve a config file; raise ConfigError with one line on any mistake."""
    if isinstance(path, Config):
        return path
    from .validate import Validator

    path = os.fspath(path) if path is not None else os.environ.get("BACKUP_SYSTEM_CONFIG") or DEFAULT_CONFIG
    data, lines = read_cached(path)
    return Validator(path, lines).config(data)


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
        readable = os.access(path, os.R_OK) and stat.S_ISREG(info.st_mode) and info.st_size <= MAX_CONFIG_BYTES
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

    text = read_bytes(path)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as error:
        line, message = explain_yaml(error, text.decode("utf-8", "replace").splitlines())
        raise ConfigError(f"{path}:{f'{line}:' if line else ''} invalid YAML: {message}") from None
    except yaml.reader.ReaderError as error:
        raise ConfigError(f"{path}: not a YAML text file: {error.reason} (at position {error.position})") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: invalid YAML: {' '.join(str(error).split())}") from None
    finally:
        loader.dispose()
    lines = {}
    if node is not None:
        _collect_lines(path, node, (), lines)
    return data, lines


def read_bytes(path):
    """The config file's bytes: a regular file of at most MAX_CONFIG_BYTES, or one ConfigError line.

    A device, a pipe or a socket is refused before it is opened (opening a pipe waits for a writer,
    reading /dev/zero never ends); a file is read in bounded pieces, so SIGTERM is acted on between them.
    """
    try:
        info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            raise ConfigError(f"{path}: is a folder, not a config file")
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(f"{path}: not a regular file (a device, pipe or socket), not a config file")
        if info.st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"{path}: {info.st_size} bytes, over the {MAX_CONFIG_BYTES // 2**20} MB a config "
                              f"file may have: is it the right file?")
        pieces, size = [], 0
        with open(path, "rb") as stream:
            while size <= MAX_CONFIG_BYTES and (piece := stream.read(64 * 1024)):
                pieces.append(piece)
                size += len(piece)
    except FileNotFoundError:
        raise ConfigError(missing_config(path)) from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror or error}") from None
    if size > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: over the {MAX_CONFIG_BYTES // 2**20} MB a config file may have: "
                          f"is it the right file?")
    return b"".join(pieces)


# PyYAML's words -> what to do, for the mistakes people make by hand; anything else keeps PyYAML's words
YAML_FIXES = {
    "found undefined alias": "a value starting with '*' is read as a YAML alias: quote it",
    "did not find expected key": "this line does not line up with the keys above it (indent keys of one mapping "
                                 "alike, and list items with '- ' alike)",
    "found unexpected end of stream": "the quote opened on this line is never closed",
    "did not find expected ',' or ']'": "the '[' list opened on this line is not closed with ']' (quote an item "
                                        "holding ', ' or ': ')",
    "did not find expected ',' or '}'": "the '{' mapping opened on this line is not closed with '}' (quote a value "
                                        "holding ', ' or ': ')",
    "found a tab character that violates indentation": "a tab: indent with spaces only",
}


def explain_yaml(error, lines):
    """(line number, plain message) of a YAML mistake: the line where it is, which is not always the line PyYAML
    stopped on (a key without ':' shows as an error on the next line; an unclosed quote at the end of the file)."""
    mark = error.problem_mark or error.context_mark
    if mark is None:
        return None, error.problem or error.context
    problem = error.problem or ""
    line = mark.line + 1
    if problem.startswith("mapping values are not allowed"):
        return explain_colon(lines, mark.line, mark.column)
    if problem in YAML_FIXES:
        context = error.context or ""
        opened = error.context_mark and ("while parsing a flow" in context or "quoted scalar" in context)
        return (error.context_mark.line + 1 if opened else line), YAML_FIXES[problem]
    if problem.startswith("found character") and 0 <= mark.line < len(lines):
        character = lines[mark.line][mark.column:mark.column + 1]
        if character == "\t":
            return line, YAML_FIXES["found a tab character that violates indentation"]
        return line, f"a value cannot start with {character!r}: quote it"
    return line, problem or error.context


def explain_colon(lines, index, column):
    """A ': ' where YAML allows none: a value holding ': ', a line indented under a `key: value`, or a key
    on the line above that has no ':'."""
    text = lines[index] if index < len(lines) else ""
    if ": " in text[:column] or text[:column].rstrip().endswith(":"):
        return index + 1, "a value holding ': ' must be quoted"
    above = next((number for number in range(index - 1, -1, -1)
                  if lines[number].strip() and not lines[number].lstrip().startswith("#")), None)
    if above is not None and ":" not in lines[above].split(" #")[0] and not lines[above].lstrip().startswith("- "):
        return above + 1, f"'{lines[above].strip()}' has no ':' after its key (key: value)"
    return index + 1, "this line is indented deeper than the key above it (keys of one mapping line up)"


def missing_config(path):
    """The line for a config path that is not there. A relative path is read from the current folder, which
    from Python (a notebook) is the notebook's folder: say so, and offer the same path found in a folder above."""
    if os.path.isabs(path):
        return f"{path}: no such config file (give --config PATH or set BACKUP_SYSTEM_CONFIG)"
    here = os.getcwd()
    found = next((os.path.relpath(os.path.join(folder, path)) for folder in _folders_above(here)
                  if os.path.isfile(os.path.join(folder, path))), None)
    hint = f"did you mean {found}? " if found else ""
    return (f"{path}: no such config file in {here}, the folder a relative path is read from; {hint}"
            f"give --config PATH or set BACKUP_SYSTEM_CONFIG (from Python: an absolute path, or one relative to "
            f"that folder)")


def _folders_above(folder):
    while os.path.dirname(folder) != folder:
        folder = os.path.dirname(folder)
        yield folder


def _collect_lines(path, node, at, lines, inside=()):
    if id(node) in inside:
        raise ConfigError(f"{path}:{node.start_mark.line + 1}: {dotted(at)}: a YAML alias that contains itself")
    inside = (*inside, id(node))
    if node.id == "mapping":
        seen = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                raise ConfigError(f"{path}:{key_node.start_mark.line + 1}: {dotted(at + (key,))}: duplicate key")
            seen.add(key)
            lines[at + (key,)] = key_node.start_mark.line + 1
            _collect_lines(path, value_node, at + (key,), lines, inside)
    elif node.id == "sequence":
        for index, item in enumerate(node.value):
            lines[at + (index,)] = item.start_mark.line + 1
            _collect_lines(path, item, at + (index,), lines, inside)


def dotted(at):
    return ".".join(str(part) for part in at)


