"""The metric names the services declare, and the ones a PromQL query uses.

Shared by deploy/prometheus/check (alert rules) and
deploy/grafana/test_dashboard.py (dashboard panels): every `fiducia_*` name a
rule or a panel uses must be declared as a `const` in a service's metrics
module (`<crate>/src/metrics.rs` or `<crate>/src/**/metrics/*.rs`), the one
place names live (STYLE.md rule 8). Standard library only.
"""

import os
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# `pub const HTTP_REQUESTS: &str = "fiducia_collector_http_requests_total";`,
# rustfmt may break the line after `=`.
_CONST = re.compile(r'const\s+[A-Z0-9_]+\s*:\s*&(?:\'static\s+)?str\s*=\s*"(fiducia_[a-z0-9_]+)"')
_NAME = re.compile(r"(?<![A-Za-z0-9_:])(fiducia_[a-z0-9_]+)")
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"' + r"|'(?:[^'\\]|\\.)*'")
# What Prometheus makes of a histogram (and a summary) called NAME.
_SERIES_SUFFIXES = ("_bucket", "_sum", "_count")
_SKIP_DIRS = {"target", "node_modules", ".git", ".local"}


def metrics_modules(repo=REPO):
    """The metrics modules of every crate under `repo` (build output, the
    local stack's state and dependencies are not walked)."""
    found = []
    for root, dirs, files in os.walk(repo):
        dirs[:] = [d for d in dirs if d not in _SKIP_DIRS]
        parts = Path(root).relative_to(repo).parts
        if "src" not in parts:
            continue
        below_src = parts[parts.index("src") + 1 :]
        for name in files:
            if name.endswith(".rs") and (name == "metrics.rs" or "metrics" in below_src):
                found.append(Path(root) / name)
    return sorted(found)


def declared_names(repo=REPO):
    """{name: module path} for every `fiducia_*` name declared as a const."""
    names = {}
    for path in metrics_modules(repo):
        for name in _CONST.findall(path.read_text(encoding="utf-8")):
            names.setdefault(name, path.relative_to(repo).as_posix())
    return names


def used_names(query):
    """The `fiducia_*` metric names a PromQL query selects, histogram
    suffixes included as written (label values in quotes are skipped;
    recording rules are `fiducia:*`, so they never match)."""
    return set(_NAME.findall(_QUOTED.sub('""', query)))


def undeclared(names, declared):
    """The names in `names` that no metrics module declares, a histogram's
    `_bucket`, `_sum` and `_count` counting as its declared name."""
    missing = set()
    for name in names:
        if name in declared:
            continue
        base = next((name[: -len(s)] for s in _SERIES_SUFFIXES if name.endswith(s)), None)
        if base is None or base not in declared:
            missing.add(name)
    return sorted(missing)
