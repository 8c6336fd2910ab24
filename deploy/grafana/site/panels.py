"""The site dashboard's panels (panels.yaml) and their queries (queries/),
and the one way the tests, the timer and the picture run a query outside
Grafana: `expand` replaces what Grafana would (the ClickHouse data source
plugin's macros and the dashboard's `site` variable) with fixed values.

    $__timeFilter(col)  ->  col >= toDateTime(<from>) AND col <= toDateTime(<to>)
    $__fromTime         ->  toDateTime(<from>)      $__toTime -> toDateTime(<to>)
    $__interval_s       ->  the bucket width in seconds
    ${site:sqlstring}   ->  the site id as a quoted SQL string
    $__range (PromQL)   ->  the range as a duration, e.g. 7200s

Times are Unix seconds. These are the plugin's own expansions (its README),
so a query that runs here runs the same in Grafana. Standard library and
PyYAML only.
"""

import re
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
QUERIES = HERE / "queries"
# The `site` variable's query: not a panel, run by the tests all the same.
VARIABLE_QUERIES = {"site": "site.sql"}


def panels():
    """The entries of panels.yaml, in order: {"row": title} or a panel."""
    return yaml.safe_load((HERE / "panels.yaml").read_text())


def query_files():
    """Every query file, by name."""
    return {p.name: p for p in sorted(QUERIES.iterdir()) if p.suffix in (".sql", ".promql")}


def text(name):
    return (QUERIES / name).read_text().strip()


def is_prometheus(name):
    return name.endswith(".promql")


def sqlstring(value):
    """Grafana's ${var:sqlstring}: quoted, quotes doubled."""
    return "'" + value.replace("'", "''") + "'"


def expand(query, site, start, end, interval_s=3600):
    """`query` as Grafana would send it for `site` over [start, end]."""
    out = re.sub(r"\$__timeFilter\(\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\)",
                 lambda m: f"{m[1]} >= toDateTime({int(start)}) AND {m[1]} <= toDateTime({int(end)})", query)
    out = (out.replace("$__fromTime", f"toDateTime({int(start)})")
              .replace("$__toTime", f"toDateTime({int(end)})")
              .replace("$__interval_s", str(int(interval_s)))
              .replace("$__range", f"{int(end - start)}s")
              .replace("${site:sqlstring}", sqlstring(site))
              .replace("${site}", site))  # PromQL: a configured site id, as it is
    left = re.findall(r"\$\{?__?\w+", out)
    if left:
        raise ValueError(f"unexpanded Grafana variables {left}: add them to panels.expand")
    return out
