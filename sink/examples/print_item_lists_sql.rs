//! Prints the two queries of one item lists refresh of a site (related
//! pairs, then popular items), as the sink runs them, separated by a line
//! holding only `;`. `benches/item_lists.py` times them.
//!
//! `cargo run -p fiducia-sink --example print_item_lists_sql -- fiducia demo 10 90`

use std::process::ExitCode;

use fiducia_runtime::service::sites::personalization::Personalization;
use fiducia_sink::jobs::items::queries::{popular, related};
use fiducia_sink::schema::render;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [database, site, k, window] = args.as_slice() else {
        eprintln!("usage: print_item_lists_sql <database> <site> <k> <window days>");
        return ExitCode::from(2);
    };
    let (Ok(min_visitors), Ok(window_days)) = (k.parse(), window.parse()) else {
        eprintln!("k and the window are whole numbers");
        return ExitCode::from(2);
    };
    let settings = Personalization {
        min_visitors,
        window_days,
        ..Personalization::default()
    };
    let statements = [related(site, &settings), popular(site, &settings)];
    let rendered: Vec<String> = statements.iter().map(|sql| render(sql, database)).collect();
    println!("{}", rendered.join("\n;\n"));
    ExitCode::SUCCESS
}
