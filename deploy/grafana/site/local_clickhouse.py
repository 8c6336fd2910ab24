"""The local stack's ClickHouse over HTTP (deploy/local/up; its port from
FIDUCIA_CLICKHOUSE_HTTP_PORT like the runner's), for the site dashboard's
test and picture. Standard library only."""

import json
import os
import urllib.error
import urllib.request

URL = f"http://127.0.0.1:{os.environ.get('FIDUCIA_CLICKHOUSE_HTTP_PORT') or '18123'}/"


def execute(sql, data=b""):
    """Runs `sql` (with `data` after it, for an INSERT); returns the body."""
    req = urllib.request.Request(URL, data=sql.encode() + b"\n" + data, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.read()
    except urllib.error.HTTPError as e:
        raise RuntimeError(f"ClickHouse: {e.read().decode(errors='replace').strip()}\n{sql}") from None


def rows(sql):
    """The rows of a SELECT, as dicts (numbers as ClickHouse's JSON gives them)."""
    return json.loads(execute(sql + "\nFORMAT JSON"))["data"]


def ready():
    try:
        return execute("SELECT 1").strip() == b"1"
    except (OSError, RuntimeError):
        return False
