"""Saves token sets with the real FileStore under ``umask 0`` and reports every mode seen.

Run as ``python umask_worker.py HOME [PRECREATE_MODE]`` with HOME not existing yet (or,
with PRECREATE_MODE in octal, pre-created with that mode as a loose tokens folder). The
process sets its umask to 0 first, so whatever pkceflow does not restrict itself is
created open to everyone. It prints one JSON object:

- ``writes``: at each FileStore._write_fd call, before a byte is written, the temporary
  file's mode (fstat of the open descriptor), the folder's mode and every entry's mode;
- ``seen``: every (path, mode) a watcher thread saw while polling the folder tree;
- ``chmods``: every chmod/fchmod pkceflow made (a mode fixed afterwards is a window);
- ``final``: the modes left behind.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import threading
import time
from pathlib import Path
from typing import Any


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def _tree(root: Path) -> dict[str, int]:
    """Every entry under ``root`` (itself included) with its mode; bounded in count."""
    found: dict[str, int] = {}
    todo = [root]
    while todo and len(found) < 200:
        path = todo.pop()
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            continue  # renamed or removed between listing and stat
        found[str(path)] = stat.S_IMODE(info.st_mode)
        if stat.S_ISDIR(info.st_mode):
            try:
                todo += [path / name for name in os.listdir(path)]
            except (FileNotFoundError, PermissionError):
                continue
    return found


def main(argv: list[str]) -> None:
    os.umask(0)
    home = Path(argv[1])
    if len(argv) > 2:
        (home / "tokens").mkdir(parents=True)
        os.chmod(home / "tokens", int(argv[2], 8))
    os.environ["PKCEFLOW_HOME"] = str(home)

    from pkceflow.file_store import FileStore
    from pkceflow_core import TokenSet

    report: dict[str, Any] = {"writes": [], "seen": {}, "chmods": []}
    real_write_fd = FileStore._write_fd

    def write_fd(self: FileStore, fd: int, data: bytes) -> None:
        report["writes"].append(
            {
                "file": stat.S_IMODE(os.fstat(fd).st_mode),
                "folder": _mode(self.directory),
                "entries": {
                    name: _mode(self.directory / name) for name in os.listdir(self.directory)
                },
            }
        )
        time.sleep(0.05)  # hold the window open for the watcher, if there is one
        real_write_fd(self, fd, data)

    FileStore._write_fd = write_fd  # type: ignore[method-assign]

    real_chmod, real_fchmod = os.chmod, os.fchmod

    def chmod(path: Any, mode: int, *args: Any, **kwargs: Any) -> None:
        report["chmods"].append([str(path), mode])
        real_chmod(path, mode, *args, **kwargs)

    def fchmod(fd: int, mode: int) -> None:
        report["chmods"].append([os.readlink(f"/proc/self/fd/{fd}"), mode])
        real_fchmod(fd, mode)

    os.chmod = chmod
    os.fchmod = fchmod

    stop = threading.Event()

    def watch() -> None:
        deadline = time.monotonic() + 10.0
        for _ in range(100_000):  # bounded in count and in time
            if stop.is_set() or time.monotonic() > deadline:
                break
            for path, mode in _tree(home).items():
                report["seen"].setdefault(path, [])
                if mode not in report["seen"][path]:
                    report["seen"][path].append(mode)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    time.sleep(0.02)
    store = FileStore()
    first = TokenSet("access-1" * 4, refresh_token="refresh-1" * 4)
    second = TokenSet("access-2" * 4, refresh_token="refresh-2" * 4)
    store.save("work", first)
    assert store.replace("work", first, second)
    store.save("other", first)
    time.sleep(0.05)
    stop.set()
    watcher.join(10.0)
    report["final"] = _tree(home)
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv)
