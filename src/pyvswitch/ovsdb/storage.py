"""A standalone database file, open: schema, replayed contents, appends, compaction.

`Storage.open(path)` takes the file's lock, reads the log (see log.py),
parses the first record as the schema and replays every later record into a
`Database`.  From then on the owner (ovsdb-server's shell, or ovsdb-tool)
appends each commit's record with `append` and calls `compact` when
`should_compact` says so or a user asks.

Torn tails: if reading stopped at a torn or corrupt record, `read_error`
holds OVS's description of it and everything before it is used.  The bad
bytes are cut off (with a warning) just before the first write, so a crash in
the middle of an append costs only that append, and a read-only open never
changes the file.  ovsdb-tool wants a clean file instead and opens with
`strict=True`, which raises the error as the reference tool does.

Locking: like OVS, a writer holds a POSIX record lock on `.<name>.~lock~`
beside the database file for as long as the file is open, so two servers (or
a server and `ovsdb-tool transact`) never write one file; the reference
implementation honours the same lock, both ways.  A process cannot detect its
own POSIX locks, so locks held by this process are also tracked here.

Compaction rewrites the file as the schema plus one snapshot record, into
`<name>.tmp` (itself locked) which is fsynced and renamed over the original:
at every instant the path names either the old or the new complete file.  The
main lock is held throughout.

Automatic compaction follows ovsdb-server's policy (`should_compact`, a pure
function): compact when the log has grown past 10 MB and to more than twice
its size after the last compaction, with at least 100 commits since then and
at least 10 minutes after it; or, whatever the size, 24 hours after the last
compaction if 100 commits were added.
"""

from __future__ import annotations

import errno
import fcntl
import os
import struct
import time
from dataclasses import dataclass
from typing import Any, Iterable

from pyvswitch import vlog
from pyvswitch.ovsdb.database import Database
from pyvswitch.ovsdb.errors import OvsdbError
from pyvswitch.ovsdb.log import LogError, LogRecord, LogWriter, encode_record, parse_log
from pyvswitch.ovsdb.schema import DatabaseSchema

# Files ovsdb-tool creates are readable by the group, as OVS's are.
DB_FILE_MODE = 0o640
LOCK_FILE_MODE = 0o600


def io_error(path: str, what: str, err: OSError | int) -> OvsdbError:
    """An "I/O error" in OVS's words: `<path>: <what> failed (<strerror>)`."""
    code = err if isinstance(err, int) else (err.errno or errno.EIO)
    return OvsdbError("I/O error", f"{path}: {what} failed ({os.strerror(code)})")


def error_text(e: OvsdbError) -> str:
    """An OvsdbError as OVS prints one on a console or in a log."""
    text = e.error if e.details is None else f"{e.error}: {e.details}"
    if e.syntax is not None:
        return f'syntax "{e.syntax}": {text}'
    return text


def _log_error(err: LogError) -> OvsdbError:
    return OvsdbError(err.kind, f"{err.path}: {err.text}")


# ---------------------------------------------------------------------------
# The lock file.

_held: set[tuple[int, int]] = set()    # (st_dev, st_ino) of lock files this process holds


def lock_file_name(path: str) -> str:
    """`dir/.name.~lock~` for database file `dir/name`."""
    head, tail = os.path.split(path)
    return os.path.join(head, f".{tail}.~lock~")


class Lockfile:
    """An exclusive lock on a database file, through its lock file."""

    __slots__ = ("db_path", "path", "fd", "_key")

    def __init__(self, db_path: str, path: str, fd: int, key: tuple[int, int]) -> None:
        self.db_path = db_path
        self.path = path
        self.fd = fd
        self._key = key

    @classmethod
    def acquire(cls, db_path: str) -> "Lockfile":
        """Locks db_path or raises OvsdbError("I/O error", "<db>: failed to lock lockfile (...)")."""
        path = lock_file_name(db_path)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, LOCK_FILE_MODE)
        except OSError as e:
            log = vlog.module("lockfile")
            log.warn(f"{path}: failed to open lock file: {e.strerror}")
            log.warn(f"{path}: failed to lock file: {e.strerror}")
            raise OvsdbError("I/O error", f"{db_path}: failed to lock lockfile ({e.strerror})") from None
        st = os.fstat(fd)
        key = (st.st_dev, st.st_ino)
        failure = None
        if key in _held:
            vlog.module("lockfile").warn(f"{path}: cannot lock file because this process has already locked it")
            failure = errno.EDEADLK
        else:
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                failure = e.errno
                holder = _lock_holder(fd)
                if holder:
                    vlog.module("lockfile").warn(
                        f"{path}: cannot lock file because it is already locked by pid {holder}")
        if failure is not None:
            os.close(fd)
            raise OvsdbError("I/O error", f"{db_path}: failed to lock lockfile ({os.strerror(failure)})")
        _held.add(key)
        return cls(db_path, path, fd, key)

    def release(self) -> None:
        if self.fd >= 0:
            _held.discard(self._key)
            os.close(self.fd)      # closing drops the POSIX lock
            self.fd = -1


