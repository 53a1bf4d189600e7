"""Any webhook: the run's JSON report (as --json prints it) with the notice's verdict, POSTed."""

from .web import ANY_URL_FIELDS, check_url, post_json, url_of

FIELDS = ANY_URL_FIELDS
DEFAULT_ON = ("failure", "stale")


def check(notifier, fail):
    return check_url(notifier, fail)


def send(notifier, notice):
    """POST notice.document."""
    return post_json(url_of(notifier), notice.document, notifier.timeout)
