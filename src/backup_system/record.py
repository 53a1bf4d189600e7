"""What a run did, frozen once it is over: a RunRecord of one JobRecord per (destination, source).

The runner builds it from what each transport returned; nothing fills it in afterwards. The
same record renders as the console summary table, as `--json`, and as an HTML table in a
Jupyter notebook, and is what after-run hooks (history, notices) are given.
"""


from collections import namedtuple

_JOB_FIELDS = ("destination source target transport dry_run sent bytes_sent files_unchanged failures files_removed "
               "error error_kind seconds removed")


class JobRecord(namedtuple("JobRecord", _JOB_FIELDS, defaults=((),))):
    """The outcome of one job, frozen: paths sent (or, in a dry run, that would be), bytes, files unchanged,
    (path, reason) per file not sent, files removed, why the whole job failed and its kind, seconds, and
    (path, folder it is kept in or None) per file a mirror deleted at the destination."""

    __slots__ = ()

    @property
    def files_sent(self):
        return len(self.sent)

    @property
    def files_failed(self):
        return len(self.failures)

    @property
    def ok(self):
        return self.error is None and not self.failures

    @property
    def status(self):
        if self.error is not None:
            return "failed"
        if self.failures:
            return "partial"
        return "dry-run" if self.dry_run else "ok"

    def to_dict(self):
        return {
            "destination": self.destination,
            "source": self.source,
            "target": self.target,
            "status": self.status,
            "files_sent": self.files_sent,
            "bytes_sent": self.bytes_sent,
            "files_unchanged": self.files_unchanged,
            "files_failed": self.files_failed,
            "files_removed": self.files_removed,
            "failures": [{"path": path, "reason": reason} for path, reason in self.failures],
            "removed": [{"path": path, "kept_in": kept_in} for path, kept_in in self.removed],
            "error": self.error,
            "seconds": round(self.seconds, 3),
            "sent": list(self.sent),  # in a dry run, what would be sent (status "dry-run")
            **({"would_send": list(self.sent)} if self.dry_run else {}),  # its first name: kept for scripts
        }


HTML_FILES_SHOWN = 200  # a dry run's files listed in a notebook's table; a bigger tree is cut there

_RUN_FIELDS = ("run_id action dry_run trigger config_path config_name started ended jobs archives notes disabled "
               "pipeline")


