"""run: back up, run the analysis pipeline, back up again; EPILOG tells the user how it ends."""

import sys

from ..cli import error_document, exit_status
from ..errors import ConfigError, LockHeld
from . import backup, verb_parser

# The pipeline section of the shipped config/config.yaml, as the hint for a config without one shows it
# (tests/unit/test_commands.py checks that the two agree).
EXAMPLE_PIPELINE = 'pipeline: {command: "python3 scripts/pipeline/analyze.py", workdir: ..}'

EPILOG = """\
The after-backup runs even if the pipeline fails. Exit status: the pipeline's own when it
fails, else the worse of the two backups'. With --json, stdout holds one document: both
reports and the pipeline's outcome; the pipeline's own output goes to stderr."""


def parser():
    """`backup_system.py run`: the backup options and --pipeline."""
    run = verb_parser("run", EPILOG)
    backup.add_arguments(run)
    run.add_argument("--pipeline", metavar="CMD", help="the command to wrap (default: pipeline.command)")
    return run


def main(args):
    """Back up, run the pipeline, back up again; the pipeline's status if it failed, else the worse backup's."""
    import shlex

    from ..config import load_config
    from ..log import Log
    from ..proc import run_attached

    config = load_config(args.config)
    command = pipeline_command(args.pipeline, config)
    before = backup_around_pipeline(args, config, "run-before")
    log = Log(config.log_file, backup.console_level(args))
    log.info(f"running the pipeline in {config.pipeline.workdir}: {shlex.join(command)}")
    log.debug(f"run {command}")
    pipeline = run_attached(command, cwd=config.pipeline.workdir, output_to_stderr=args.json)
    log.info(f"pipeline {'ok' if pipeline == 0 else f'FAILED (exit {pipeline})'}")
    log.close()
    after = backup_around_pipeline(args, config, "run-after", (tuple(command), pipeline))
    if args.json:
        backup.print_json({"before": before[1], "pipeline": {"command": command, "exit_code": pipeline},
                           "after": after[1]})
    outcome = "ok" if pipeline == 0 else f"FAILED (exit {pipeline})"
    print(f"pipeline {outcome}; backup before: exit {before[0]}; backup after: exit {after[0]}", file=sys.stderr)
    return pipeline or max(before[0], after[0])


def backup_around_pipeline(args, config, trigger, pipeline=None):
    """(exit status, report data) of one backup; a held lock is reported and the pipeline still runs."""
    try:
        report = backup.run_backup_for(args, config, trigger, pipeline)
    except LockHeld as error:
        print(error, file=sys.stderr)
        document = error_document(error)
        return document["exit_code"], document
    if not args.json and (not args.quiet or not report.ok):
        print(report.summary())
        backup.print_verdict(report)
    return int(exit_status(report=report)), report.to_dict()


def pipeline_command(given, config):
    """The pipeline's argv: --pipeline split like a shell line, else pipeline.command from the config."""
    if given:
        import shlex

        try:
            return shlex.split(given)
        except ValueError as error:
            raise ConfigError(f"--pipeline: cannot split the command: {error}") from None
    if not config.pipeline.command:
        raise ConfigError(f"{config.path}: pipeline.command is not set; for the example analysis add  "
                          f"{EXAMPLE_PIPELINE}  or give --pipeline CMD (make run PIPELINE='CMD')")
    return list(config.pipeline.command)
