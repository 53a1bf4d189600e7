"""What every delivery shares: the Notice, the one error a delivery raises, reading a secret, naming a network error."""

import os
from collections import namedtuple

Notice = namedtuple("Notice", "event verdict subject text html slack teams document",
                    defaults=("", "", "", "", "", None))
Notice.__doc__ = ("One message, ready for every type: its event (success, failure, stale, start, test), the word "
                  "in its subject (OK, FAILED, STALE, TEST), the plain text, HTML, Slack and Teams texts, and the "
                  "JSON document a webhook receives. Holds no secret.")


class NoticeFailed(Exception):
    """A notice that could not be delivered: one line saying why, holding no secret."""


def read_secret(path, variable, what):
    """A secret from a file (its first line; the file must be private, chmod 600) or an environment variable."""
    if variable:
        value = os.environ.get(variable, "")
        if not value:
            raise NoticeFailed(f"the environment variable {variable} ({what}) is not set")
        return value
    try:
        with open(path, encoding="utf-8") as stream:
            if os.fstat(stream.fileno()).st_mode & 0o077:
                raise NoticeFailed(f"{path} ({what}) can be read by others: run chmod 600 {path}")
            value = stream.readline().strip()
    except OSError as error:
        raise NoticeFailed(f"cannot read {path} ({what}): {error.strerror}") from None
    if not value:
        raise NoticeFailed(f"{path} ({what}) is empty")
    return value


def network_error(error, where, timeout):
    """One line for an error on the way to a server: refused, no answer in time, a TLS failure, ..."""
    import ssl

    if isinstance(error, TimeoutError) or "timed out" in str(error):
        return f"no answer from {where} within {timeout:g} s"
    if isinstance(error, ConnectionRefusedError):
        return f"cannot reach {where}: connection refused"
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"{where}: its certificate is not trusted ({error.verify_message})"
    if isinstance(error, OSError) and error.strerror:
        return f"cannot reach {where}: {error.strerror}"
    return f"{where}: {error}"


def plural(count, word):
    return f"{count} {word}{'' if count == 1 else 's'}"
