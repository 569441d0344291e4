"""The Python examples of the documentation, and the markers that say how each is run.

Every fenced ``python`` block of every Markdown file under ``docs/`` (and of
``README.md``) carries, on the line right before its opening fence, a marker:

``<!-- example: run [provider=ISSUER] [client=ID,...] [expect=ENDPOINT,...] -->``
    Run the block in a fresh namespace. With ``provider=``, a
    ``pkceflow.testing.TestProvider`` is started whose issuer has ISSUER's path,
    every occurrence of ISSUER in the block is replaced by the provider's real
    issuer, each ``client=`` id is registered as a public client, and the block's
    namespace holds ``provider`` and ``sign_in(url)`` (a person signing in at
    ``url`` in a browser; it returns the URL the server redirected to). A
    ``pkceflow.Client`` that opens a browser signs in through the provider as well.
``<!-- example: continue [expect=...] -->``
    Run the block in the namespace, and against the provider, of the block run
    before it in the same file.
``<!-- example: skip: REASON -->``
    Do not run the block; REASON (required) says why.

``expect=`` names the provider's endpoints (``discovery``, ``authorize``, ``token``,
``jwks``, ``revoke``, ``userinfo``...) that must have been requested while the
block ran, so a block that silently did nothing fails.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import attrs

__all__ = ["ROOT", "Block", "Chain", "Marker", "chains", "markdown_files", "python_blocks"]

ROOT = Path(__file__).resolve().parents[2]

_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
_MARKER = re.compile(r"^\s*<!--\s*example:\s*(?P<body>.*?)\s*-->\s*$")
_SKIP = re.compile(r"skip:\s*(?P<reason>\S.*)")


@attrs.frozen
class Marker:
    """What a block's ``<!-- example: ... -->`` line says."""

    kind: str  # "run", "continue" or "skip"
    reason: str = ""
    provider: str | None = None
    clients: tuple[str, ...] = ()
    expect: tuple[str, ...] = ()


@attrs.frozen
class Block:
    """One fenced ``python`` block: where it is, its code, and its marker (or None)."""

    path: Path
    line: int  # 1-based line of the opening fence
    code: str
    marker: Marker | None
    problem: str | None = None  # a marker that could not be read

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


@attrs.frozen
class Chain:
    """A ``run`` block and the ``continue`` blocks after it: one namespace, one provider."""

    blocks: tuple[Block, ...]

    @property
    def first(self) -> Block:
        return self.blocks[0]


def markdown_files() -> list[Path]:
    """README.md and every Markdown file under docs/, in a stable order."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def _parse_marker(body: str) -> tuple[Marker | None, str | None]:
    skip = _SKIP.fullmatch(body)
    if skip is not None:
        return Marker("skip", reason=skip.group("reason").strip()), None
    words = body.split()
    if not words or words[0] not in ("run", "continue"):
        return None, f"unknown marker {body!r}: use run, continue or skip: REASON"
    options: dict[str, str] = {}
    for word in words[1:]:
        name, sep, value = word.partition("=")
        if not sep or not value or name not in ("provider", "client", "expect"):
            return None, f"unknown option {word!r} (provider=, client=, expect=)"
        if name in options:
            return None, f"option {name}= given twice"
        options[name] = value
    if words[0] == "continue" and ("provider" in options or "client" in options):
        return None, "a continue block uses the provider of the block before it"
    return (
        Marker(
            words[0],
            provider=options.get("provider"),
            clients=tuple(options["client"].split(",")) if "client" in options else (),
            expect=tuple(options["expect"].split(",")) if "expect" in options else (),
        ),
        None,
    )


def python_blocks(path: Path) -> Iterator[Block]:
    """The fenced Python blocks of a Markdown file, each with the marker before it."""
    lines = path.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        match = _FENCE.match(lines[index])
        if match is None:
            index += 1
            continue
        fence, language = match.group("fence"), match.group("info").strip().split(" ")[0]
        start = index
        index += 1
        body: list[str] = []
        while index < len(lines) and not lines[index].strip().startswith(fence):
            body.append(lines[index])
            index += 1
        index += 1  # the closing fence
        if language.lower() not in ("python", "py", "python3"):
            continue
        before = start - 1
        while before >= 0 and not lines[before].strip():
            before -= 1
        marker_match = _MARKER.match(lines[before]) if before >= 0 else None
        marker, problem = (None, None)
        if marker_match is not None:
            marker, problem = _parse_marker(marker_match.group("body"))
        yield Block(path, start + 1, "\n".join(body) + "\n", marker, problem)


def chains(blocks: list[Block]) -> list[Chain]:
    """Group the run and continue blocks of one file's blocks into chains."""
    found: list[list[Block]] = []
    for block in blocks:
        if block.marker is None or block.marker.kind == "skip":
            continue
        if block.marker.kind == "run":
            found.append([block])
        elif found and found[-1][0].path == block.path:
            found[-1].append(block)
    return [Chain(tuple(chain)) for chain in found]
