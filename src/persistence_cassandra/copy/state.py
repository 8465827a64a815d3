"""The progress file of a copy: what is done, so that an interrupted copy resumes.

The copy is split into units (one per record family and shard, see
:mod:`persistence_cassandra.copy.units`). A unit reads its source in pages; after every
record of a page has been written to the target, the unit's entry records the source's page
token of the *next* page. An interrupted copy therefore resumes at the first page that was not
wholly written, and rewrites at most that page, which the target writes make harmless
(idempotent upserts, or conditional writes whose conflict is compared with the source).

The file is JSON, replaced atomically (written aside, then renamed), and names the source and
target it belongs to: a state file of another pair of stores is refused rather than trusted.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from persistence_cassandra.errors import UserFacingError

__all__ = ["CopyState", "CopyStateError", "UnitProgress"]

STATE_FORMAT = 1


class CopyStateError(UserFacingError):
    """The progress file cannot be used (unreadable, or belongs to another copy)."""


@dataclass(slots=True)
class UnitProgress:
    token: bytes = b""
    """Source page token of the next page to copy (``b""``: from the start)."""
    done: bool = False
    pages: int = 0


@dataclass(slots=True)
class CopyState:
    path: Path
    source: str
    target: str
    target_was_empty: bool = True
    """The target held nothing when this copy began (otherwise ``--force`` was given)."""
    finished: bool = False
    shard_ranges: dict[int, int] = field(default_factory=dict)
    """Range id each target shard was given; execution writes are fenced with it."""
    discovered_shards: set[int] = field(default_factory=set)
    """Shard ids found in history tree rows beyond ``1..numHistoryShards``."""
    units: dict[str, UnitProgress] = field(default_factory=dict)
    copied: dict[str, int] = field(default_factory=dict)
    """Records moved so far per kind label, over every run of this copy."""
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    # ------------------------------------------------------------------ file

    @classmethod
    def load(cls, path: Path, *, source: str, target: str) -> CopyState | None:
        """The state at ``path`` for this source and target; ``None`` when there is none."""
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise CopyStateError(f"cannot read copy state {path}: {exc.strerror}") from None
        try:
            document = json.loads(text)
        except ValueError:
            document = None
        if not isinstance(document, dict) or "format" not in document:
            # Perhaps a file of the user's given by mistake: never advise deleting it.
            raise CopyStateError(
                f"{path} is not a copy state file; pass a new path with --state (or leave it "
                "out for the default next to the config)"
            )
        try:
            state = cls._from_json(path, document)
        except (ValueError, KeyError, TypeError) as exc:
            raise CopyStateError(
                f"copy state {path} is unreadable ({exc}); delete it to start the copy over "
                "(re-copying is harmless)"
            ) from None
        if (state.source, state.target) != (source, target):
            raise CopyStateError(
                f"copy state {path} belongs to a copy from {state.source} to {state.target}; "
                "pass another --state file or delete it"
            )
        return state

    @classmethod
    def _from_json(cls, path: Path, document: Any) -> CopyState:
        if not isinstance(document, dict) or document.get("format") != STATE_FORMAT:
            raise ValueError("not a copy state file of this version")
        units = {
            name: UnitProgress(
                base64.b64decode(entry["token"]), bool(entry["done"]), int(entry["pages"])
            )
            for name, entry in document["units"].items()
        }
        return cls(
            path=path,
            source=str(document["source"]),
            target=str(document["target"]),
            target_was_empty=bool(document["target_was_empty"]),
            finished=bool(document["finished"]),
            shard_ranges={int(k): int(v) for k, v in document["shard_ranges"].items()},
            discovered_shards={int(s) for s in document["discovered_shards"]},
            units=units,
            copied={str(k): int(v) for k, v in document["copied"].items()},
        )

    def to_json(self) -> str:
        document = {
            "format": STATE_FORMAT,
            "source": self.source,
            "target": self.target,
            "target_was_empty": self.target_was_empty,
            "finished": self.finished,
            "shard_ranges": {str(k): v for k, v in sorted(self.shard_ranges.items())},
            "discovered_shards": sorted(self.discovered_shards),
            "units": {
                name: {
                    "token": base64.b64encode(unit.token).decode("ascii"),
                    "done": unit.done,
                    "pages": unit.pages,
                }
                for name, unit in sorted(self.units.items())
            },
            "copied": dict(sorted(self.copied.items())),
        }
        return json.dumps(document, indent=1)

    async def save(self) -> None:
        """Write the file atomically, off the event loop; saves never interleave."""
        async with self._lock:
            text = self.to_json()
            await asyncio.to_thread(_replace_file, self.path, text)

    # ------------------------------------------------------------------ progress

    def unit(self, name: str) -> UnitProgress:
        found = self.units.get(name)
        if found is None:
            found = self.units[name] = UnitProgress()
        return found

    def count(self, label: str, n: int) -> None:
        self.copied[label] = self.copied.get(label, 0) + n


def _replace_file(path: Path, text: str) -> None:
    # Written aside and renamed: a crash mid-write leaves the previous state, never half of one.
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
