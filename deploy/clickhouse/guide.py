"""Shared by the chDB test and the query timer: the example queries of the
analyst guide (README.md beside this file), the schema the sink creates on a
server of a given version (its `print_schema` example), and the generated
demo traffic (generate.sql)."""

import os
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def sql_blocks(path=os.path.join(HERE, "README.md"), titles=False):
    """The ```sql blocks of the guide, in order; with `titles`, as
    (heading above the block, block) pairs."""
    blocks, current, heading = [], None, ""
    with open(path, encoding="utf-8") as guide:
        for line in guide:
            line = line.rstrip()
            if current is None and line.startswith("#"):
                heading = line.lstrip("#").strip()
            elif current is None and line == "```sql":
                current = []
            elif current is not None and line == "```":
                block = "\n".join(current)
                blocks.append((heading, block) if titles else block)
                current = None
            elif current is not None:
                current.append(line)
    return blocks


def schema_statements(version, database):
    """What the sink runs on an empty database of a server of `version`."""
    return _example("print_schema", version, database)


def item_lists_statements(database, site, k, window_days):
    """The two queries of one item lists refresh of `site` (related pairs,
    popular items), as the sink runs them (its `print_item_lists_sql` example)."""
    return _example("print_item_lists_sql", database, site, str(k), str(window_days))


def _example(name, *args):
    """The statements a sink example prints, separated by lines holding only `;`."""
    out = subprocess.run(
        ["cargo", "run", "-q", "-p", "fiducia-sink", "--example", name, "--", *args],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout
    return [s.strip() for s in out.split("\n;\n") if s.strip()]


def generate_statements(database, events):
    """The INSERTs of generate.sql for `events` rows."""
    with open(os.path.join(HERE, "generate.sql"), encoding="utf-8") as f:
        text = f.read().replace("{db}", database).replace("{events}", str(events))
    lines = [l for l in text.splitlines() if not l.startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
