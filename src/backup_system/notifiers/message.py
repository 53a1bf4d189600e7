"""The words of a notice, from Jinja2 templates: the package's (templates/notice*), or a lab's own in templates_dir.

Every template sees the same context (see `context_of`); a template missing from
templates_dir comes from the package. The texts hold no secret: what they show comes from the
run's record, whose errors the transports already masked, and is masked again with every
destination's secrets before it leaves.
"""

import os
import socket

from .notice import Notice, NoticeFailed

TEMPLATES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "templates")
TEMPLATE_NAMES = {"subject": "notice_subject.txt.j2", "text": "notice.txt.j2", "html": "notice.html.j2",
                  "slack": "notice_slack.txt.j2", "teams": "notice_teams.md.j2"}
VERDICTS = {"failure": "FAILED", "stale": "STALE", "success": "OK", "test": "TEST"}
FAILED_FILES_SHOWN = 50


def compose(config, event, found, now, record=None, notifier=None):
    """The Notice of one event: about the finished `record`, or (event `test`) a test through `notifier`."""
    context = context_of(config, event, found, now, record, notifier)
    texts = render(config.templates_dir, context)
    secrets = destination_secrets(config)
    texts = {part: mask(text, secrets) for part, text in texts.items()}
    subject = " ".join(texts.pop("subject").split())  # one line: a line break would end the mail's header
    return Notice(event, context["verdict"], subject, document=mask(document_of(context, record, subject), secrets),
                  **texts)


def context_of(config, event, found, now, record, notifier):
    """What every template may use: name, host, verdict, test, notifier, config_path, run (None in a test),
    status_line, unprotected (the pairs stale or never backed up)."""
    from ..status import verdict_line
    from ..times import format_duration

    unprotected = [{"destination": item.destination, "source": item.source, "verdict": item.verdict,
                    "age": format_duration(now - item.last_success) if item.last_success else None}
                   for item in found if item.verdict in ("stale", "never")]
    return {"name": config.name, "host": socket.gethostname(), "verdict": VERDICTS[event], "event": event,
            "test": event == "test", "notifier": notifier.name if notifier else None, "config_path": config.path,
            "run": run_of(record) if record else None, "status_line": verdict_line(found, now),
            "unprotected": unprotected, "status": [item._asdict() for item in found]}


def run_of(record):
    """The run as the templates see it: its table, jobs, errors, failed files (the first 50), pipeline."""
    from ..record import format_table
    from ..times import format_time

    failed = [(f"{job.destination}/{job.source}", path, reason) for job in record.jobs for path, reason in job.failures]
    seconds = record.ended - record.started
    pipeline = {"command": " ".join(record.pipeline[0]), "exit_code": record.pipeline[1]} if record.pipeline else None
    return {"run_id": record.run_id, "action": record.action, "trigger": record.trigger, "dry_run": record.dry_run,
            "ok": record.ok, "result": record.verdict(), "started": format_time(record.started),
            "duration": duration_text(seconds), "headings": record.headings(), "rows": record.rows(),
            "table": "\n".join(format_table(record.headings(), record.rows())) if record.jobs else "",
            "jobs": [job.to_dict() for job in record.jobs], "notes": list(record.notes),
            "errors": [(f"{job.destination}/{job.source}", job.error) for job in record.jobs if job.error],
            "failed_files": failed[:FAILED_FILES_SHOWN], "more_failed": max(0, len(failed) - FAILED_FILES_SHOWN),
            "pipeline": pipeline}


def duration_text(seconds):
    from ..times import format_duration

    return f"{seconds:.1f} s" if seconds < 60 else format_duration(seconds)


def render(templates_dir, context):
    """{part: text} of every template; a lab's own in templates_dir wins over the package's."""
    import jinja2

    folders = ([templates_dir] if templates_dir else []) + [TEMPLATES]
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(folders), trim_blocks=True,
                                     lstrip_blocks=True, undefined=jinja2.StrictUndefined,
                                     autoescape=jinja2.select_autoescape(["html.j2"]))
    environment.filters["mrkdwn"] = escape_mrkdwn
    try:
        return {part: environment.get_template(name).render(context).strip() + "\n"
                for part, name in TEMPLATE_NAMES.items()}
    except jinja2.TemplateError as error:
        where = f"{error.filename}:{error.lineno}: " if getattr(error, "lineno", None) else ""
        raise NoticeFailed(f"template {where}{error.message or error}") from None


def escape_mrkdwn(text):
    """Slack reads &, < and > as markup."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def document_of(context, record, subject):
    """What a webhook receives: the verdict and status, and the run's --json report (None in a test)."""
    return {"name": context["name"], "host": context["host"], "event": context["event"],
            "verdict": context["verdict"], "subject": subject, "test": context["test"],
            "status": {"line": context["status_line"], "verdicts": context["status"]},
            "pipeline": context["run"]["pipeline"] if record else None,
            "report": {**record.to_dict(), "run_id": record.run_id, "started": record.started,
                       "ended": record.ended} if record else None}


def destination_secrets(config):
    from ..transports import secrets_of

    return [secret for destination in config.destinations.values() for secret in secrets_of(destination)]


def mask(value, secrets):
    """`value` (text, or a document of lists and mappings) with every secret replaced by ***."""
    from ..proc import mask as masked

    if isinstance(value, str):
        return masked(value, secrets)
    if isinstance(value, dict):
        return {key: mask(item, secrets) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask(item, secrets) for item in value]
    return value
