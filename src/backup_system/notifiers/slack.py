"""Slack: blocks POSTed to an incoming webhook."""

from .web import SECRET_URL_FIELDS, check_url, post_json, secret_url_only, url_of

FIELDS = SECRET_URL_FIELDS
DEFAULT_ON = ("failure", "stale")
MISPLACED = secret_url_only("a Slack webhook")
HEADER_CHARS, SECTION_CHARS = 150, 3000  # Slack refuses longer header and section texts


def check(notifier, fail):
    return check_url(notifier, fail)


def send(notifier, notice):
    """POST the notice as Slack blocks: a header, then notice_slack.txt (mrkdwn)."""
    return post_json(url_of(notifier), blocks(notice), notifier.timeout)


def blocks(notice):
    text = notice.slack
    if len(text) > SECTION_CHARS:
        text = text[:SECTION_CHARS - 20].rstrip() + "\n… (cut short)"
    return {"text": notice.subject,  # what a phone's notification shows
            "blocks": [{"type": "header", "text": {"type": "plain_text", "text": notice.subject[:HEADER_CHARS]}},
                       {"type": "section", "text": {"type": "mrkdwn", "text": text}}]}
