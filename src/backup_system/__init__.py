"""backup_system: config-driven backups of analysis outputs to rsync, rclone and SMB destinations.

    from backup_system import run_backup, restore
    report = run_backup("config/config.yaml", only=["secured"], dry_run=True)
    report.ok, report.jobs     # and in Jupyter the report shows as a table
    restore("config/config.yaml", from_="secured", to="restored", at="yesterday")

Names are imported on first use, so `import backup_system` stays cheap.
"""

__all__ = ["run_backup", "restore", "load_config", "BackupReport", "JobResult", "ConfigError", "LockHeld", "BackupError"]

_HOMES = {
    "run_backup": "runner",
    "restore": "restoring",
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
