"""Destinations and jobs for the unit tests, with every key the schema does not set here at its default."""

from backup_system.config.schema import CORE_FIELDS, DESTINATION, Destination
from backup_system.transports import entry


def destination(type, name="dest", **keys):
    """A Destination of `type`; keys may be core keys (base_path, timeout, ...) or the transport's own."""
    transport = entry(type)
    options = {spec.name: spec.default for spec in transport.fields}
    core = dict.fromkeys(Destination._fields)
    core.update({spec.name: spec.default for spec in CORE_FIELDS if spec.key.startswith(DESTINATION + ".")
                 and spec.name in core})
    core.update(name=name, type=type, paths={}, enabled=True, timeout=60)
    for key, value in keys.items():
        (options if key in options else core)[key] = value
    core["options"] = transport.options(**options)
    return Destination(**core)
