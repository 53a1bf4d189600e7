"""Email: a plain-text and an HTML body over SMTP, with STARTTLS, TLS from the start, or neither (smtplib)."""

import re

from ..config.schema import notifier_option as option
from .notice import NoticeFailed, network_error, plural, read_secret

PORTS = {"starttls": 587, "ssl": 465, "none": 25}
FIELDS = (
    option("host", "str", None, "the mail server, e.g. smtp.example.org", required=True),
    option("port", "int", None, "its port; default 587 for starttls, 465 for ssl, 25 for none"),
    option("security", "choice", "starttls", "starttls: a plain connection upgraded to TLS; ssl: TLS from the "
           "start; none: no encryption (allowed only without a login)", choices=tuple(PORTS)),
    option("ca_file", "path", None, "the CA certificates (a PEM file) to trust instead of the system's, for a "
           "server whose certificate a private CA (or the server itself) signed"),
    option("from", "str", None, "the sender's address", required=True),
    option("from_name", "str", "backup_system", "the sender's name as mail programs show it"),
    option("to", "strings", None, "the recipients' addresses, a list", required=True),
    option("username", "str", None, "log in as this user, with the password from password_file or password_env"),
    option("password_file", "path", None, "a file holding the password on its first line; must be chmod 600"),
    option("password_env", "str", None, "the environment variable holding the password"),
)
DEFAULT_ON = ("failure", "stale")
ADDRESS = re.compile(r"[^@\s<>,;:\"()\[\]\\]+@[^@\s<>,;:\"()\[\]\\]+")


def check(notifier, fail):
    """Plain addresses, a name without line breaks, and a password source exactly when there is a login."""
    options = notifier.options
    for at, address in [(("from",), options.from_)] + [(("to", index), item) for index, item in enumerate(options.to)]:
        if not ADDRESS.fullmatch(address):
            raise fail(at, f"{address!r} is not a mail address such as lab@example.org")
    if not options.to:
        raise fail(("to",), "give at least one address")
    if any(char in options.from_name for char in "\r\n"):
        raise fail(("from_name",), "a name on one line, please")
    sources = [key for key in ("password_file", "password_env") if getattr(options, key)]
    if options.username and len(sources) != 1:
        raise fail(("username",), "give its password in password_file or password_env, exactly one")
    if sources and not options.username:
        raise fail((sources[0],), "a password needs a username")
    if options.username and options.security == "none":
        raise fail(("security",), "none would send the password unencrypted: use starttls or ssl")
    return notifier


def send(notifier, notice):
    """Send the notice to every recipient; how many the server accepted, or NoticeFailed."""
    import smtplib

    options = notifier.options
    password = read_secret(options.password_file, options.password_env, "the mail password") \
        if options.username else None
    where = f"{options.host}:{options.port or PORTS[options.security]}"
    try:
        with connect(options, notifier.timeout) as server:
            if password is not None:
                server.login(options.username, password)
            refused = server.send_message(message_of(options, notice))
    except smtplib.SMTPAuthenticationError as error:
        raise NoticeFailed(f"{where} refused the login of {options.username}: {answer(error, password)}") from None
    except smtplib.SMTPRecipientsRefused as error:
        raise NoticeFailed(f"{where} refused every recipient: {', '.join(error.recipients)}") from None
    except smtplib.SMTPResponseException as error:
        raise NoticeFailed(f"{where} said {answer(error, password)}") from None
    except (smtplib.SMTPException, OSError) as error:
        raise NoticeFailed(network_error(error, where, notifier.timeout)) from None
    accepted = len(options.to) - len(refused)
    return f"{where} accepted it for {plural(accepted, 'recipient')}" + (
        f"; refused: {', '.join(refused)}" if refused else "")


def connect(options, timeout):
    """An SMTP session, encrypted as `security` says; the certificate and the host name are checked."""
    import smtplib
    import socket
    import ssl

    port = options.port or PORTS[options.security]
    context = ssl.create_default_context(cafile=options.ca_file) if options.security != "none" else None
    # our own name for EHLO: smtplib would otherwise look up this host's full name, which can hang
    local_name = socket.gethostname() or "localhost"
    if options.security == "ssl":
        return smtplib.SMTP_SSL(options.host, port, local_hostname=local_name, timeout=timeout, context=context)
    server = smtplib.SMTP(options.host, port, local_hostname=local_name, timeout=timeout)
    if options.security == "starttls":
        try:
            server.starttls(context=context)
        except BaseException:
            server.close()
            raise
    return server


def message_of(options, notice):
    """The mail: subject, sender, recipients, and the text and HTML bodies as alternatives."""
    from email.message import EmailMessage
    from email.utils import formataddr, formatdate, make_msgid

    message = EmailMessage()
    message["Subject"] = notice.subject
    message["From"] = formataddr((options.from_name, options.from_))
    message["To"] = ", ".join(options.to)
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain=options.from_.rpartition("@")[2])  # no host name lookup
    message.set_content(notice.text)
    message.add_alternative(notice.html, subtype="html")
    return message


def answer(error, password):
    """The server's reply code and text, never the password."""
    from ..proc import mask

    text = error.smtp_error.decode("utf-8", "replace") if isinstance(error.smtp_error, bytes) else str(error.smtp_error)
    return mask(f"{error.smtp_code} {text}", [password] if password else [])
