"""S3 buckets that keep versions themselves: `versions: true` on an rclone destination whose remote is S3.

A mirror keeps what it replaces or deletes by a server-side copy into `<target>-versions/` (--backup-dir),
which S3 refuses for objects in a cold storage class (DEEP_ARCHIVE, GLACIER): such a mirror would never
upload a changed file nor delete one. A bucket with versioning keeps the old object itself, in any class:

- Before the first job that sends to it, the bucket's versioning is enabled (`rclone backend versioning
  remote:bucket Enabled`, making the bucket first when it is new) and a lifecycle rule expires non-current
  versions under the job's folder keep_days after they were replaced (and the delete markers left with
  nothing behind them). rclone has no lifecycle command: the rule is one GET and one PUT ?lifecycle signed
  here (AWS Signature V4, standard library; boto3 would add ~35 MB installed and ~0.2 s of import for two
  requests), with the endpoint, keys and region rclone itself resolves (`rclone config string`: the config
  file, RCLONE_CONFIG_<REMOTE>_*, RCLONE_S3_*, the user's flags). The bucket's other rules are kept. Done
  once per bucket folder and keep_days, remembered in the destination's state folder.
- A mirror runs without --backup-dir: what it deletes or overwrites becomes a non-current version.
- Old versions are read with rclone's flags: `--s3-version-at TIME` lists and copies the folder as it was
  then (restore --at); `--s3-versions --s3-version-deleted` lists every version and delete marker of a file
  (versions list), an old version named `<base>-vYYYY-MM-DD-HHMMSS-mmm<ext>` and a delete marker with size 0
  and none of the metadata rclone gives an upload.
- prune leaves expiry to the bucket's rule.
"""

import os
import re
import time

from ...errors import NotFound, Refused, TimedOut, TransportError, Unreachable
from .. import Listed
from .options import COLD_STORAGE_CLASSES, storage_classes

VERSION_AT = "--s3-version-at"
EVERY_VERSION = ("--s3-versions", "--s3-version-deleted")
NO_VERSIONING = ("Rclone",)  # S3 providers whose servers keep no versions: `rclone serve s3`
RULE_ID = "backup_system"  # the lifecycle rule's ID, with the folder it covers
NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"
MEMO = "s3-versions-"  # in the destination's state folder: this bucket folder was prepared with these days
VERSION_NAME = r"-v(\d{4}-\d\d-\d\d-\d{6}-\d{3})"
_settings = {}  # (rclone, config file, remote, environment, flags) -> the remote's settings as rclone resolves them


# --- which destinations ----------------------------------------------------------------------------

def native(transport):
    """True when the destination asks for versions (versions: true), pushes, and its remote is an S3 bucket
    whose server keeps versions: then the bucket keeps what a backup replaces or deletes."""
    destination = transport.destination
    if not destination.versions or destination.direction != "push":
        return False
    settings = remote_settings(transport)
    return settings.get("type") == "s3" and settings.get("provider") not in NO_VERSIONING


def remote_settings(transport):
    """The remote's type and keys as rclone resolves them ({} when rclone cannot say); asked once a process."""
    options = transport.destination.options
    key = (options.rclone_binary, options.rclone_config, options.remote, tuple(sorted(options.rclone_env.items())),
           tuple(options.flags))
    if key not in _settings:
        lines = []
        ran = run(transport, ["config", "string", f"{options.remote}:"], on_line=lines.append)
        _settings[key] = parse_connection_string(lines[-1]) if ran.returncode == 0 and lines else {}
    return _settings[key]


def parse_connection_string(text):
    """`:s3,key=value,key='it''s',flag:path` (as `rclone config string` prints it) as {"type": "s3", key: value};
    a bare key is "true"."""
    settings, index, text = {}, 1, text.strip()
    if not text.startswith(":"):
        return settings
    words = []
    while index < len(text) and text[index] != ":":
        match = re.compile(r"[^,:=]*").match(text, index)
        name, index, value = match.group(), match.end(), "true"
        if index < len(text) and text[index] == "=":
            value, index = read_value(text, index + 1)
        words.append((name, value))
        index += 1 if index < len(text) and text[index] == "," else 0
    if words:
        settings["type"] = words[0][0]
        settings.update(words[1:])
    return settings


