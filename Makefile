# backup_system: `make run` (back up, run the pipeline, back up again) and `make test`.
# Both set themselves up first: a virtualenv in .venv and the system tools they drive.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BACKUP := $(PY) scripts/backup_system.py
STAMP := $(VENV)/.installed
CONFIG ?= $(or $(BACKUP_SYSTEM_CONFIG),config/config.yaml)
# `make run`: what the config's enabled destinations drive (rsync, smbclient, ssh), printed by
# `python -m backup_system.config --tools`; `make test`: every program the test servers need.
TEST_TOOLS := rsync:rsync smbclient:smbclient samba:smbd openssh-server:sshd openssh-client:ssh zip:zip \
	unzip:unzip cron:crontab

.PHONY: setup setup-test run backup backup-dry backup-smb backup-box backup-secured rclone test lint bench

setup: $(STAMP)
	@scripts/install_system_tools.sh $$($(PY) -m backup_system.config --tools "$(CONFIG)")
	@$(PY) scripts/register_kernel.py  # every time: the kernel backup-system runs this checkout's .venv
	@$(PY) -m compileall -q src  # byte-code ready, new modules too, even where PYTHONDONTWRITEBYTECODE is set

setup-test: $(STAMP)
	@scripts/install_system_tools.sh $(TEST_TOOLS)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

# PIPELINE="cmd args" wraps another command instead of the configured pipeline.command.
run: setup
	$(BACKUP) run $(if $(PIPELINE),--pipeline "$$PIPELINE")

backup: setup
	$(BACKUP)

backup-dry: setup
	$(BACKUP) --dry-run

backup-smb: setup
	$(BACKUP) --smb-only

backup-box: setup
	$(BACKUP) --box-only

backup-secured: setup
	$(BACKUP) --secured-only

# The pinned rclone (.venv/bin/rclone): make rclone ARGS="config", make rclone ARGS="obscure", ...
rclone: setup
	@$(BACKUP) rclone $(ARGS)

test: setup-test
	$(PY) -m pytest -q

lint: $(STAMP)
	$(PY) -m ruff check src tests scripts bench

bench: setup
	@$(PY) -m compileall -q src
	$(PY) bench/run.py
