"""After an smbclient job's uploads: which files count as sent, and (remove_from_local) which local files may go.

A file whose session said nothing after its put, utimes and rename (the markers tie each answer to its
file) is there, with its size and time: a listing would cost seven round trips a folder to say so. The
folders of the others are listed (a session cut after a rename it could not report leaves a complete file
there). With remove_from_local, local files are deleted on a listing's word only.
"""

import os

from .listing import RemoteFile, parse_listing
from .session import describe, smb_path, split_sections
from .temporaries import NOT_KEPT

FILES_PER_SESSION = 8  # fewer folders than this each: fewer listing sessions


def confirm(smb_job, to_send, local, reasons):
    """Which files count as sent (each in smb_job.tally, sent or failed); returns what is now on the server of
    them, {path: RemoteFile}. With remove_from_local the upload sessions listed the folders they wrote, and the
    folders they did not list are listed now."""
    if smb_job.options.remove_from_local:
        listed, unsure = dict(smb_job.listed_after), {path for path in to_send if path not in reasons}
    else:
        listed = {path: RemoteFile(local[path].size, int(local[path].mtime)) for path in smb_job.renamed}
        unsure = set(to_send) - smb_job.renamed
    folders = sorted({path.rpartition("/")[0] for path in unsure} - smb_job.folders_listed)
    count = min(smb_job.sessions, -(-len(folders) // FILES_PER_SESSION))
    shares = [folders[index::count] for index in range(count)]
    for found in smb_job.in_parallel(shares, lambda share: list_folders(smb_job.session, share)):
        listed.update({path: file for path, file in found.items() if path in unsure or path not in listed})
    for path in to_send:
        arrived, expected = listed.get(path), RemoteFile(local[path].size, int(local[path].mtime))
        if arrived == expected:
            smb_job.tally.sent[path] = local[path].size
            smb_job.log.debug(f"sent {path}")
        elif arrived is not None and arrived.mtime > expected.mtime and path not in reasons:
            smb_job.fail(path, "changed on the server during this run and newer there: kept the server's copy")
        else:
            smb_job.fail(path, reason(reasons.get(path)))
    return listed


def reason(problems):
    """Why a file is not on the server as sent, in words."""
    if problems and problems[0].startswith(NOT_KEPT):
        return problems[0]  # its own words: a status in them would otherwise be all that is said
    if problems and any("NT_STATUS_OBJECT_NAME_COLLISION" in problem for problem in problems):
        return "made on the server during this run: kept the server's copy"  # the rename that replaces nothing
    return describe(problems) or "not on the server after the upload"


def list_folders(session, folders):
    """{path: RemoteFile} of the files in these folders (not below them, relative to the target), in one session."""
    target_folder = session.target.folder
    lines = session.listing_lines([smb_path(target_folder, f"{folder}/*" if folder else "*") for folder in folders],
                                  recurse=False)
    return parse_folders(target_folder, folders, split_sections(lines, len(folders)))


def parse_folders(target_folder, folders, sections):
    """{path: RemoteFile} of the files in each folder (relative to the target folder) from its `ls` section."""
    headed = []
    for folder, section in zip(folders, sections, strict=True):
        headed += ["\\" + smb_path(target_folder, folder), *section]
    return parse_listing(headed, target_folder)[0]


def is_on_server(compare, file, remote):
    """The server's copy is this file: same size and time (with `compare: size`, same size)."""
    if remote is None or remote.size != file.size:
        return False
    return compare == "size" or remote.mtime == int(file.mtime)


def remove_confirmed(smb_job, local, remote):
    """Delete local files whose server copy the latest listing shows as this file (see is_on_server); the count."""
    removed, other_time = 0, 0
    for path, file in local.items():
        if not is_on_server(smb_job.compare, file, remote.get(path)):
            other_time += remote.get(path) is not None and remote[path].size == file.size
            continue
        removed += remove_local(smb_job.job.source.path, path, file, smb_job.log)
    smb_job.log.info(f"removed {removed} local files confirmed on the server (remove_from_local)")
    if other_time:
        smb_job.log.warning(f"kept locally: {other_time} files whose copy on the server has another modification "
                            f"time (compare: size to accept them)")
    return removed


def remove_local(root, path, file, log):
    """Delete one local file unless it changed since the scan; 1 when removed, else 0."""
    full = os.path.join(root, path)
    try:
        now = os.stat(full)
        if (now.st_size, now.st_mtime) != (file.size, file.mtime):
            log.warning(f"kept: {path}: changed here since it was sent")
            return 0
        os.remove(full)
    except OSError as error:
        log.warning(f"kept: {path}: cannot remove it: {error.strerror}")
        return 0
    log.info(f"removed from local: {path}")
    return 1
