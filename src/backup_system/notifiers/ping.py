"""A ping, healthchecks.io style: <url>/start as a run starts, <url> when it succeeded, <url>/fail when it failed.

The monitoring service judges lateness itself (a ping that does not come), so a ping tells
no `stale`. The plain-text summary goes along as the body, which healthchecks keeps.
"""

from .web import ANY_URL_FIELDS, check_url, post, url_of

FIELDS = ANY_URL_FIELDS
DEFAULT_ON = ("success", "failure")
SUFFIXES = {"start": "/start", "success": "", "failure": "/fail", "test": ""}
BODY_BYTES = 10000  # healthchecks keeps the first 100 kB; a summary needs far less


def check(notifier, fail):
    if "stale" in notifier.on:
        raise fail(("on",), "a ping tells success and failure; the monitoring service sees a missing ping itself")
    return check_url(notifier, fail)


def send(notifier, notice):
    """POST to the URL for the notice's event, the summary as the body."""
    url = url_of(notifier).rstrip("/") + SUFFIXES[notice.event]
    return post(url, notice.text.encode("utf-8", "replace")[:BODY_BYTES], "text/plain; charset=utf-8",
                notifier.timeout)
