"""The schema read back for people: `config show`'s effective config and the generated option reference."""

from ..times import format_duration
from .schema import DESTINATION, SOURCE_PATH_SUFFIX, all_fields

REFERENCE_BEGIN = "<!-- generated from the config schema: do not edit -->"
REFERENCE_END = "<!-- end generated -->"


def effective_config(config):
    """The config with every default filled in, as plain data for `config show`; secrets redacted."""
    return {
        "backups": {
            "enabled": config.enabled,
            "name": config.name,
            "log_file": config.log_file,
            "state_dir": config.state_dir,
            "stale_after": format_duration(config.stale_after),
            "sources": {name: plain(source._asdict(), skip="name") for name, source in config.sources.items()},
            "compression": plain(config.compression._asdict()),
            "destinations": {name: shown_destination(item, config) for name, item in config.destinations.items()},
            "templates_dir": config.templates_dir,
            "notifications": [shown_notifier(item) for item in config.notifications],
        },
        "pipeline": plain(config.pipeline._asdict()),
    }


def shown_destination(destination, config):
    """The keys every destination has, its transport's own, then its <source>_path keys, each with the value a
    run uses where the config leaves it out (all sources, the global stale_after, ...); what is set of a secret
    as ***."""
    secret = {spec.name for spec in all_fields() if spec.key.startswith(DESTINATION) and spec.secret}
    values = destination._asdict()
    for key in ("name", "paths", "options"):
        values.pop(key)
    values.update(destination.options._asdict())
    values["sources"] = list(config.sources) if destination.sources is None else destination.sources
    values["stale_after"] = format_duration(destination.stale_after or config.stale_after)
    if destination.use_compression is None:
        values["use_compression"] = config.compression.enabled
    values.update(transport_effective(destination))
    values.update({f"{source}{SOURCE_PATH_SUFFIX}": path for source, path in destination.paths.items()})
    return {key: masked(value) if key in secret else plain(value) for key, value in values.items()}


def transport_effective(destination):
    """{key: the value a run uses} for the transport's keys left out, from its options module's `effective`."""
    import importlib

    module = importlib.import_module(f"backup_system.transports.{destination.type}.options")
    effective = getattr(module, "effective", None)
    return effective(destination.options) if effective else {}


def masked(value):
    """*** for what is set; a mapping keeps its keys (names, not secrets), each value ***; nothing set stays so."""
    if isinstance(value, dict):
        return {key: "***" if item else item for key, item in value.items()}
    return "***" if value else value


def shown_notifier(notifier):
    """The keys every notifier has, then its type's own under their config names; secrets as ***."""
    from ..notifiers.registry import attribute, entry

    values = {"name": notifier.name, "type": notifier.type, "on": list(notifier.on), "timeout": notifier.timeout}
    for spec in entry(notifier.type).fields:
        value = getattr(notifier.options, attribute(spec.name))
        values[spec.name] = masked(value) if spec.secret else plain(value)
    return values


def plain(value, skip=None):
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items() if key != skip}
    if isinstance(value, tuple):
        return [plain(item) for item in value]
    return value


def reference_markdown():
    """The option table for docs/CONFIGURATION.md, one row per field."""
    rows = ["| key | type | default | what it does |", "|---|---|---|---|"]
    for spec in all_fields():
        kind = spec.kind + (f" ({' / '.join(spec.choices)})" if spec.choices else "")
        if spec.types:
            kind += f"; {'/'.join(spec.types)} only"
        default = "" if spec.kind == "section" and spec.default == {} else format_default(spec.default)
        default = "required" if spec.required else default
        rows.append(f"| `{spec.key}` | {kind} | {default} | {spec.help} |")
    return "\n".join(rows) + "\n"


def format_default(value):
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


def rewrite_reference(doc_path):
    """Replace the generated block of docs/CONFIGURATION.md with the table from the schema."""
    with open(doc_path, encoding="utf-8") as stream:
        text = stream.read()
    head, _, rest = text.partition(REFERENCE_BEGIN)
    _, _, tail = rest.partition(REFERENCE_END)
    new = f"{head}{REFERENCE_BEGIN}\n{reference_markdown()}{REFERENCE_END}{tail}"
    with open(doc_path, "w", encoding="utf-8") as stream:
        stream.write(new)
    return new != text
