"""The lock of a sweep's ``--out`` directory: one running sweep per directory.

Two sweeps writing to the same cell store would compute every missing cell twice. A sweep holds
``DIR/sweep.lock``, a JSON line with its pid, host and start time, created atomically
(``O_CREAT | O_EXCL``). A second sweep finding the lock refuses with a message naming the holder,
unless the holder is gone: a lock whose pid no longer runs on this host (a killed sweep) is
taken over.
"""

import json
import os
import socket
import time

LOCK_FILE = "sweep.lock"


class DirectoryLocked(Exception):
    """The directory is locked by another running sweep; the message names it."""


def alive(pid):
    """Whether a process ``pid`` runs on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class SweepLock:
    """``with SweepLock(directory):`` holds ``directory``'s lock for the block.

    Raises
    ------
    DirectoryLocked
        On entering, when another live process (or a process on another host, whose liveness
        cannot be checked) holds the lock.
    """

    def __init__(self, directory):
        self.path = os.path.join(directory, LOCK_FILE)
        self.record = {"pid": os.getpid(), "host": socket.gethostname(),
                       "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}

    def holder(self):
        """The lock's record (``None`` when there is no lock; ``{}`` when it cannot be read)."""
        try:
            with open(self.path) as fh:
                record = json.loads(fh.read())
            return record if isinstance(record, dict) and isinstance(record.get("pid"), int) else {}
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {}

    def __enter__(self):
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._take_over_if_stale()
                continue
            with os.fdopen(fd, "w") as fh:
                fh.write(json.dumps(self.record) + "\n")
            return self
        raise DirectoryLocked(f"could not take the lock {self.path} (another sweep keeps taking it)")

    def _take_over_if_stale(self):
        holder = self.holder()
        if holder is None:
            return
        if holder:
            stale = holder.get("host") == self.record["host"] and not alive(holder["pid"])
        else:
            stale = self._old()
        if stale:
            try:
                os.remove(self.path)
            except FileNotFoundError:
                pass
            return
        if not holder:
            raise DirectoryLocked(f"{self.path} exists but cannot be read (a sweep starting now?); if no "
                                  "sweep is running there, delete it")
        host = holder.get("host")
        where = "" if host == self.record["host"] else f" on host {host}, whose processes cannot be checked here"
        raise DirectoryLocked(
            f"{os.path.dirname(self.path) or '.'} is in use by another sweep (pid {holder['pid']}{where}, started "
            f"{holder.get('started', '?')}): wait for it to finish or choose another --out; if that sweep is "
            f"gone, delete {self.path}")

    def _old(self, seconds=60):
        try:
            return time.time() - os.path.getmtime(self.path) > seconds
        except OSError:
            return False

    def __exit__(self, *exc):
        if self.holder() == self.record:
            try:
                os.remove(self.path)
            except FileNotFoundError:
                pass
        return False
