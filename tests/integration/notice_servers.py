"""Real servers on 127.0.0.1 that notices go to: an SMTP server (aiosmtpd) and an HTTP server (http.server).

Each keeps what it received as a user would see it: the mail's bytes and envelope, each
request's method, path, headers and body, in the order they arrived.
"""

import email
import email.policy
import http.server
import json
import socket
import ssl
import subprocess
import threading
from collections import namedtuple

from tests.conftest import free_port

Mail = namedtuple("Mail", "sender recipients data")
Request = namedtuple("Request", "method path headers body")


def make_certificate(folder):
    """A self-signed certificate for 127.0.0.1 (its own CA): (certificate file, key file)."""
    certificate, key = folder / "server.pem", folder / "server.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(certificate)],
                   check=True, capture_output=True)
    return certificate, key


class MailServer:
    """aiosmtpd with STARTTLS (the certificate given) and a login (user, password); keeps each Mail."""

    def __init__(self, certificate, key, user="ada", password="s3cret-pass"):
        from aiosmtpd.controller import Controller

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(certificate, key)
        self.mails, self.logins = [], []
        self.user, self.password = user, password
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port, server_hostname="mail.test",
                                     tls_context=context, require_starttls=True, authenticator=self.authenticate,
                                     auth_require_tls=True)

    def start(self):
        self.controller.start()
        return self

    def stop(self):
        self.controller.stop()

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        from aiosmtpd.smtp import AuthResult

        login, password = auth_data.login.decode(), auth_data.password.decode()
        self.logins.append(login)
        return AuthResult(success=(login, password) == (self.user, self.password), handled=False)  # 535 on failure

    async def handle_DATA(self, server, session, envelope):
        self.mails.append(Mail(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 OK"


def parsed(mail):
    """The mail as a mail program reads it."""
    return email.message_from_bytes(mail.data, policy=email.policy.default)


class WebServer:
    """http.server in a thread; answers `status` (a path may have its own), keeps each Request in order."""

    def __init__(self, status=200):
        self.requests, self.statuses, self.status = [], {}, status
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                server.requests.append(Request("POST", self.path, dict(self.headers), body))
                answer = server.statuses.get(self.path, server.status)
                self.send_response(answer)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok" if answer < 300 else b"no")

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def paths(self):
        return [request.path for request in self.requests]

    def json(self, path):
        """The JSON body of the one request to `path`."""
        bodies = [request.body for request in self.requests if request.path == path]
        assert len(bodies) == 1, f"{len(bodies)} requests to {path}: {self.paths()}"
        return json.loads(bodies[0])


class SilentServer:
    """Accepts connections (the kernel does) and never answers: a notice to it can only time out."""

    def __init__(self):
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(16)
        self.port = self.socket.getsockname()[1]

    def stop(self):
        self.socket.close()
