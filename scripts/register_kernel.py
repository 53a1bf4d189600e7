#!/usr/bin/env python3
"""Register this checkout's Python as the Jupyter kernel `backup-system`; `make setup` runs it every time.

Idempotent and quiet: a kernel of that name that already runs this Python is left alone (no
write, ~50 ms); none yet, or one another checkout registered, is (re)written to point here,
so the notebook always imports the backup_system of the checkout that ran `make setup` last.
Run it with the project's .venv Python: the kernel runs the Python that runs this script.
"""

import json
import os
import sys

NAME = "backup-system"
DISPLAY_NAME = "Python (backup-system)"


def registered():
    """(python, display name) of the user's kernel NAME, or (None, None) when there is none readable."""
    from jupyter_core.paths import jupyter_data_dir

    try:
        with open(os.path.join(jupyter_data_dir(), "kernels", NAME, "kernel.json"), encoding="utf-8") as stream:
            spec = json.load(stream)
        return spec["argv"][0], spec.get("display_name")
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None, None


def main():
    try:
        from ipykernel.kernelspec import install
    except ImportError:
        print("register_kernel: ipykernel is not installed in this Python (pip install -e '.[dev]')",
              file=sys.stderr)
        return 1
    if registered() != (sys.executable, DISPLAY_NAME):
        install(user=True, kernel_name=NAME, display_name=DISPLAY_NAME)
    return 0


if __name__ == "__main__":
    sys.exit(main())
