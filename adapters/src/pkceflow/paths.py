"""Where pkceflow keeps profiles and tokens, and how it reads and writes them privately.

The folders are ``$PKCEFLOW_HOME``, or the platform's. Token sets, client secrets
and profiles are all read and written here: a profile names the token endpoint,
where refresh tokens and secrets are sent, so it is trusted no more than the tokens
are. Every check is made on an open file descriptor, never on a path looked at
before opening it: the folder is opened first (not through a symlink) and checked,
then the file is opened relative to that folder's descriptor and checked, so what
is checked is what is read or replaced.

Standard library only, and no pathlib at import: ``pkceflow token``'s fast path
reads through here. Problems raise :class:`UnsafeFileError`, which never leaves the
adapters: the token store turns it into a StoreError, profiles into a UsageError or
StoreError, and the fast path into "run the full command".
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat

# pathlib is imported where a Path is made: ``pkceflow token``'s fast path reads
# these folders as strings and does not pay for it.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

__all__ = [
    "StagedFile",
    "UnsafeFileError",
    "config_dir",
    "data_dir",
    "folders",
    "make_private_folder",
    "read_private",
    "remove_temporaries",
    "shown",
    "stage_private",
    "write_all",
]


def folders() -> tuple[str, str]:
    """The config folder (profiles) and the data folder (tokens, locks), as strings.

    Both are ``$PKCEFLOW_HOME`` when it is set, else the user's platform folders.
    """
    home = os.environ.get("PKCEFLOW_HOME")
    if home:
        home = os.path.expanduser(home)
        return home, home
    import platformdirs

    return (
        platformdirs.user_config_dir("pkceflow", appauthor=False),
        platformdirs.user_data_dir("pkceflow", appauthor=False),
    )


def config_dir() -> Path:
    """Profiles live here: ``$PKCEFLOW_HOME`` or the user's config folder."""
    from pathlib import Path

    return Path(folders()[0])


def data_dir() -> Path:
    """Token files and lock files live here: ``$PKCEFLOW_HOME`` or the user's data folder."""
    from pathlib import Path

    return Path(folders()[1])


def shown(path: object, limit: int = 160) -> str:
    """``path`` for a one-line message: a very long one keeps its two ends."""
    text = os.fsdecode(path) if isinstance(path, (str, bytes, os.PathLike)) else str(path)
    if len(text) <= limit:
        return text
    half = (limit - 1) // 2
    return f"{text[:half]}\u2026{text[-half:]}"


# -- private files ---------------------------------------------------------------------

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_FOLDER_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _NOFOLLOW | _CLOEXEC
# O_NONBLOCK: a FIFO planted in a file's place is opened at once, then refused.
_READ_FLAGS = os.O_RDONLY | _NOFOLLOW | _CLOEXEC | os.O_NONBLOCK
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC
_HEX = frozenset("0123456789abcdef")


class UnsafeFileError(Exception):
    """A file pkceflow trusts cannot be trusted, read or written; the message names the fix."""


# -- private folders -------------------------------------------------------------------


def _not_a_folder(folder: str) -> UnsafeFileError:
    return UnsafeFileError(f"{folder} is not a folder (a symlink or a file is in the way)")


def _open_folder(folder: str) -> int | None:
    """A descriptor of ``folder`` itself (never a symlink's target); None if missing."""
    try:
        return os.open(folder, _FOLDER_FLAGS)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno in (errno.ENOTDIR, errno.ELOOP):
            raise _not_a_folder(folder) from None
        raise UnsafeFileError(f"cannot use {shown(folder)}: {exc.strerror}") from None


def _check_folder(fd: int, folder: str, *, make_private: bool) -> None:
    """Refuse a folder of another user; one others can write in is refused, or closed."""
    info = os.fstat(fd)
    if not stat.S_ISDIR(info.st_mode):  # where there is no O_DIRECTORY
        raise _not_a_folder(folder)
    if info.st_uid != os.getuid():
        raise UnsafeFileError(f"{folder} belongs to another user; refusing to use it")
    if make_private:
        if info.st_mode & 0o077:
            os.fchmod(fd, 0o700)
    elif info.st_mode & 0o022:
        raise UnsafeFileError(
            f"other users can write in {folder} (mode {stat.S_IMODE(info.st_mode):o});"
            f" fix it with: chmod 700 {folder}"
        )