def follow_symlinks(path: str) -> str:
    """Where path finally points, following a chain of symlinks (relative ones from the
    link's own directory) even when the last target does not exist yet; at most 10 hops."""
    for _ in range(10):
        try:
            target = os.readlink(path)
        except OSError:
            return path
        path = os.path.join(os.path.dirname(path), target)
    return path


def _lock_holder(fd: int) -> int:
    """The pid holding a conflicting lock on fd, or 0 if unknown."""
    # struct flock on Linux: short l_type, short l_whence, off_t l_start,
    # off_t l_len, pid_t l_pid, padded to 32 bytes.
    fmt = "hhqqi4x"
    try:
        res = fcntl.fcntl(fd, fcntl.F_GETLK, struct.pack(fmt, fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0))
    except OSError:
        return 0
    l_type, _, _, _, pid = struct.unpack(fmt, res[:struct.calcsize(fmt)])
    return pid if l_type != fcntl.F_UNLCK else 0


# ---------------------------------------------------------------------------
# Reading without a Database (ovsdb-tool's db-* commands, show-log).


def read_file(path: str) -> bytes:
    """The whole file, or OvsdbError("I/O error", ...) in OVS's words."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise io_error(path, "open", e) from None
    try:
        return _read_fd(fd, path)
    finally:
        os.close(fd)


def read_log(path: str, *, strict: bool = True) -> tuple[list[LogRecord], LogError | None]:
    """The records of a standalone database file.  Raises OvsdbError if the
    file is not one, or (strict) if any record is bad."""
    records, err = parse_log(read_file(path), path)
    if err is not None and (strict or not records):
        raise _log_error(err)
    return records, err


def parse_schema(j: Any) -> DatabaseSchema:
    return DatabaseSchema.from_json(j)


def read_schema(path: str) -> DatabaseSchema:
    """The schema stored in database file path (its first record)."""
    data = read_file(path)
    records, err = parse_log(data, path)
    if not records:
        raise _log_error(err)
    return parse_schema(records[0].value)


# ---------------------------------------------------------------------------
# Compaction policy.


@dataclass(frozen=True, slots=True)
class CompactionPolicy:
    min_size: int = 10 * 1024 * 1024     # bytes
    growth: float = 2.0                  # times the size after the last compaction
    min_commits: int = 100
    min_interval: float = 10 * 60.0      # seconds
    max_interval: float = 24 * 60 * 60.0


def should_compact(*, size: int, base_size: int, commits: int, last_compaction: float, now: float,
                   policy: CompactionPolicy = CompactionPolicy()) -> bool:
    """Whether a log of `size` bytes, `base_size` after the last compaction
    (or open) at time `last_compaction`, with `commits` since, is due."""
    if commits < policy.min_commits:
        return False
    elapsed = now - last_compaction
    if elapsed >= policy.max_interval:
        return True
    return (elapsed >= policy.min_interval and size >= policy.min_size
            and size > policy.growth * base_size)


# ---------------------------------------------------------------------------
# An open database file.


class Storage:
    """An open, locked standalone database file and its replayed contents."""

    def __init__(self, path: str, schema: DatabaseSchema, db: Any, fd: int, lock: Lockfile | None,
                 size: int, read_error: LogError | None, now: float, n_records: int) -> None:
        self.path = path
        self.schema = schema
        self.db = db
        self.lock = lock
        self.read_error = read_error
        self.writer = LogWriter(fd, path, size)
        self.base_size = size
        self.commits = 0
        self.last_compaction = now
        self.n_records = n_records
        self.policy = CompactionPolicy()

    @classmethod
    def open(cls, path: str, *, read_only: bool = False, strict: bool = False, lock: bool = True,
             now: float | None = None) -> "Storage":
        """Opens, locks (unless read-only) and replays database file path.  A symlink is
        followed, so the lock, and compaction's rename, act on the file it points to."""
        now = time.time() if now is None else now
        given, path = path, follow_symlinks(path)
        held = Lockfile.acquire(path) if lock and not read_only else None
        try:
            try:
                fd = os.open(path, (os.O_RDONLY if read_only else os.O_RDWR) | os.O_CLOEXEC)
            except OSError as e:
                raise io_error(given, "open", e) from None
            try:
                data = _read_fd(fd, path)
                records, err = parse_log(data, path)
                if err is not None and (strict or not records):
                    raise _log_error(err)
                schema = parse_schema(records[0].value)
                db = Database(schema)
                for rec in records[1:]:
                    db.apply_record(rec.value)
            except BaseException:
                os.close(fd)
                raise
        except BaseException:
            if held is not None:
                held.release()
            raise
        if err is not None:
            vlog.module("ovsdb_log").warn(f"{err} (using the {len(records)} records before it)")
        size = records[-1].end
        return cls(path, schema, db, fd, held, size, err, now, len(records))

    @staticmethod
    def create(path: str, schema: DatabaseSchema | dict, *, lock: bool = True) -> None:
        """Creates a new database file holding just the schema; fails if path exists.

        A symlink is followed, dangling or not, as OVS does: the file (and its lock) is
        created where the link points, while errors name the path as given."""
        schema_json = schema.to_json() if isinstance(schema, DatabaseSchema) else schema
        target = follow_symlinks(path)
        held = Lockfile.acquire(target) if lock else None
        try:
            try:
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, DB_FILE_MODE)
            except OSError as e:
                raise io_error(path, "create", e) from None
            try:
                w = LogWriter(fd, path, 0)
                w.append([schema_json], durable=True)
            except OSError as e:
                raise io_error(path, "write", e) from None
            finally:
                os.close(fd)
        finally:
            if held is not None:
                held.release()

    # -- appending ---------------------------------------------------------

    @property
    def size(self) -> int:
        return self.writer.offset

    def append(self, records: list[dict], durable: bool = False) -> None:
        """Appends transaction records with one write; fsyncs if durable.

        Returns once the bytes are written, so the caller may acknowledge
        the commits.  Raises OvsdbError("I/O error", ...) on failure."""
        if self.read_error is not None:
            self._cut_torn_tail()
        try:
            self.writer.append(records, durable)
        except OSError as e:
            raise io_error(self.path, "write", e) from None
        self.commits += len(records)
        self.n_records += len(records)

    def append_commits(self, commits: Iterable[Any]) -> None:
        """Group commit: the records of several `Commit`s in one write,
        fsynced once if any of them asked to be durable."""
        records = []
        durable = False
        for c in commits:
            r = c.record()
            if r is not None:
                records.append(r)
            if c.durable:
                durable = True
        self.append(records, durable)

    def _cut_torn_tail(self) -> None:
        err = self.read_error
        if err is None:
            return
        try:
            actual = os.fstat(self.writer.fd).st_size
            if actual > err.offset:
                vlog.module("ovsdb_log").warn(
                    f"{self.path}: truncating {actual - err.offset} bytes of torn or corrupt log "
                    f"tail at offset {err.offset} ({err.kind}: {err.text})")
                os.ftruncate(self.writer.fd, err.offset)
        except OSError as e:
            raise io_error(self.path, "truncate", e) from None
        self.read_error = None

    # -- compaction --------------------------------------------------------

    def should_compact(self, now: float) -> bool:
        policy = self.policy
        if self.commits < policy.min_commits or (
                now - self.last_compaction < min(policy.min_interval, policy.max_interval)):
            return False    # asked after every commit: the usual answer, quickly
        return should_compact(size=self.size, base_size=self.base_size, commits=self.commits,
                              last_compaction=self.last_compaction, now=now, policy=self.policy)

    def compact(self, now: float | None = None, comment: str | None = "compacting database online",
                dst: str | None = None) -> None:
        """Rewrites the file (or writes dst) as schema plus one snapshot."""
        now = time.time() if now is None else now
        values = [self.schema.to_json(), snapshot(self.db, now, comment)]
        if dst is not None:
            write_locked(dst, values)
            return
        fd = write_atomically(self.path, values, keep_open=True)
        self.read_error = None          # the rewrite dropped any torn tail
        old = self.writer.fd
        self.writer = LogWriter(fd, self.path, os.fstat(fd).st_size)
        os.close(old)
        self.base_size = self.size
        self.commits = 0
        self.last_compaction = now
        self.n_records = 2

    def close(self) -> None:
        if self.writer.fd >= 0:
            os.close(self.writer.fd)
            self.writer.fd = -1
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    def __enter__(self) -> "Storage":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def snapshot(db: Any, now: float, comment: str | None) -> dict:
    """The compaction record: `_date` first, then the tables, then `_comment`."""
    snap = db.snapshot_record()
    rec: dict[str, Any] = {"_date": int(now * 1000)}
    rec.update((k, v) for k, v in snap.items() if k not in ("_date", "_comment"))
    if comment is not None:
        rec["_comment"] = comment
    return rec


