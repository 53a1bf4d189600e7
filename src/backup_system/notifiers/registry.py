"""The notifier types as the config sees them: each type's keys, defaults and rules, from notifiers/<type>.py."""

import importlib
from collections import namedtuple

from . import NOTIFIER_TYPES

Entry = namedtuple("Entry", "name fields options default_on check misplaced")
Entry.__doc__ = ("One registered notifier type as the config sees it: its keys (Fields), the named tuple of their "
                 "values, the events it tells by default, check(notifier, fail) -> notifier, and "
                 "{key: why it is refused}.")
_entries = {}


def entry(name):
    """The registry entry of one notifier type, its module imported on first use."""
    if name not in _entries:
        module = importlib.import_module(f"{__package__}.{name}")
        fields = tuple(spec._replace(types=(name,)) for spec in module.FIELDS)
        _entries[name] = Entry(name, fields, options_tuple(f"{name.title()}Options", fields), module.DEFAULT_ON,
                               module.check, getattr(module, "MISPLACED", {}))
    return _entries[name]


def type_fields():
    """Every type's keys once, in the order of NOTIFIER_TYPES; a key several types share names them all."""
    merged = {}
    for name in NOTIFIER_TYPES:
        for spec in entry(name).fields:
            known = merged.get(spec.key)
            merged[spec.key] = known._replace(types=known.types + spec.types) if known else spec
    return tuple(merged.values())


def attribute(key):
    """The attribute of an options tuple that holds `key`: `from` is a Python keyword, so `from_`."""
    import keyword

    return f"{key}_" if keyword.iskeyword(key) else key


def options_tuple(type_name, fields):
    return namedtuple(type_name, [attribute(spec.name) for spec in fields])


def send(notifier, notice):
    """Deliver one notice through one notifier: what the far end answered, or NoticeFailed."""
    return importlib.import_module(f"{__package__}.{notifier.type}").send(notifier, notice)