def _private_folder(folder: str) -> int:
    """Create ``folder`` (and its missing parents) 0700, or make it private; its descriptor.

    ``mkdir -p`` would make the parents 0777 less the umask: under umask 0, a
    PKCEFLOW_HOME in which another user could rename a folder away and put their own
    in its place. An existing folder open to others is closed to them (on its
    descriptor); one that is a symlink, or of another user, is refused.
    """
    missing = []
    path = folder
    while not os.path.lexists(path) and path != os.path.dirname(path):  # bounded by depth
        missing.append(path)
        path = os.path.dirname(path)
    for part in reversed(missing):
        try:
            os.mkdir(part, 0o700)
        except FileExistsError:
            pass  # made meanwhile, by another pkceflow; checked below like any other
        except OSError as exc:
            raise UnsafeFileError(f"cannot create {shown(part)}: {exc.strerror}") from None
    try:
        fd = os.open(folder, _FOLDER_FLAGS)
    except OSError as exc:
        if exc.errno in (errno.ENOTDIR, errno.ELOOP) and not os.path.islink(folder):
            raise UnsafeFileError(
                f"cannot create {folder}: {os.strerror(errno.EEXIST)} (a file is in the way)"
            ) from None
        if exc.errno in (errno.ENOTDIR, errno.ELOOP):
            raise _not_a_folder(folder) from None
        raise UnsafeFileError(f"cannot create {shown(folder)}: {exc.strerror}") from None
    try:
        _check_folder(fd, folder, make_private=True)
    except OSError as exc:
        os.close(fd)
        raise UnsafeFileError(f"cannot use {shown(folder)}: {exc.strerror}") from None
    except BaseException:
        os.close(fd)
        raise
    return fd


def make_private_folder(folder: str | os.PathLike[str]) -> None:
    """Make sure ``folder`` exists, is this user's, and is closed to others (0700).

    Missing folders, parents included, are created 0700 whatever the umask; an
    existing one open to others is made 0700. UnsafeFileError when it cannot be
    created, is a symlink or a file, or belongs to another user.
    """
    os.close(_private_folder(os.fspath(folder)))


# -- reading ---------------------------------------------------------------------------


def read_private(path: str, *, secret: bool, limit: int = 1 << 20) -> bytes | None:
    """The bytes of ``path`` if only this user controls it; None when it does not exist.

    Refused, with UnsafeFileError naming the fix: a symlink, anything but a regular
    file (a FIFO is opened without blocking, then refused), a file of another user,
    one others can write (or, with ``secret``, read or write), a file in a folder
    that is a symlink, that others can write in or that belongs to another user, and
    a file over ``limit`` bytes.
    """
    folder, name = os.path.split(path)
    folder_fd = _open_folder(folder or ".")
    if folder_fd is None:
        return None
    try:
        return _read_in(folder_fd, folder or ".", name, path, secret=secret, limit=limit)
    finally:
        os.close(folder_fd)


