"""What a fuzz run found: counters for the one-line summary, and findings saved as small JSON
files (the exact bytes, the target, the seed) under ``tests/fuzz/findings/``, one per distinct
signature."""

from __future__ import annotations

import base64
import collections
import hashlib
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

import attrs

FINDINGS_DIR = Path(os.environ.get("TRIMCP_FUZZ_FINDINGS", Path(__file__).resolve().parent / "findings"))
KINDS = ("deaths", "hangs", "lost", "5xx", "errors")
#: Print the summary to stderr every this many cases (0: never); ``python -m tests.fuzz`` sets it.
PROGRESS_EVERY = 0


@attrs.define
class Finding:
    """One failure: its kind (a key of :data:`KINDS`), a short signature used to de-duplicate,
    the exact input, and what the server said (status, stderr tail, traceback)."""

    target: str
    kind: str
    signature: str
    data: bytes | list[bytes]
    detail: str = ""
    seed: int | None = None
    #: What a replay needs beyond the bytes (relayed HTTP: the sessions they name, where they went).
    context: dict[str, Any] = attrs.field(factory=dict)

    def to_json(self) -> dict[str, Any]:
        chunks = self.data if isinstance(self.data, list) else [self.data]
        return {
            "target": self.target,
            "kind": self.kind,
            "signature": self.signature,
            "seed": self.seed,
            "detail": self.detail[-6000:],
            "data_b64": [base64.b64encode(chunk).decode() for chunk in chunks],
            "data_repr": [repr(chunk[:2000]) for chunk in chunks],
            "context": self.context,
            "found_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }


@attrs.define
class Report:
    """Counts of one run and its de-duplicated findings (the first example of each signature)."""

    target: str
    cases: int = 0
    counts: dict[str, int] = attrs.field(factory=lambda: dict.fromkeys(KINDS, 0))
    findings: dict[str, Finding] = attrs.field(factory=dict)
    #: How the server answered (HTTP statuses, kinds of lines), to see that cases reach deep.
    outcomes: collections.Counter[str] = attrs.field(factory=collections.Counter)
    started: float = attrs.field(factory=time.monotonic)

    def seen(self, kind: str, signature: str) -> bool:
        """Whether a finding of this kind and signature was already recorded."""
        return f"{kind}:{signature}" in self.findings

    def count(self) -> None:
        """One more case ran."""
        self.cases += 1
        if PROGRESS_EVERY and self.cases % PROGRESS_EVERY == 0:
            print(f"  … {self.summary()}", file=sys.stderr, flush=True)

    def add(self, finding: Finding) -> None:
        self.counts[finding.kind] += 1
        key = f"{finding.kind}:{finding.signature}"
        if key not in self.findings:
            self.findings[key] = finding
            save(finding)

    def outcome_line(self) -> str:
        """The outcome counts, most common first."""
        return ", ".join(f"{name}: {count}" for name, count in self.outcomes.most_common())

    def merge(self, other: Report) -> None:
        self.cases += other.cases
        for kind, count in other.counts.items():
            self.counts[kind] += count
        for key, finding in other.findings.items():
            self.findings.setdefault(key, finding)

    @property
    def failures(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> str:
        """The one-line summary: ``fuzz <target>: N cases in T s, deaths=0 hangs=0 lost=0 5xx=0 errors=0``."""
        elapsed = time.monotonic() - self.started
        counts = " ".join(f"{kind}={self.counts[kind]}" for kind in KINDS)
        distinct = (
            f" ({len(self.findings)} distinct: {', '.join(sorted(self.findings))[:400]})" if self.findings else ""
        )
        return f"fuzz {self.target}: {self.cases} cases in {elapsed:.1f} s, {counts}{distinct}"


def save(finding: Finding) -> Path | None:
    """Write ``finding`` as JSON under :data:`FINDINGS_DIR` (name from target, kind, signature)."""
    digest = hashlib.sha1(f"{finding.target}:{finding.kind}:{finding.signature}".encode()).hexdigest()[:10]
    slug = re.sub(r"[^A-Za-z0-9]+", "-", finding.signature)[:50].strip("-")
    path = FINDINGS_DIR / f"{finding.target}-{finding.kind}-{slug}-{digest}.json"
    try:
        FINDINGS_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(finding.to_json(), indent=1))
    except OSError:
        return None
    return path


def load(path: str | Path) -> tuple[str, list[bytes]]:
    """A saved finding's target and input bytes (for replaying it)."""
    record = json.loads(Path(path).read_text())
    return record["target"], [base64.b64decode(chunk) for chunk in record["data_b64"]]


def load_context(path: str | Path) -> dict[str, Any]:
    """A saved finding's replay context (see :attr:`Finding.context`)."""
    return json.loads(Path(path).read_text()).get("context") or {}


_TRACE_LINE = re.compile(r"^[ |+]*(\w[\w.]*(?:Error|Exception|Exit|Interrupt|Group)\b:.*)$", re.MULTILINE)


def traceback_signature(stderr: str) -> str:
    """The last exception line of a traceback in ``stderr`` (``KeyError: 'x'``), shortened and
    with numbers blurred so that similar crashes share a signature; ``""`` when there is none."""
    lines = [
        line for line in _TRACE_LINE.findall(stderr) if not line.startswith(("ExceptionGroup", "BaseExceptionGroup"))
    ]
    if not lines:
        return ""
    line = re.sub(r"characters? '[^']*'|characters", "character(s)", lines[-1])
    line = re.sub(r"\d+", "N", line).replace("N-N", "N")
    line = re.sub(r"'[^']{20,}'", "'…'", line)
    return line[:120]