class RunRecord(namedtuple("RunRecord", _RUN_FIELDS)):
    """A finished run, frozen: its id, action, who started it (trigger), start and end (seconds since the epoch),
    its JobRecords, the archives built (compression.ArchiveResult), notes on what was left out, and for the
    backup after a pipeline (command, exit status); `ok` when every job succeeded."""

    __slots__ = ()

    @property
    def ok(self):
        return all(job.ok for job in self.jobs)

    @property
    def exit_code(self):
        return 0 if self.ok else 1

    def to_dict(self):
        return {
            "ok": self.ok,
            "exit_code": self.exit_code,
            "config": self.config_path,
            "dry_run": self.dry_run,
            "disabled": self.disabled,
            "notes": list(self.notes),
            "archives": [archive_dict(archive, self.dry_run) for archive in self.archives],
            "jobs": [job.to_dict() for job in self.jobs],
        }

    def rows(self):
        """Summary rows: destination, source, sent, unchanged, failed, bytes, time."""
        return [(job.destination, job.source, str(job.files_sent), str(job.files_unchanged),
                 "error" if job.error else str(job.files_failed), format_bytes(job.bytes_sent),
                 f"{job.seconds:.1f} s") for job in self.jobs]

    def headings(self):
        return ("destination", "source", "would send" if self.dry_run else "sent", "unchanged", "failed", "bytes",
                "time")

    def summary(self):
        """The plain-text table printed at the end of a run, then one line per problem."""
        lines = list(self.notes)
        if self.archives:
            lines.extend(format_table(ARCHIVE_HEADINGS, [archive_row(archive, self.dry_run)
                                                         for archive in self.archives]))
            lines.append("")
        if self.jobs:
            lines.extend(format_table(self.headings(), self.rows()))
        for job in self.jobs:
            where = f"{job.destination}/{job.source}"
            if job.error:
                lines.append(f"{where}: FAILED: {job.error}")
            for path, reason in job.failures:
                lines.append(f"{where}: not sent: {path}: {reason}")
            lines.extend(f"{where}: {removal_line(path, kept_in, job.dry_run)}" for path, kept_in in job.removed)
            if job.dry_run:
                lines.extend(f"{where}: would send {path}" for path in job.sent)
        lines.append(self.verdict())
        return "\n".join(lines)

    def verdict(self):
        if self.disabled:
            return "backups are disabled (backups.enabled: false): nothing to do"
        failed = sum(not job.ok for job in self.jobs)
        done = "dry run (nothing changed)" if self.dry_run else "backup"
        if not self.jobs:
            return f"{done}: no jobs to run"
        if failed:
            return f"{done}: {failed} of {plural(len(self.jobs), 'job')} FAILED"
        return f"{done}: {'the' if len(self.jobs) == 1 else 'all'} {plural(len(self.jobs), 'job')} ok"

    def _repr_html_(self):
        """The summary as Jupyter shows it: the table, a list of the problems, what a dry run would send, the verdict."""
        import html

        head = "".join(f"<th>{html.escape(cell)}</th>" for cell in self.headings())
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in self.rows())
        problems = "".join(f"<li>{html.escape(line)}</li>" for line in self.summary().splitlines()
                           if ": FAILED: " in line or ": not sent: " in line)
        return (f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
                f"{'<ul>' + problems + '</ul>' if problems else ''}{self._would_send_html()}"
                f"<p>{html.escape(self.verdict())}</p>")

    def _would_send_html(self, shown=HTML_FILES_SHOWN):
        """A dry run's files to send, per job, as an HTML list: the first `shown` in all, then how many more."""
        import html

        lines = [f"{job.destination}/{job.source}: would send {path}" for job in self.jobs if job.dry_run
                 for path in job.sent]
        if not lines:
            return ""
        more = len(lines) - shown
        items = "".join(f"<li>{html.escape(line)}</li>" for line in lines[:shown])
        if more > 0:
            items += f"<li>… and {more} more (each job's <code>sent</code> lists them all)</li>"
        return f"<ul>{items}</ul>"

    def __repr__(self):
        return f"<RunRecord {self.run_id} ok={self.ok} jobs={len(self.jobs)} dry_run={self.dry_run}>"


def removal_line(path, kept_in, dry_run):
    """`removed at the destination: <path> (kept in <versions folder>)`, as the summary says it."""
    kept = f" (kept in {kept_in})" if kept_in else ""
    return f"{'would remove' if dry_run else 'removed'} at the destination: {path}{kept}"


# The names notebooks have used since the first release.
BackupReport, JobResult = RunRecord, JobRecord


ARCHIVE_HEADINGS = ("archive of", "status", "files in", "bytes in", "bytes out", "ratio", "time")


def archive_status(archive, dry_run):
    if archive.reused:
        return "reused"
    return "would build" if dry_run else "archived"


def archive_dict(archive, dry_run):
    return {
        "source": archive.source,
        "archive": archive.path,
        "status": archive_status(archive, dry_run),
        "files_in": archive.files_in,
        "bytes_in": archive.bytes_in,
        "bytes_out": archive.bytes_out,
        "ratio": round(archive.bytes_out / archive.bytes_in, 4) if archive.bytes_in and archive.bytes_out else None,
        "seconds": round(archive.seconds, 3),
        "skipped": [{"path": path, "reason": reason} for path, reason in archive.skipped],
    }


def archive_row(archive, dry_run):
    ratio = f"{archive.bytes_out / archive.bytes_in:.2f}" if archive.bytes_in and archive.bytes_out else "-"
    return (archive.source, archive_status(archive, dry_run), str(archive.files_in), format_bytes(archive.bytes_in),
            format_bytes(archive.bytes_out or 0), ratio, f"{archive.seconds:.1f} s")


def format_table(headings, rows):
    """Text columns: the first two left-aligned, the rest right-aligned."""
    table = [headings, *rows]
    widths = [max(len(row[column]) for row in table) for column in range(len(headings))]
    return ["  ".join(cell.ljust(width) if column < 2 else cell.rjust(width)
                      for column, (cell, width) in enumerate(zip(row, widths, strict=True))).rstrip()
            for row in table]


def plural(count, word):
    return f"{count} {word}{'' if count == 1 else 's'}"


def format_bytes(count):
    size = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{count} B"