def read_value(text, index):
    """One value of a connection string from `index`: quoted ('...' or "...", the quote doubled inside) or bare."""
    if index < len(text) and text[index] in "'\"":
        quote, value, index = text[index], "", index + 1
        while index < len(text):
            if text[index] == quote and text[index + 1:index + 2] == quote:
                value, index = value + quote, index + 2
            elif text[index] == quote:
                return value, index + 1
            else:
                value, index = value + text[index], index + 1
        return value, index
    match = re.compile(r"[^,:]*").match(text, index)
    return match.group(), match.end()


def bucket_and_prefix(transport, target):
    """(bucket, folder inside it with a trailing '/', or '' for the whole bucket) of a target remote:bucket/path."""
    remote = transport.destination.options.remote
    path = target[len(remote) + 1:] if target.startswith(remote + ":") else target.partition(":")[2]
    bucket, _, folder = path.strip("/").partition("/")
    return bucket, f"{folder.strip('/')}/" if folder.strip("/") else ""


def kept_in(target):
    """Where a mirror's deleted or replaced file is kept, as the report says it."""
    return f"the bucket's versions of {target}"


# --- before a job sends ----------------------------------------------------------------------------

def before_send(transport, job):
    """Before a job of a destination with versions: true: a bucket that keeps versions is prepared (once); a
    cold storage class on a remote that cannot keep them is refused (its --backup-dir copies would fail)."""
    options = transport.destination.options
    if not getattr(transport.destination, "versions", False):
        return
    if native(transport):
        if not job.dry_run:
            prepare(transport, job)
        return
    cold = [value.strip() for _, value in storage_classes(options) if value.strip().upper() in COLD_STORAGE_CLASSES]
    if cold:
        raise TransportError(f"versions: true with the storage class {cold[0]} needs an S3 bucket that keeps "
                             f"versions itself, and {options.remote}: is none (rclone serve s3, or not S3): "
                             f"copies into a versions folder fail for {cold[0]} objects, so nothing would be sent")


def prepare(transport, job):
    """The job's bucket keeps versions and expires the non-current ones under its folder after keep_days."""
    bucket, prefix = bucket_and_prefix(transport, job.target)
    days = transport.destination.keep_days
    remote = transport.destination.options.remote
    memo = memo_file(job, f"{remote}:{bucket}/{prefix}\0{days}")
    if os.path.exists(memo):
        return
    enable_versioning(transport, f"{remote}:{bucket}")
    set_lifecycle(transport, bucket, prefix, days)
    transport.log.info(f"{remote}:{bucket} keeps versions; a lifecycle rule expires those under "
                       f"{prefix or 'the whole bucket'} {days} days after they were replaced or deleted")
    os.makedirs(os.path.dirname(memo), exist_ok=True)
    with open(memo, "w", encoding="utf-8") as stream:
        stream.write(f"{remote}:{bucket}/{prefix} keep_days {days}\n")


def memo_file(job, key):
    import hashlib

    from .command import state_folder

    digest = hashlib.blake2b(key.encode("utf-8", "surrogateescape"), digest_size=8).hexdigest()
    return os.path.join(state_folder(job), f"{MEMO}{digest}")


def enable_versioning(transport, bucket):
    """`rclone backend versioning remote:bucket Enabled`; a bucket not there yet is made first."""
    try:
        try:
            rclone(transport, ["backend", "versioning", bucket, "Enabled"], bucket)
        except TransportError as error:
            if "NoSuchBucket" not in str(error):
                raise
            rclone(transport, ["mkdir", bucket], bucket)
            rclone(transport, ["backend", "versioning", bucket, "Enabled"], bucket)
    except TransportError as error:
        if type(error) is not TransportError:  # unreachable, refused, ...: said as a run says it
            raise
        # it answered, but would not: a server that keeps no versions
        raise TransportError(f"cannot enable versioning of {bucket}: {error} (for a server that keeps no "
                             f"versions, set versions: false)") from None


