//! CPU time and memory of a process, read from `/proc/<pid>/stat` and
//! `/proc/<pid>/status` (Linux only). The load generator samples the server
//! under test with these, and itself, to show which side was the limit.

use std::process::Command;

/// Clock ticks per second of `/proc/<pid>/stat`'s CPU fields (`getconf
/// CLK_TCK`; 100 on every Linux we run on, used if `getconf` is missing).
#[must_use]
pub fn clock_ticks_per_second() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .filter(|&ticks| ticks > 0)
        .unwrap_or(100)
}

/// User plus system CPU time of every thread of `pid` so far, in clock
/// ticks; `pid` `None` means this process. `None` when it cannot be read.
#[must_use]
pub fn cpu_ticks(pid: Option<u32>) -> Option<u64> {
    let path = pid.map_or_else(
        || "/proc/self/stat".to_owned(),
        |p| format!("/proc/{p}/stat"),
    );
    parse_cpu_ticks(&std::fs::read_to_string(path).ok()?)
}

/// `utime + stime` (fields 14 and 15) of a `/proc/<pid>/stat` line. The
/// command name (field 2) may hold spaces and parentheses, so fields are
/// counted from the last `)`.
#[must_use]
pub fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace();
    // After the name come field 3 (state) onwards: utime is field 14.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Resident memory now (`VmRSS`) and at its peak (`VmHWM`), in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Memory {
    /// `VmRSS`, bytes.
    pub rss_bytes: u64,
    /// `VmHWM`: the peak resident set since the process started, bytes.
    pub peak_rss_bytes: u64,
}

/// Reads [`Memory`] of `pid`; `None` when it cannot be read.
#[must_use]
pub fn memory(pid: u32) -> Option<Memory> {
    parse_memory(&std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?)
}

/// [`Memory`] from the text of `/proc/<pid>/status` (values are in kB).
#[must_use]
pub fn parse_memory(status: &str) -> Option<Memory> {
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let kb: u64 = line[name.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kb * 1024)
    };
    Some(Memory {
        rss_bytes: field("VmRSS:")?,
        peak_rss_bytes: field("VmHWM:")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_utime_plus_stime_even_with_a_name_holding_spaces() {
        let stat = "4242 (tokio (x) y) S 1 4242 4242 0 -1 4194560 500 0 0 0 \
                    731 269 0 0 20 0 3 0 12345 1000000 250 18446744073709551615";
        assert_eq!(parse_cpu_ticks(stat), Some(1000));
    }

    #[test]
    fn memory_is_read_in_bytes() {
        let status = "Name:\tx\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\nThreads:\t3\n";
        assert_eq!(
            parse_memory(status),
            Some(Memory {
                rss_bytes: 10_240 * 1024,
                peak_rss_bytes: 20_480 * 1024
            })
        );
    }

    #[test]
    fn this_process_can_be_read() {
        assert!(cpu_ticks(None).is_some());
        assert!(memory(std::process::id()).is_some_and(|m| m.rss_bytes > 0));
    }
}
