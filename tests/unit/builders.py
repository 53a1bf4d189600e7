"""Destinations and jobs for the unit tests, with every key the schema does not set here at its default."""

from backup_system.config.schema import Destination
from backup_system.transports import entry


def destination(type, name="dest", **keys):
    """A Destination of `type`; keys may be core keys (base_path, timeout, ...) or the transport's own."""
    transport = entry(type)
    options = {spec.name: spec.default for spec in transport.fields}
    core = dict.fromkeys(Destination._fields)
    core.update(name=name, type=type, paths={}, enabled=True, timeout=60, connect_timeout=15, stall_timeout=120)
    for key, value in keys.items():
        (options if key in options else core)[key] = value
    core["options"] = transport.options(**options)
    return Destination(**core)