def rclone(transport, words, location):
    """One short rclone command of this destination; its output lines, or the TransportError it ended with."""
    from .log_reader import LogReader

    lines, reader = [], LogReader(transport.log, transport.secrets)
    ran = run(transport, words, on_line=lines.append)
    for line in ran.stderr_lines:
        reader.take(line)
    if ran.timed_out:
        raise TimedOut(f"rclone stopped after the {transport.destination.timeout:g} s timeout at {location}")
    if ran.returncode:
        raise transport.explain(reader, ran.returncode, location)
    return lines


def run(transport, words, **how):
    from .fetch import run as run_rclone

    return run_rclone(transport, words, **how)


# --- the lifecycle rule ----------------------------------------------------------------------------

def set_lifecycle(transport, bucket, prefix, days):
    """Our rule in the bucket's lifecycle configuration (replacing our earlier one for this folder, keeping
    every other rule); nothing is written when it is there already."""
    settings = remote_settings(transport)
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


# --- reading old versions --------------------------------------------------------------------------

def version_at(at):
    """rclone's flags that read an S3 folder as it was at `at` (seconds since the epoch); none for None."""
    if at is None:
        return []
    return [VERSION_AT, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) + f".{int(at % 1 * 1e6):06d}Z"]


def versions_of(transport, location, name):
    """Every copy of the file `name` in the folder `location`, oldest first and the live one last, as
    (Listed, kept_at): when it was replaced or deleted (the upload time of what came after it), None for the
    live copy. A delete marker is no copy; it dates the copy before it."""
    from .command import as_folder

    listed = lsjson(transport, as_folder(location), ["--max-depth", "1", "--files-only", "-M", *EVERY_VERSION])
    base, extension = split_extension(name)
    old = re.compile(re.escape(base) + VERSION_NAME + re.escape(extension))
    history = []  # (live, uploaded, place, Listed or None for a delete marker)
    for place, item in enumerate(listed):
        version = old.fullmatch(item["Path"])
        if item["Path"] == name or version:
            metadata = item.get("Metadata") or {}
            uploaded = seconds(metadata["btime"]) if metadata.get("btime") else name_time(version)
            marker = version is not None and item["Size"] == 0 and "mtime" not in metadata \
                and "content-type" not in metadata
            # S3 lists a key's versions newest first and dates them to the second: the place breaks a tie
            history.append((version is None, uploaded, -place,
                            None if marker else Listed(name, item["Size"], seconds(item["ModTime"]))))
    history.sort(key=lambda entry: entry[:3])  # oldest first, the live copy last
    return [(copy, None if live else (history[index + 1][1] if index + 1 < len(history) else None))
            for index, (live, _, _, copy) in enumerate(history) if copy is not None]


def lsjson(transport, location, words):
    """rclone lsjson of a location with these flags, as a list of dicts; [] for a folder not there."""
    import json

    from .log_reader import NOT_FOUND, LogReader

    printed, reader = [], LogReader(transport.log, transport.secrets)
    ran = run(transport, ["lsjson", *words, location], on_line=printed.append)
    for line in ran.stderr_lines:
        reader.take(line)
    if ran.timed_out:
        raise TimedOut(f"rclone stopped after the {transport.destination.timeout:g} s timeout while listing "
                       f"{location}")
    if ran.returncode:
        if NOT_FOUND in (reader.cause or "") or any(NOT_FOUND in error for error in reader.errors):
            return []
        raise transport.explain(reader, ran.returncode, location)
    return json.loads("".join(printed) or "[]")


def split_extension(name):
    """(base, extension) as rclone splits a name to put a version in it: `.file` has no extension."""
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem:
        return name, ""
    return stem, f".{extension}"


def name_time(version):
    """The upload time in an old version's name (UTC, to the millisecond)."""
    from datetime import datetime

    day, clock, milliseconds = version.group(1).rsplit("-", 2)
    return datetime.strptime(f"{day} {clock} +0000", "%Y-%m-%d %H%M%S %z").timestamp() + int(milliseconds) / 1000


def seconds(text):
    """An RFC 3339 time as rclone prints it (to the nanosecond) in seconds since the epoch."""
    from datetime import datetime

    return datetime.fromisoformat(text).timestamp()
