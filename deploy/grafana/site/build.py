#!/usr/bin/env python3
"""Builds the site dashboard, deploy/grafana/dashboards/fiducia-site.json,
from panels.yaml and the query files of queries/: every panel's query is
its file's text, so the dashboard and the tests cannot drift apart.

    python3 deploy/grafana/site/build.py          # write the JSON
    python3 deploy/grafana/site/build.py --check  # fail if it is not what the files make
"""

import argparse
import json
import sys

import panels

OUT = panels.HERE.parent / "dashboards" / "fiducia-site.json"
CLICKHOUSE = {"type": "grafana-clickhouse-datasource", "uid": "${clickhouse}"}
PROMETHEUS = {"type": "prometheus", "uid": "${prometheus}"}
# The plugin's query formats (its `Format`): time series or table.
FORMAT = {"timeseries": 0}
TABLE_FORMAT = 1


def target(name, panel_type):
    if panels.is_prometheus(name):
        return {"refId": "A", "datasource": PROMETHEUS, "expr": panels.text(name), "instant": True,
                "legendFormat": "{{purpose}}: {{reason}}"}
    fmt = FORMAT.get(panel_type, TABLE_FORMAT)
    return {"refId": "A", "datasource": CLICKHOUSE, "editorType": "sql", "format": fmt,
            "queryType": "timeseries" if fmt == 0 else "table", "rawSql": panels.text(name)}


def options(name, panel_type):
    """A pie chart or bar gauge of a table shows one slice or bar per row
    (Grafana's default reduces each column to one value)."""
    if panel_type in ("piechart", "bargauge") and not panels.is_prometheus(name):
        return {"reduceOptions": {"values": True, "calcs": [], "fields": ""}}
    return {}


def override(field, unit, panel_type):
    """Another unit for one column (a count beside shares); in a time
    series on an axis of its own, on the right."""
    properties = [{"id": "unit", "value": unit}]
    if panel_type == "timeseries":
        properties.append({"id": "custom.axisPlacement", "value": "right"})
    return {"matcher": {"id": "byName", "options": field}, "properties": properties}


def datasource_variable(name, kind, label, default):
    return {"name": name, "label": label, "type": "datasource", "query": kind, "hide": 0,
            "current": {"text": label, "value": default}, "options": [], "refresh": 1, "regex": ""}


def dashboard():
    out, x, y, row_h, next_id = [], 0, 0, 0, 1
    for entry in panels.panels():
        if "row" in entry:
            y += row_h
            out.append({"type": "row", "id": next_id, "title": entry["row"], "collapsed": False,
                        "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
            x, y, row_h, next_id = 0, y + 1, 0, next_id + 1
            continue
        w, h = entry["w"], entry["h"]
        if x + w > 24:
            x, y, row_h = 0, y + row_h, 0
        name = entry["query"]
        description = entry.get("description", "")
        description = (description + " " if description else "") + f"Query: deploy/grafana/site/queries/{name}."
        panel = {"type": entry["type"], "id": next_id, "title": entry["title"], "description": description,
                 "datasource": PROMETHEUS if panels.is_prometheus(name) else CLICKHOUSE,
                 "gridPos": {"h": h, "w": w, "x": x, "y": y},
                 "targets": [target(name, entry["type"])],
                 "fieldConfig": {"defaults": {"unit": entry.get("unit", "short")},
                                 "overrides": [override(field, unit, entry["type"]) for field, unit in entry.get("units", {}).items()]},
                 "options": options(name, entry["type"])}
        out.append(panel)
        x, row_h, next_id = x + w, max(row_h, h), next_id + 1
    site = {"name": "site", "label": "Site", "type": "query", "datasource": CLICKHOUSE,
            "query": panels.text(panels.VARIABLE_QUERIES["site"]), "definition": panels.text(panels.VARIABLE_QUERIES["site"]),
            "refresh": 2, "sort": 1, "multi": False, "includeAll": False, "hide": 0,
            "current": {"text": "demo", "value": "demo"}, "options": []}
    return {
        "uid": "fiducia-site",
        "title": "Fiducia: site",
        "description": "What a site's visitors did and what their consent allowed, from the rows the pipeline "
                       "stored in ClickHouse (built by deploy/grafana/site/build.py: edit panels.yaml and queries/).",
        "tags": ["fiducia", "site", "clickhouse"],
        "timezone": "utc",
        "editable": False,
        "graphTooltip": 1,
        "schemaVersion": 41,
        "version": 1,
        "refresh": "5m",
        "time": {"from": "now-7d", "to": "now"},
        "timepicker": {},
        "annotations": {"list": []},
        "links": [],
        "templating": {"list": [
            datasource_variable("clickhouse", "grafana-clickhouse-datasource", "ClickHouse", "clickhouse"),
            datasource_variable("prometheus", "prometheus", "Prometheus", "prometheus"),
            site,
        ]},
        "panels": out,
    }


def rendered():
    return json.dumps(dashboard(), indent=2) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="fail if the committed JSON differs")
    args = ap.parse_args()
    text = rendered()
    if args.check:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"FAIL: {OUT} is not what panels.yaml and queries/ make: run deploy/grafana/site/build.py",
                  file=sys.stderr)
            return 1
        print(f"{OUT.name}: built from panels.yaml and {len(panels.query_files())} query files, unchanged")
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
