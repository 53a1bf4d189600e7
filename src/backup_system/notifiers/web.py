"""What the HTTP notifiers share: where their URL comes from, and one POST bounded by a timeout (urllib)."""

from ..config.schema import notifier_option
from .notice import NoticeFailed, network_error, read_secret

SCHEMES = ("http://", "https://")
URL_FROM_FILE = notifier_option("url_file", "path", None,
                                "a file holding the URL on its first line; must be chmod 600 (the URL is a secret)")
URL_FROM_ENV = notifier_option("url_env", "str", None, "the environment variable holding the URL")
URL_ITSELF = notifier_option("url", "str", None, "the URL itself, e.g. https://hc-ping.com/<uuid> (or url_file, "
                             "url_env); never shown by `config show`", secret=True)
SECRET_URL_FIELDS = (URL_FROM_FILE, URL_FROM_ENV)
ANY_URL_FIELDS = (URL_ITSELF, URL_FROM_FILE, URL_FROM_ENV)
ANSWER_CHARS = 200  # of a refusing server's answer, enough for Slack's "invalid_payload"


def secret_url_only(what):
    """MISPLACED for a type whose URL is a secret that must not sit in the config file."""
    return {"url": f"{what} URL is a secret: give url_file (a file only you can read) or url_env "
                   "(an environment variable), never the URL itself"}


def check_url(notifier, fail):
    """Exactly one of url, url_file, url_env; a URL given is http or https."""
    options = notifier.options
    given = [name for name in ("url", "url_file", "url_env") if getattr(options, name, None)]
    if len(given) != 1:
        keys = "url, url_file or url_env" if hasattr(options, "url") else "url_file or url_env"
        raise fail((), f"give one of {keys}" + (f", not {' and '.join(given)}" if given else ""))
    url = getattr(options, "url", None)
    if url and not url.startswith(SCHEMES):
        raise fail(("url",), "expected an http:// or https:// URL")
    return notifier


def url_of(notifier):
    """The notifier's URL, read now from wherever it is kept; raises NoticeFailed when it cannot be."""
    options = notifier.options
    url = getattr(options, "url", None) or read_secret(options.url_file, options.url_env, "the URL")
    if not url.startswith(SCHEMES):
        raise NoticeFailed("the URL does not start with http:// or https://")
    return url


def post_json(url, document, timeout):
    import json

    return post(url, json.dumps(document).encode(), "application/json", timeout)


def post(url, body, content_type, timeout):
    """POST `body` to `url` within `timeout` seconds; "HTTP <status>", or NoticeFailed never naming the URL."""
    import http.client
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": content_type, "User-Agent": "backup_system"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - http(s) only, checked
            return f"HTTP {response.status}"
    except urllib.error.HTTPError as error:
        with error:
            answer = error.read(ANSWER_CHARS).decode("utf-8", "replace").strip()
        raise NoticeFailed(hide(f"the server answered HTTP {error.code} {error.reason}"
                                + (f": {answer}" if answer else ""), url)) from None
    except urllib.error.URLError as error:
        raise NoticeFailed(hide(network_error(error.reason, "the server", timeout), url)) from None
    except (OSError, http.client.HTTPException) as error:
        raise NoticeFailed(hide(network_error(error, "the server", timeout), url)) from None


def hide(text, url):
    """The text without the URL (or its path, where a webhook keeps its token)."""
    from urllib.parse import urlsplit

    from ..proc import mask

    return mask(text, [url, urlsplit(url).path if len(urlsplit(url).path) > 1 else ""])
