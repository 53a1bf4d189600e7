#!/usr/bin/env python3
"""Run backup_system from a checkout without installing or activating anything.

Finds the package in ../src. Started by any Python other than the project's .venv, it
re-runs itself under the .venv when there is one; otherwise it goes on when this Python
has the dependencies, and says to run `make setup` when it has not.
"""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "src"))

VENV = os.path.join(ROOT, ".venv")
HANDED_OVER = os.environ.pop("BACKUP_SYSTEM_REEXEC", None)  # popped: the pipeline's own runs start afresh


def dependencies_missing():
    try:
        import yaml  # noqa: F401
    except ImportError:
        return True
    return False


# Under the project's own .venv all is installed; any other Python hands over to it when it
# exists, so every run uses the environment `make setup` built and tested.
if os.path.realpath(sys.prefix) != os.path.realpath(VENV):
    venv_python = os.path.join(VENV, "bin", "python")
    if os.path.exists(venv_python) and not HANDED_OVER:
        os.environ["BACKUP_SYSTEM_REEXEC"] = "1"
        os.execv(venv_python, [venv_python, os.path.abspath(__file__), *sys.argv[1:]])
    if dependencies_missing():
        print("backup_system: its Python packages are missing: run make setup first", file=sys.stderr)
        sys.exit(2)

from backup_system.cli import main  # noqa: E402

sys.exit(main())
