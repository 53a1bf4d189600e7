"""Microsoft Teams: an adaptive card POSTed to an incoming webhook (a Teams workflow or connector URL)."""

from .web import SECRET_URL_FIELDS, check_url, post_json, secret_url_only, url_of

FIELDS = SECRET_URL_FIELDS
DEFAULT_ON = ("failure", "stale")
MISPLACED = secret_url_only("a Teams webhook")
COLOURS = {"FAILED": "attention", "STALE": "warning", "OK": "good"}


def check(notifier, fail):
    return check_url(notifier, fail)


def send(notifier, notice):
    """POST the notice as an adaptive card."""
    return post_json(url_of(notifier), card(notice), notifier.timeout)


def card(notice):
    """The message Teams shows: the subject as a title, then notice_teams.md (Teams reads its markdown)."""
    content = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "msteams": {"width": "Full"},
        "body": [
            {"type": "TextBlock", "text": notice.subject, "weight": "Bolder", "size": "Medium", "wrap": True,
             "color": COLOURS.get(notice.verdict, "default")},
            {"type": "TextBlock", "text": notice.teams, "wrap": True},
        ],
    }
    return {"type": "message", "summary": notice.subject,
            "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": content}]}
