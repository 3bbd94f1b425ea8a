"""LSPs named by their authority instead of their code: matched against the frame, never guessed.

A name matches when it equals one of the frame's authority names (``authority_name`` or ``ons_name``)
after both are normalised: case, punctuation and hyphens, "&" for "and", and the words around a
council's name ("City of", "Borough Council", "Metropolitan Borough of", ", County of", "LSP") are
ignored. Where one name belongs to a county and a district (Durham), "County" or
"City"/"District"/"Borough" in the name given decides; the bare name stays ambiguous. One LSP
matched is a repair; none or several is a rejection that names the candidates.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

_PREFIXES = (
    "city and county of",
    "royal borough of",
    "london borough of",
    "metropolitan borough of",
    "borough of",
    "city of",
    "county of",
    "district of",
)
_SUFFIXES = (
    "local strategic partnership",
    "metropolitan borough council",
    "metropolitan district council",
    "county borough council",
    "borough council",
    "district council",
    "county council",
    "city council",
    "council",
    "city of",
    "county of",
    "partnership",
    "lsp",
)
_NON_WORD = re.compile(r"[^\w]+")
MAX_CANDIDATES = 5


def normalise_authority(name: str) -> str:
    """The comparison form of an authority's name ("Bristol, City of" and "Bristol City Council" agree)."""
    text = name.casefold().replace("&", " and ").replace("’", "'").replace("'", "")
    text = _NON_WORD.sub(" ", text).strip()
    changed = True
    while changed:
        changed = False
        for prefix in _PREFIXES:
            if text.startswith(prefix + " "):
                text, changed = text[len(prefix) + 1 :], True
        for suffix in _SUFFIXES:
            if text.endswith(" " + suffix):
                text, changed = text[: -len(suffix) - 1], True
    text = re.sub(r"\bst\b", "saint", text)
    return re.sub(r"\s+", " ", text).strip()


@dataclass(frozen=True)
class NameMatch:
    """The LSP a name identifies (None unless exactly one), and the candidates a person should look at."""

    lsp_id: str | None
    candidates: tuple[tuple[str, str], ...]  # (lsp_id, authority_name)
    ambiguous: bool = False  # the name is that of several LSPs (not merely similar to some)

    def describe(self) -> str:
        return "; ".join(f"{lsp} ({name})" for lsp, name in self.candidates)


class AuthorityNames:
    """The frame's authority names, to look names up by; normalised on the first look-up only.

    Most exports code every LSP, so nothing is normalised for them; a replicated frame (the benchmarks'
    hundred thousand rows) repeats its names, so each distinct name is normalised once. ``frame`` may be
    a function that reads it: ingest then reads the frame only for an export that names an LSP.
    """

    def __init__(self, frame: pd.DataFrame | Callable[[], pd.DataFrame]) -> None:
        self._source = frame
        self._frame: pd.DataFrame | None = frame if isinstance(frame, pd.DataFrame) else None
        self._ids: frozenset[str] | None = None
        self._built: dict[str, list[tuple[str, str]]] | None = None
        self._counties: frozenset[str] = frozenset()

    @property
    def frame(self) -> pd.DataFrame:
        if self._frame is None:
            self._frame = self._source()  # type: ignore[operator]
        return self._frame

    @property
    def ids(self) -> frozenset[str]:
        if self._ids is None:
            self._ids = frozenset(self.frame["lsp_id"].astype(str))
        return self._ids

    @property
    def _by_name(self) -> dict[str, list[tuple[str, str]]]:
        if self._built is None:
            frame = self.frame
            types = frame["authority_type"] if "authority_type" in frame else pd.Series("", index=frame.index)
            self._counties = frozenset(frame.loc[types.astype(str).eq("county"), "lsp_id"].astype(str))
            columns = [c for c in ("authority_name", "ons_name") if c in frame]
            normalised: dict[str, str] = {}
            built: dict[str, dict[tuple[str, str], None]] = {}
            for record in frame[["lsp_id", *columns]].astype(str).itertuples(index=False):
                lsp_id, names = record[0], {name for name in record[1:] if name.strip()}
                for name in names:
                    if name not in normalised:
                        normalised[name] = normalise_authority(name)
                    entry = (lsp_id, record[1])
                    built.setdefault(normalised[name], {})[entry] = None
            self._built = {key: list(entries) for key, entries in built.items()}
        return self._built

    def match(self, name: str) -> NameMatch:
        key = normalise_authority(name)
        if not key:
            return NameMatch(None, ())
        exact = self._by_name.get(key, [])
        if len(exact) == 1:
            return NameMatch(exact[0][0], tuple(exact))
        if len(exact) > 1:
            # "Durham County Council" and "Durham City Council" name different LSPs of one name.
            folded = name.casefold()
            if re.search(r"\bcounty\b", folded):
                exact = [entry for entry in exact if entry[0] in self._counties] or exact
            elif re.search(r"\b(city|district|borough)\b", folded):
                exact = [entry for entry in exact if entry[0] not in self._counties] or exact
            if len(exact) == 1:
                return NameMatch(exact[0][0], tuple(exact))
            return NameMatch(None, tuple(sorted(exact)), ambiguous=True)
        # No exact match: the names that contain every word given, to say what was perhaps meant.
        words = key.split()
        near = sorted(
            {
                entry
                for other, entries in self._by_name.items()
                if all(word in other.split() for word in words)
                for entry in entries
            }
        )
        return NameMatch(None, tuple(near[:MAX_CANDIDATES]))

    def looks_like_name(self, value: str) -> bool:
        """A value that is no LSP code but has letters enough to be an authority's name."""
        # Letters first: an export of codes (22UH, 09) never needs the frame read.
        return len(re.findall(r"[^\W\d_]", value)) >= 3 and value not in self.ids
