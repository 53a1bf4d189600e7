"""The configuration: schema (every key once), load (YAML and its cache), validate, reference (docs, show).

    from backup_system.config import load_config
    config = load_config("config/config.yaml")      # a frozen Config, or one ConfigError line

Only what every run needs is imported here; `effective_config` and the reference on first use.
"""

from .load import load_config
from .schema import DEFAULT_CONFIG, Config, Destination

__all__ = ["load_config", "Config", "Destination", "DEFAULT_CONFIG", "effective_config", "reference_markdown",
           "REFERENCE_BEGIN", "REFERENCE_END"]
_LATER = {"effective_config": "reference", "reference_markdown": "reference", "REFERENCE_BEGIN": "reference",
          "REFERENCE_END": "reference", "suggestion": "validate"}


def __getattr__(name):
    if name not in _LATER:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{_LATER[name]}"), name)
