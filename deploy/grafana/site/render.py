#!/usr/bin/env python3
"""Draws the site dashboard's main panels as one picture (site.png beside
this file) from the results of their query files on the local ClickHouse:
what Grafana would show, for machines where Grafana cannot run. Run it
after the test has stored its corpus (the rows stay), with the same
environment (the ClickHouse port):

    python3 deploy/grafana/site/test_site_dashboard.py --keep
    python3 -m pip install -r deploy/grafana/site/requirements.txt   # matplotlib
    python3 deploy/grafana/site/render.py [--site corpus] [--hours 8] [--out site.png]

pngquant (Debian's, as deploy/prometheus/screenshot uses) makes it small
when it is installed.
"""

import argparse
import shutil
import subprocess
import time
from datetime import datetime, timezone

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import local_clickhouse as ch  # noqa: E402
import panels  # noqa: E402

INTERVAL_S = 3600


def num(value):
    return float(value)


def when(text):
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)


def bars(ax, rows, label, value, title):
    rows = rows[::-1]
    ax.barh([r[label] or "(none)" for r in rows], [num(r[value]) for r in rows], color="#3274d9")
    ax.set_title(title, loc="left", fontsize=11)
    ax.tick_params(labelsize=8)


def lines(ax, rows, columns, title, percent=False):
    times = [when(r["time"]) for r in rows]
    for column in columns:
        ax.plot(times, [num(r[column]) * (100 if percent else 1) for r in rows], marker="o", ms=3, label=column.replace("_", " "))
    ax.set_title(title, loc="left", fontsize=11)
    ax.legend(fontsize=8, frameon=False)
    ax.tick_params(labelsize=8)
    ax.xaxis.set_major_formatter(matplotlib.dates.DateFormatter("%H:%M"))
    if percent:
        ax.set_ylim(0, 105)
        ax.set_ylabel("%", fontsize=8)


def stats(ax, values, title):
    ax.axis("off")
    ax.set_title(title, loc="left", fontsize=11)
    for i, (name, value) in enumerate(values):
        x, y = 0.02 + (i % 3) * 0.33, 0.62 - (i // 3) * 0.5
        ax.text(x, y, value, fontsize=22, color="#3274d9", weight="bold", transform=ax.transAxes)
        ax.text(x, y - 0.12, name, fontsize=9, color="#444", transform=ax.transAxes)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--site", default="corpus")
    ap.add_argument("--hours", type=int, default=8, help="the time range: the last N hours")
    ap.add_argument("--out", default=str(panels.HERE / "site.png"))
    args = ap.parse_args()
    end = int(time.time())
    start = end - args.hours * 3600

    def q(name):
        return ch.rows(panels.expand(panels.text(name), args.site, start, end, INTERVAL_S))

    summary, bounce, profiles = q("summary.sql")[0], q("bounce_rate.sql")[0], q("profiles.sql")[0]
    fig, axes = plt.subplots(3, 3, figsize=(15, 11), dpi=80)
    fig.suptitle(f"Fiducia: site ({args.site}), last {args.hours} hours: the site dashboard's queries on "
                 f"ClickHouse {ch.execute('SELECT version()').decode().strip()}", fontsize=13, x=0.01, ha="left")
    lines(axes[0][0], q("traffic.sql"), ["visitors", "page_views"], "Visitors and page views (hourly)")
    stats(axes[0][1], [("visitors", summary["visitors"]), ("page views", summary["page_views"]),
                       ("sessions", summary["sessions"]), ("bounce rate", f"{num(bounce['bounce_rate']):.0%}"),
                       ("engaged s / session", summary["engaged_seconds_per_session"]),
                       ("visitors with a profile", profiles["visitors_with_profile"])], "Totals")
    bars(axes[0][2], q("top_pages.sql"), "path", "page_views", "Top pages (page views)")
    bars(axes[1][0], q("entry_pages.sql"), "entry_page", "sessions", "Entry pages (sessions)")
    bars(axes[1][1], q("referrer_classes.sql"), "referrer_class", "sessions", "Referrer classes (sessions)")
    bars(axes[1][2], q("devices.sql"), "device", "visitors", "Devices (visitors)")
    # The stored events by consent, over time (the visitors' records all
    # carry the time the test sent them: one point).
    lines(axes[2][0], q("consent_of_events.sql"), ["measurement", "personalization", "functional"],
          "Stored events by consent (share granted)", percent=True)
    choices = q("consent_choices.sql")
    actions = ["grants", "refusals", "changes", "withdrawals"]
    axes[2][1].bar(actions, [sum(num(r[a]) for r in choices) for a in actions], color="#56a64b")
    axes[2][1].set_title("Consent choices (records)", loc="left", fontsize=11)
    axes[2][1].tick_params(labelsize=8)
    bars(axes[2][2], q("custom_events.sql"), "event", "events", "Custom events")
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    fig.savefig(args.out)
    if shutil.which("pngquant"):
        subprocess.run(["pngquant", "--force", "--quality=50-90", "--output", args.out, "--", args.out], check=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
