"""backup_system: config-driven backups of analysis outputs to rsync, rclone and SMB destinations.

    from backup_system import run_backup
    report = run_backup("config/config.yaml", only=["secured"], dry_run=True)
    report.ok, report.jobs     # and in Jupyter the report shows as a table

Names are imported on first use, so `import backup_system` stays cheap.
"""

__all__ = ["run_backup", "load_config", "BackupReport", "JobResult", "ConfigError", "LockHeld", "BackupError"]

_HOMES = {
    "run_backup": "runner",
    "load_config": "config",
    "BackupReport": "record",
    "JobResult": "record",
    "ConfigError": "errors",
    "LockHeld": "errors",
    "BackupError": "errors",
}


def __getattr__(name):
    if name not in _HOMES:
        raise AttributeError(f"module 'backup_system' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