def _read_in(
    folder_fd: int, folder: str, name: str, path: str, *, secret: bool, limit: int
) -> bytes | None:
    try:
        fd = os.open(name, _READ_FLAGS, dir_fd=folder_fd)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafeFileError(f"{path} is a symlink; refusing to follow it") from None
        raise UnsafeFileError(f"cannot read {shown(path)}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeFileError(f"{path} is not a regular file; remove it")
        if info.st_uid != os.getuid():
            raise UnsafeFileError(f"{path} belongs to another user; refusing to use it")
        if info.st_mode & (0o077 if secret else 0o022):
            raise UnsafeFileError(
                f"{path} can be {'read' if secret else 'changed'} by other users"
                f" (mode {stat.S_IMODE(info.st_mode):o}); fix it with: chmod 600 {path}"
            )
        _check_folder(folder_fd, folder, make_private=False)
        chunks, size = [], 0
        while chunk := os.read(fd, 65536):
            size += len(chunk)
            if size > limit:
                raise UnsafeFileError(f"{path} is larger than {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise UnsafeFileError(f"cannot read {shown(path)}: {exc.strerror}") from None
    finally:
        os.close(fd)


# -- writing ---------------------------------------------------------------------------


def write_all(fd: int, data: bytes) -> None:
    """Write every byte of ``data`` to ``fd`` (OSError when the disk is full)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _temporary_name(name: str) -> str:
    stem = name.rsplit(".", 1)[0]
    return f".{stem}.{os.getpid()}.{os.urandom(8).hex()}.tmp"


class StagedFile:
    """Data in a private temporary file beside its place, not yet renamed into it.

    :meth:`commit` renames it over :attr:`path` (atomic) and makes that durable;
    :meth:`discard` removes the temporary file unless it was committed, and lets go
    of the folder. Call :meth:`discard` in every case (a ``finally``). OSError from
    :meth:`commit` is the caller's to report.
    """

    def __init__(self, folder_fd: int, temporary: str, path: str) -> None:
        self._folder_fd: int | None = folder_fd
        self._temporary = temporary
        self._committed = False
        #: Where :meth:`commit` puts the file.
        self.path = path

    def commit(self) -> None:
        """Rename the staged file over :attr:`path` and fsync the folder (OSError on failure)."""
        if self._folder_fd is None:
            raise FileNotFoundError(errno.ENOENT, "the staged file was discarded", self.path)
        name = os.path.basename(self.path)
        os.replace(self._temporary, name, src_dir_fd=self._folder_fd, dst_dir_fd=self._folder_fd)
        self._committed = True
        with contextlib.suppress(OSError):  # some filesystems cannot fsync a folder
            os.fsync(self._folder_fd)

    def discard(self) -> None:
        """Remove the temporary file if it is still there; close the folder."""
        if self._folder_fd is None:
            return
        if not self._committed:
            with contextlib.suppress(OSError):
                os.unlink(self._temporary, dir_fd=self._folder_fd)
        os.close(self._folder_fd)
        self._folder_fd = None


def stage_private(
    path: str | os.PathLike[str],
    data: bytes,
    *,
    write: Callable[[int, bytes], None] = write_all,
) -> StagedFile:
    """Write ``data`` to ``.<stem>.<pid>.<16 hex>.tmp`` beside ``path``, 0600, fsynced.

    The folder is created 0700 (or made private) first. The temporary file is created
    exclusively (``O_EXCL``, ``O_NOFOLLOW``, relative to the checked folder's
    descriptor) under a name no other process can predict, so a planted file or
    symlink cannot receive the write; nothing is replaced until
    :meth:`StagedFile.commit`. UnsafeFileError for the folder; OSError (a full or
    read-only disk) for the file, with the temporary file removed. ``write`` sends
    the bytes (the token store's own, which its tests replace to fill the disk).
    """
    target = os.fspath(path)
    folder, name = os.path.split(target)
    folder_fd = _private_folder(folder or ".")
    temporary = _temporary_name(name)
    try:
        fd = os.open(temporary, _CREATE_FLAGS, 0o600, dir_fd=folder_fd)
        try:
            try:
                write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary, dir_fd=folder_fd)
            raise
    except BaseException:
        os.close(folder_fd)
        raise
    return StagedFile(folder_fd, temporary, target)


def remove_temporaries(path: str | os.PathLike[str]) -> None:
    """Remove the temporary files :func:`stage_private` left beside ``path``.

    Only a writer that died before renaming (kill -9, power loss) leaves one, so call
    this only where no writer of ``path`` can be at work (holding its lock). The
    files may hold tokens, so they do not stay.
    """
    folder, name = os.path.split(os.fspath(path))
    prefix = f".{name.rsplit('.', 1)[0]}."
    try:
        names = os.listdir(folder or ".")
    except OSError:
        return
    for entry in names:
        if not (entry.startswith(prefix) and entry.endswith(".tmp")):
            continue
        pid, _, token = entry[len(prefix) : -len(".tmp")].partition(".")
        # 16 hex digits; 8 from earlier versions of pkceflow.
        if pid.isascii() and pid.isdigit() and len(token) in (8, 16) and set(token) <= _HEX:
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(folder, entry))