def write_locked(path: str, values: list) -> None:
    """Writes a whole log to path (not open here), under path's lock."""
    held = Lockfile.acquire(path)
    try:
        write_atomically(path, values)
    finally:
        held.release()


def write_atomically(path: str, values: list, keep_open: bool = False) -> int | None:
    """Writes a whole log to path through `path.tmp` + fsync + rename.

    With keep_open, returns a read-write descriptor of the new file."""
    tmp = path + ".tmp"
    held = Lockfile.acquire(tmp)
    try:
        try:
            fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, DB_FILE_MODE)
        except OSError as e:
            raise io_error(tmp, "create", e) from None
        try:
            data = b"".join(encode_record(v) for v in values)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
            os.rename(tmp, path)
            _fsync_dir(os.path.dirname(path) or ".")
        except OSError as e:
            os.close(fd)
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise io_error(path, "compact", e) from None
        if keep_open:
            return fd
        os.close(fd)
        return None
    finally:
        held.release()


def _fsync_dir(directory: str) -> None:
    try:
        dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def _read_fd(fd: int, path: str) -> bytes:
    chunks = []
    try:
        while True:
            b = os.read(fd, 1 << 20)
            if not b:
                break
            chunks.append(b)
    except OSError as e:
        raise OvsdbError("I/O error", f"{path}: read error ({e.strerror})") from None
    return b"".join(chunks)
