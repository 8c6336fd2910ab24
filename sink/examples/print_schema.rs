//! Prints what the sink runs on an empty database of a server of a given
//! version: every migration statement, then the retention TTLs (default
//! periods) where the server has TTL. Statements are separated by a line
//! holding only `;`. `deploy/clickhouse/test_chdb.py` replays them on chDB.
//!
//! With a third argument, a cluster name: the same in cluster mode
//! (`sink/src/schema/cluster.rs`).
//!
//! `cargo run -p fiducia-sink --example print_schema -- 26.9 fiducia [cluster]`

use std::process::ExitCode;

use fiducia_sink::jobs::retention::{RetentionConfig, ttl_statements};
use fiducia_sink::schema::cluster::Cluster;
use fiducia_sink::schema::migrations::MIGRATIONS;
use fiducia_sink::schema::{ServerFeatures, plan, render};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(version), Some(database)) = (args.first(), args.get(1)) else {
        eprintln!("usage: print_schema <server version, e.g. 23.8> <database> [cluster]");
        return ExitCode::from(2);
    };
    let Some(features) = ServerFeatures::parse(version) else {
        eprintln!("not a server version: {version}");
        return ExitCode::from(2);
    };
    let features = features.in_cluster(args.get(2).map(|name| Cluster::new(name, database)));
    let mut statements = plan(MIGRATIONS, &features, database);
    if features.ttl() {
        statements.extend(
            ttl_statements(&RetentionConfig::default())
                .iter()
                .flat_map(|sql| features.statements(sql))
                .map(|sql| render(&sql, database)),
        );
    }
    println!("{}", statements.join("\n;\n"));
    ExitCode::SUCCESS
}
