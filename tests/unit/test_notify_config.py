"""backups.notifications in the config: each notifier loads as it means, every mistake is one located line."""

import pytest

from backup_system.config import effective_config, load_config
from backup_system.errors import ConfigError

HEAD = """\
backups:
  sources:
    csvs: {path: data}
  destinations:
    secured: {base_path: backup}
  notifications:
"""
MAIL = """\
    - name: lab-mail
      type: email
      host: smtp.lab.example
      from: backup@lab.example
      to: [ada@lab.example, bob@lab.example]
"""


def load(tmp_path, notifications, extra=""):
    path = tmp_path / "config.yaml"
    path.write_text(HEAD + notifications + extra)
    return load_config(str(path))


def error_of(tmp_path, notifications, extra=""):
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, notifications, extra)
    message = str(caught.value)
    assert "\n" not in message
    return message.split("config.yaml", 1)[1]


def test_an_email_notifier_loads_with_its_defaults_and_a_bare_on_key_means_on(tmp_path):
    [mail] = load(tmp_path, MAIL + "      on: [failure, success]\n").notifications
    assert (mail.name, mail.type, mail.on, mail.timeout) == ("lab-mail", "email", ("failure", "success"), 20)
    options = mail.options
    assert (options.host, options.port, options.security, options.from_, options.from_name, options.to) == (
        "smtp.lab.example", None, "starttls", "backup@lab.example", "backup_system",
        ("ada@lab.example", "bob@lab.example"))


def test_each_type_tells_its_default_events_and_no_notifications_is_an_empty_list(tmp_path):
    config = load(tmp_path, MAIL + "    - {name: hc, type: ping, url: 'https://hc-ping.com/abc'}\n"
                                   "    - {name: chat, type: slack, url_env: SLACK_URL}\n")
    assert [notifier.on for notifier in config.notifications] == [
        ("failure", "stale"), ("success", "failure"), ("failure", "stale")]
    (tmp_path / "plain.yaml").write_text(HEAD.replace("  notifications:\n", ""))
    plain = load_config(str(tmp_path / "plain.yaml"))
    assert (plain.notifications, plain.templates_dir) == ((), None)


@pytest.mark.parametrize("entry, expected", [
    ("    - {name: x}\n", ":7: backups.notifications.0: 'name' and 'type' are required; types are: email, teams, "
                         "slack, webhook, ping"),
    ("    - {name: x, type: pager}\n", ":7: backups.notifications.0.type: expected one of email, teams, slack, "
                                      "webhook, ping, got 'pager'"),
    ("    - {name: x, type: teams, url: 'https://lab.webhook.office.com/abc'}\n",
     ":7: backups.notifications.0.url: a Teams webhook URL is a secret: give url_file (a file only you can read) or "
     "url_env (an environment variable), never the URL itself"),
    ("    - {name: x, type: slack, url_env: A, host: smtp.lab.example}\n",
     ":7: backups.notifications.0.host: 'host' is for email notifiers, this one is slack"),
    ("    - {name: x, type: webhook, url_fil: f}\n",
     ":7: backups.notifications.0.url_fil: unknown key (did you mean 'url_file'?)"),
    ("    - {name: x, type: webhook}\n", ":7: backups.notifications.0: give one of url, url_file or url_env"),
    ("    - {name: x, type: slack, url_env: A, url_file: f}\n",
     ":7: backups.notifications.0: give one of url_file or url_env, not url_file and url_env"),
    ("    - {name: x, type: webhook, url: 'ftp://lab.example/x'}\n",
     ":7: backups.notifications.0.url: expected an http:// or https:// URL"),
    ("    - {name: x, type: ping, url: 'https://hc-ping.com/a', on: [stale]}\n",
     ":7: backups.notifications.0.on: a ping tells success and failure; the monitoring service sees a missing ping "
     "itself"),
    ("    - {name: x, type: webhook, url: 'https://x.example', on: [sometimes]}\n",
     ":7: backups.notifications.0.on.0: expected one of success, failure, stale, got 'sometimes'"),
    ("    - {name: x, type: email, host: h, from: a@b.example}\n",
     ":7: backups.notifications.0: 'to' is required for an email notifier"),
    (MAIL + "      to: [ada]\n", ":12: backups.notifications.0.to: duplicate key"),
    (MAIL.replace("[ada@lab.example, bob@lab.example]", "['Ada <ada@lab.example>']"),
     ":11: backups.notifications.0.to.0: 'Ada <ada@lab.example>' is not a mail address such as lab@example.org"),
    (MAIL + "      username: ada\n", ":12: backups.notifications.0.username: give its password in password_file or "
                                     "password_env, exactly one"),
    (MAIL + "      password_env: MAIL_PASSWORD\n", ":12: backups.notifications.0.password_env: a password needs a "
                                                   "username"),
    (MAIL + "      security: none\n      username: ada\n      password_env: P\n",
     ":12: backups.notifications.0.security: none would send the password unencrypted: use starttls or ssl"),
    (MAIL + MAIL, ":12: backups.notifications.1.name: a second notifier named 'lab-mail'"),
    ("    {name: x}\n", ":6: backups.notifications: expected a list of notifiers (each with name and type), "
                      "got a mapping"),
])
def test_a_notifier_mistake_is_one_line_naming_the_line_and_key(tmp_path, entry, expected):
    assert error_of(tmp_path, entry) == expected


def test_a_templates_dir_that_is_no_folder_is_refused(tmp_path):
    assert error_of(tmp_path, "    []\n", "  templates_dir: my-templates\n") == (
        f":8: backups.templates_dir: {tmp_path}/my-templates is not a folder")


def test_config_show_shows_each_notifier_by_its_config_keys_and_never_a_url(tmp_path):
    config = load(tmp_path, MAIL + "    - {name: hook, type: webhook, url: 'https://hooks.lab.example/T0KEN'}\n")
    shown = effective_config(config)["backups"]["notifications"]
    assert shown[0]["from"] == "backup@lab.example" and shown[0]["to"] == ["ada@lab.example", "bob@lab.example"]
    assert shown[1] == {"name": "hook", "type": "webhook", "on": ["failure", "stale"], "timeout": 20, "url": "***",
                        "url_file": None, "url_env": None}
