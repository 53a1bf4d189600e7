"""The lifecycle rule that expires an S3 bucket's non-current versions after keep_days (see s3_versions.py).

rclone has no lifecycle command: the rule is one GET and one PUT ?lifecycle, signed here with AWS Signature
V4 and the standard library (boto3 would add ~35 MB installed and ~0.2 s of import for two requests), with
the endpoint, keys and region rclone itself resolves.
"""

import os
import re
import time

from ...errors import NotFound, Refused, TransportError, Unreachable

RULE_ID = "backup_system"  # the lifecycle rule's ID, with the folder it covers
NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"


def set_lifecycle(transport, settings, bucket, prefix, days):
    """Our rule in the bucket's lifecycle configuration (replacing our earlier one for this folder, keeping
    every other rule); nothing is written when it is there already. settings: the remote's keys as rclone
    resolves them (s3_versions.remote_settings)."""
    where = f"{transport.destination.options.remote}:{bucket}"
    send = S3Request(settings, bucket, transport.env, transport.destination.connect_timeout, where)
    status, body = send("GET", b"")
    if status not in (200, 404):
        raise send.failure(status, body, "reading the lifecycle rules of")
    wanted = with_rule(body if status == 200 else None, rule_id(prefix), prefix, days)
    if wanted is not None:
        status, body = send("PUT", wanted)
        if status != 200:
            raise send.failure(status, body, "setting the lifecycle rule of")


def rule_id(prefix):
    """`backup_system <folder>`; S3 allows 255 characters, so a long folder is named by its digest."""
    import hashlib

    name = f"{RULE_ID} {prefix}".strip()
    return name if len(name) <= 255 else f"{RULE_ID} {hashlib.sha256(prefix.encode()).hexdigest()}"


def with_rule(existing, identifier, prefix, days):
    """The lifecycle configuration (XML bytes) with our rule for `prefix` and the other rules of `existing`
    (the bucket's, or None); None when our rule is there already as wanted."""
    import xml.etree.ElementTree as ElementTree

    rules = []
    if existing:
        root = ElementTree.fromstring(existing)
        for element in root.iter():
            element.tag = element.tag.rpartition("}")[2]  # written back in the default namespace
        rules = root.findall("Rule")
    for rule in rules:
        if rule.findtext("ID") == identifier and rule.findtext("Status") == "Enabled" \
                and (rule.findtext("Filter/Prefix") or "") == prefix \
                and rule.findtext("NoncurrentVersionExpiration/NoncurrentDays") == str(days):
            return None
    configuration = ElementTree.Element("LifecycleConfiguration", xmlns=NAMESPACE)
    configuration.extend(rule for rule in rules if rule.findtext("ID") != identifier)
    configuration.append(ElementTree.fromstring(
        "<Rule><ID/><Filter><Prefix/></Filter><Status>Enabled</Status>"
        "<Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>"
        f"<NoncurrentVersionExpiration><NoncurrentDays>{int(days)}</NoncurrentDays></NoncurrentVersionExpiration>"
        "</Rule>"))
    configuration[-1].find("ID").text, configuration[-1].find("Filter/Prefix").text = identifier, prefix
    return ElementTree.tostring(configuration, encoding="utf-8", xml_declaration=True)


class S3Request:
    """`?lifecycle` requests to one bucket, signed with the remote's keys, as rclone would address them."""

    def __init__(self, settings, bucket, env, timeout, where):
        from urllib.parse import urlsplit

        self.settings, self.bucket, self.timeout, self.where = settings, bucket, timeout, where
        self.endpoint = urlsplit(endpoint_of(settings, where))
        self.keys = keys_of(settings, {**os.environ, **{k: v for k, v in env.items() if v is not None}}, where)
        self.region = settings.get("region") or "us-east-1"

    def __call__(self, method, body):
        """(HTTP status, body) of one request; Unreachable when the server cannot be reached."""
        import http.client

        path_style = self.settings.get("force_path_style", "true") != "false"
        host = self.endpoint.netloc if path_style else f"{self.bucket}.{self.endpoint.netloc}"
        path = f"{self.endpoint.path.rstrip('/')}/{self.bucket}" if path_style else self.endpoint.path or "/"
        headers = signed_headers(method, host, path, "lifecycle", body, self.keys, self.region, time.time())
        if self.endpoint.scheme == "https":
            connection = http.client.HTTPSConnection(host, timeout=self.timeout, context=self.tls())
        else:
            connection = http.client.HTTPConnection(host, timeout=self.timeout)
        try:
            connection.request(method, f"{path}?lifecycle", body=body or None, headers=headers)
            response = connection.getresponse()
            return response.status, response.read()
        except OSError as error:
            raise Unreachable(f"cannot reach {host}: {network_reason(error)}") from None
        finally:
            connection.close()

    def tls(self):
        import ssl

        if self.settings.get("no_check_certificate") == "true":
            return ssl._create_unverified_context()  # noqa: S323 - the remote asks rclone the same
        return ssl.create_default_context()

    def failure(self, status, body, doing):
        """The error an S3 answer means, naming its code and message."""
        code = re.search(rb"<Code>(.*?)</Code>", body or b"")
        message = re.search(rb"<Message>(.*?)</Message>", body or b"")
        said = ": ".join(part.group(1).decode("utf-8", "replace") for part in (code, message) if part)
        text = f"{doing} {self.where} failed: HTTP {status}{f' {said}' if said else ''}"
        if status in (401, 403):
            return Refused(f"{text} (the key needs s3:GetLifecycleConfiguration and s3:PutLifecycleConfiguration)")
        if status == 404:
            return NotFound(text)
        return TransportError(text)


