"""Notices about runs, as `backups.notifications` asks: email, Teams, Slack, a webhook, a ping.

Two runner steps. `before_run` pings `<url>/start` for each ping notifier. `after_run` runs
after history.record_finish, so the status verdicts it computes include this run; the run's
events are `failure` (a job failed, or the pipeline of `run`) or `success`, and `stale` when
some destination/source pair is stale or never backed up (what `status` exits 1 for). Each
notifier whose `on` lists one of them gets one notice, worded by the most severe it lists
(FAILED, then STALE, then OK).

Notices go out side by side, each bounded by its notifier's timeout; one that cannot be
delivered is one warning line and a row in the history, and never changes the run's result.
A config without notifiers returns at once: smtplib, urllib and jinja2 load only when a
notice goes out.
"""

import time

SEVERITY = ("failure", "stale", "success")  # the event that words a notice: the first its notifier tells
GRACE_SECONDS = 1.0  # beyond a notice's own timeout, for its thread to hand back the answer


def before_run(config, start, log):
    """Ping `<url>/start` for each ping notifier."""
    pings = [notifier for notifier in config.notifications if notifier.type == "ping"]
    if not pings:
        return
    from .notifiers.notice import Notice

    record_results(config, start.run_id, deliver([(notifier, Notice("start", "START")) for notifier in pings], log))


def after_run(config, record, log):
    """Send each notifier the run's notice, when its `on` lists one of the run's events."""
    if not config.notifications:
        return
    found, now = status_now(config, log)
    events = run_events(record, found)
    chosen = [(notifier, event_for(notifier, events)) for notifier in config.notifications]
    chosen = [(notifier, event) for notifier, event in chosen if event]
    notices = {event: composed(config, event, found, now, record) for event in {event for _, event in chosen}}
    record_results(config, record.run_id, deliver([(notifier, notices[event]) for notifier, event in chosen], log))


def run_events(record, found):
    """failure or success, and stale when some pair is stale or never backed up."""
    from .status import protected

    pipeline_failed = bool(record.pipeline and record.pipeline[1])
    events = {"failure" if pipeline_failed or not record.ok else "success"}
    return events if protected(found) else events | {"stale"}


def event_for(notifier, events):
    """The event that words this notifier's notice, or None when it tells none of them."""
    return next((event for event in SEVERITY if event in events and event in notifier.on), None)


def status_now(config, log):
    """(every pair's Verdict, now)."""
    from .status import verdicts
    from .times import now

    moment = now()
    return verdicts(config, moment, log), moment


def send_tests(config, notifiers, log):
    """A test notice through each of `notifiers`, regardless of `on`; [(notifier, delivered, detail)]."""
    found, now = status_now(config, log)
    return deliver([(notifier, composed(config, "test", found, now, notifier=notifier)) for notifier in notifiers],
                   log)


def composed(config, event, found, now, record=None, notifier=None):
    """The Notice of one event, or the NoticeFailed that says why its templates could not make it."""
    from .notifiers.message import compose
    from .notifiers.notice import NoticeFailed

    try:
        return compose(config, event, found, now, record, notifier)
    except NoticeFailed as error:
        return error


def deliver(pairs, log):
    """Send each (notifier, notice) in its own thread, waiting for each no longer than its timeout;
    [(notifier, delivered, detail)], each also logged: delivered as info, not delivered as a warning."""
    import threading

    answers, waiting = {}, []
    for notifier, notice in pairs:
        worker = threading.Thread(target=attempt, args=(notifier, notice, answers), daemon=True,
                                  name=f"notice {notifier.name}")
        worker.start()
        waiting.append((notifier, worker, time.monotonic() + notifier.timeout + GRACE_SECONDS))
    results = []
    for notifier, worker, deadline in waiting:
        worker.join(max(0.0, deadline - time.monotonic()))
        # a thread still busy is left behind (daemon): the run does not wait for it any longer
        delivered, detail = answers.get(notifier.name, (False, f"no answer within {notifier.timeout:g} s"))
        if delivered:
            log.info(f"notice {notifier.name} ({notifier.type}) delivered: {detail}")
        else:
            log.warning(f"notice {notifier.name} ({notifier.type}) not delivered: {detail} (the backup's result "
                        f"stands)")
        results.append((notifier, delivered, detail))
    return results


def attempt(notifier, notice, answers):
    """One delivery; its answer (delivered, detail) goes into `answers` under the notifier's name."""
    from .notifiers.notice import NoticeFailed
    from .notifiers.registry import send

    try:
        if isinstance(notice, NoticeFailed):  # its words could not be composed
            raise notice
        answers[notifier.name] = (True, send(notifier, notice))
    except NoticeFailed as error:
        answers[notifier.name] = (False, str(error))
    except Exception as error:  # a bug of ours; its message might hold a secret, its kind cannot
        answers[notifier.name] = (False, f"internal error ({type(error).__name__})")


def record_results(config, run_id, results):
    """Each notice in the run history, delivered or not."""
    from .history import record_notice

    for notifier, delivered, detail in results:
        record_notice(config, run_id, notifier.name, delivered, detail)
