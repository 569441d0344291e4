"""Where pkceflow keeps profiles and tokens: $PKCEFLOW_HOME, or the platform's folders."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Callable

# pathlib is imported where a Path is made: ``pkceflow token``'s fast path reads
# these folders as strings and does not pay for it.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "StagedFile",
    "UnsafeFileError",
    "config_dir",
    "data_dir",
    "folders",
    "fsync_folder",
    "make_private_folders",
    "read_private",
    "shown",
    "stage_private",
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


def make_private_folders(directory: Path) -> None:
    """Create ``directory`` and each missing parent 0700.

    ``Path.mkdir(parents=True)`` makes the parents 0777 less the umask: under umask 0,
    a PKCEFLOW_HOME in which another user could rename a folder away and put their
    own in its place.
    """
    missing: list[Path] = []
    path = directory
    while not path.exists() and path != path.parent:  # bounded by the path's depth
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=0o700)


class UnsafeFileError(Exception):
    """A file pkceflow trusts cannot be trusted or read; the message names the fix."""


def shown(path: object, limit: int = 160) -> str:
    """``path`` for a one-line message: a very long one keeps its two ends."""
    text = os.fsdecode(path) if isinstance(path, (str, bytes, os.PathLike)) else str(path)
    if len(text) <= limit:
        return text
    half = (limit - 1) // 2
    return f"{text[:half]}\u2026{text[-half:]}"


_READ_FLAGS = (
    os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0) | os.O_NONBLOCK
)


def _check_folder(folder: str) -> None:
    try:
        info = os.lstat(folder)
    except OSError as exc:
        raise UnsafeFileError(f"cannot use {shown(folder)}: {exc.strerror}") from None
    if not stat.S_ISDIR(info.st_mode):
        raise UnsafeFileError(f"{folder} is not a folder (a symlink or a file is in the way)")
    if info.st_uid != os.getuid():
        raise UnsafeFileError(f"{folder} belongs to another user; refusing to use it")
    if info.st_mode & 0o022:
        raise UnsafeFileError(
            f"other users can write in {folder} (mode {stat.S_IMODE(info.st_mode):o});"
            f" fix it with: chmod 700 {folder}"
        )


def read_private(path: str, *, secret: bool, limit: int = 1 << 20) -> bytes | None:
    """The bytes of ``path`` if only this user controls it; None when it does not exist.

    Refused, with UnsafeFileError naming the fix: a symlink, anything but a regular
    file (a FIFO is opened without blocking, then refused), a file of another user,
    one others can write (or, with ``secret``, read), a file in a folder others can
    write in or that belongs to another user, and a file over ``limit`` bytes. The
    token store, profiles and the ``pkceflow token`` fast path all read through here:
    a profile names the token endpoint, where refresh tokens and secrets are sent,
    so it is trusted no more than the tokens are.
    """
    try:
        fd = os.open(path, _READ_FLAGS)
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
        _check_folder(os.path.dirname(path) or ".")
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


def fsync_folder(folder: str | os.PathLike[str]) -> None:
    """Make a rename in ``folder`` durable (POSIX); where folders cannot be opened, skip."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class StagedFile:
    """Data written to a private temporary file beside its place, not yet renamed in.

    :meth:`commit` renames it over ``path`` (atomic) and makes that durable;
    :meth:`discard` removes the temporary file if it is still there. OSError from
    either is the caller's to report.
    """

    def __init__(self, temporary: str, path: str) -> None:
        self.temporary = temporary
        self.path = path

    def commit(self) -> None:
        """Put the staged file in place (OSError when that fails)."""
        os.replace(self.temporary, self.path)
        fsync_folder(os.path.dirname(self.path) or ".")

    def discard(self) -> None:
        """Remove the temporary file (after a failure, or when already committed)."""
        with contextlib.suppress(OSError):
            os.unlink(self.temporary)


def stage_private(
    path: str | os.PathLike[str],
    data: bytes,
    *,
    write: Callable[[int, bytes], None] = _write_all,
) -> StagedFile:
    """Write ``data`` to ``.<stem>.<pid>.<8 hex>.tmp`` beside ``path``, 0600, fsynced.

    The temporary file is created exclusively (``O_EXCL``, ``O_NOFOLLOW``) under a
    name no other user can predict, so a planted symlink cannot redirect the write;
    nothing is replaced until :meth:`StagedFile.commit`. A full or read-only disk
    raises OSError here, with the temporary file removed. ``write`` sends the bytes
    (the token store's own, which its tests replace to fill the disk).
    """
    target = os.fspath(path)
    folder, name = os.path.split(target)
    stem = name.rsplit(".", 1)[0]
    temporary = os.path.join(folder, f".{stem}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(temporary, flags | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        try:
            write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return StagedFile(temporary, target)