def endpoint_of(settings, where):
    """The URL rclone sends to: `endpoint` (https:// when it names no scheme), else AWS's for the region."""
    endpoint = settings.get("endpoint")
    if endpoint:
        return endpoint if "://" in endpoint else f"https://{endpoint}"
    if settings.get("provider", "AWS") == "AWS":
        return f"https://s3.{settings.get('region') or 'us-east-1'}.amazonaws.com"
    raise TransportError(f"cannot set the lifecycle rule of {where}: the remote names no endpoint")


def keys_of(settings, environment, where):
    """(access key, secret key, session token or None): the remote's own, else with env_auth the AWS_*
    variables or the shared credentials file; Refused when there are none (an instance role is not read)."""
    if settings.get("access_key_id") and settings.get("secret_access_key"):
        return settings["access_key_id"], settings["secret_access_key"], settings.get("session_token")
    if settings.get("env_auth") == "true":
        access = environment.get("AWS_ACCESS_KEY_ID") or environment.get("AWS_ACCESS_KEY")
        secret = environment.get("AWS_SECRET_ACCESS_KEY") or environment.get("AWS_SECRET_KEY")
        if access and secret:
            return access, secret, environment.get("AWS_SESSION_TOKEN")
        found = shared_credentials(settings, environment)
        if found:
            return found
    raise Refused(f"cannot set the lifecycle rule of {where}: no S3 keys to sign it with (access_key_id and "
                  f"secret_access_key, or env_auth with AWS_ACCESS_KEY_ID or ~/.aws/credentials)")


def shared_credentials(settings, environment):
    import configparser

    path = settings.get("shared_credentials_file") or environment.get("AWS_SHARED_CREDENTIALS_FILE") \
        or os.path.join(os.path.expanduser("~"), ".aws", "credentials")
    profile = settings.get("profile") or environment.get("AWS_PROFILE") or "default"
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
        section = parser[profile]
        return section["aws_access_key_id"], section["aws_secret_access_key"], section.get("aws_session_token")
    except (KeyError, configparser.Error, OSError):
        return None


def signed_headers(method, host, path, query, body, keys, region, now):
    """The headers of one S3 request signed with AWS Signature Version 4 (a pure function of its arguments)."""
    import base64
    import hashlib
    import hmac
    from urllib.parse import quote

    access, secret, token = keys
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    payload = hashlib.sha256(body).hexdigest()
    headers = {"host": host, "x-amz-content-sha256": payload, "x-amz-date": stamp}
    if body:  # S3 wants a checksum with a lifecycle configuration
        headers["content-md5"] = base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()
        headers["content-type"] = "application/xml"
    if token:
        headers["x-amz-security-token"] = token
    names = sorted(headers)
    canonical = "\n".join([method, quote(path, safe="/~"), f"{query}=" if "=" not in query else query,
                           "".join(f"{name}:{headers[name].strip()}\n" for name in names), ";".join(names), payload])
    scope = f"{stamp[:8]}/{region}/s3/aws4_request"
    text = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = f"AWS4{secret}".encode()
    for part in (stamp[:8], region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, text.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={access}/{scope}, SignedHeaders={';'.join(names)}, "
                                f"Signature={signature}")
    return headers


def network_reason(error):
    import socket

    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, socket.gaierror):
        return "name not found"
    if isinstance(error, TimeoutError):
        return "timed out"
    return error.strerror or str(error)
