"""`python -m backup_system.config --reference [DOC]` rewrites the generated option table; without it, prints it."""

import sys

from .reference import reference_markdown, rewrite_reference

if sys.argv[1:2] == ["--reference"]:
    target = sys.argv[2] if len(sys.argv) > 2 else "docs/CONFIGURATION.md"
    print(f"{target}: {'rewritten' if rewrite_reference(target) else 'already up to date'}")
else:
    print(reference_markdown(), end="")
