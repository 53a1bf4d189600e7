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
        mark = error.problem_mark or error.context_mark
        line = f"{mark.line + 1}:" if mark else ""
        raise ConfigError(f"{path}:{line} invalid YAML: {error.problem or error.context}") from None
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
        raise ConfigError(f"{path}: no such config file (give --config PATH or set BACKUP_SYSTEM_CONFIG)") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror or error}") from None
    if size > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: over the {MAX_CONFIG_BYTES // 2**20} MB a config file may have: "
                          f"is it the right file?")
    return b"".join(pieces)


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


