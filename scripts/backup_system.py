#!/usr/bin/env python3
"""Run backup_system from a checkout without installing or activating anything.

Finds the package in ../src; when this Python lacks the dependencies, re-runs itself
under the project's .venv, or says to run `make setup` when there is none.
"""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "src"))

import importlib.util  # noqa: E402

if importlib.util.find_spec("yaml") is None:  # looked up, not imported: a run may not need to parse YAML
    venv_python = os.path.join(ROOT, ".venv", "bin", "python")
    if os.path.exists(venv_python) and not os.environ.get("BACKUP_SYSTEM_REEXEC"):
        os.environ["BACKUP_SYSTEM_REEXEC"] = "1"
        os.execv(venv_python, [venv_python, os.path.abspath(__file__), *sys.argv[1:]])
    print("backup_system: its Python packages are missing: run make setup first", file=sys.stderr)
    sys.exit(2)

from backup_system.cli import main  # noqa: E402

sys.exit(main())
