"""`python -m backup_system.config --reference [DOC]` rewrites the generated option table; without it, prints it.

`--tools [CONFIG]` prints the system packages (as package:command) the enabled destinations of a config
need, for `make setup`; nothing when the config does not load (the backup itself then says why).
"""

import sys

from .reference import reference_markdown, rewrite_reference

# What each transport drives; rclone is a Python dependency of the project, so nothing to install.
TOOLS = {"rsync": ("rsync:rsync",), "smb": ("smbclient:smbclient",), "rclone": ()}
SSH = "openssh-client:ssh"


def needed_tools(config):
    """package:command for every program the config's enabled destinations run, each once."""
    from ..locations import is_remote_location

    tools = {}
    for destination in config.destinations.values():
        if destination.enabled:
            tools.update(dict.fromkeys(TOOLS[destination.type]))
            locations = [destination.base_path, *destination.paths.values()]
            if destination.type == "rsync" and any(place and is_remote_location(place) for place in locations):
                tools[SSH] = None
    return list(tools)


def print_tools(path):
    import os

    from ..errors import BackupError
    from . import load_config

    try:
        config = load_config(path or os.environ.get("BACKUP_SYSTEM_CONFIG") or "config/config.yaml")
    except BackupError:
        return
    print(" ".join(needed_tools(config)))


if sys.argv[1:2] == ["--reference"]:
    target = sys.argv[2] if len(sys.argv) > 2 else "docs/CONFIGURATION.md"
    print(f"{target}: {'rewritten' if rewrite_reference(target) else 'already up to date'}")
elif sys.argv[1:2] == ["--tools"]:
    print_tools(sys.argv[2] if len(sys.argv) > 2 else None)
else:
    print(reference_markdown(), end="")
