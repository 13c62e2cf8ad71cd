//! CPU time and memory of a process from Linux procfs: `utime + stime` from `/proc/PID/stat`
//! (proc(5) fields 14 and 15, in clock ticks) and `VmRSS` / `VmHWM` from `/proc/PID/status`.
//!
//! The parsers are pure; [`sample`] is the only function that reads files. Clock ticks are
//! converted with `USER_HZ` = 100, which every mainstream Linux architecture uses for these
//! fields (reading `sysconf(_SC_CLK_TCK)` would need libc for one constant). Not portable beyond
//! Linux: elsewhere sampling returns `None` and the report leaves the figures out.

use std::time::Duration;

/// Clock ticks per second of the `/proc/PID/stat` times (USER_HZ).
pub const USER_HZ: u64 = 100;

/// One reading of a process.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcSample {
    /// utime + stime.
    pub cpu: Duration,
    pub rss_kib: u64,
    /// Peak RSS so far.
    pub hwm_kib: u64,
}

/// utime + stime in ticks from the text of `/proc/PID/stat`. The command name in field 2 may
/// hold spaces and parentheses, so fields are counted from the last `)`.
pub fn parse_stat_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    // After the name: state is field 3, so utime (14) and stime (15) are the 12th and 13th.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// The value in kB of `key` (`VmRSS`, `VmHWM`) in the text of `/proc/PID/status`.
pub fn parse_status_kib(status: &str, key: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let value = line.strip_prefix(key)?.strip_prefix(':')?;
        value.split_ascii_whitespace().next()?.parse().ok()
    })
}

/// Reads `/proc/<pid>/…` (`pid` = "self" for this process); `None` when it is gone.
pub fn sample(pid: &str) -> Option<ProcSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let ticks = parse_stat_ticks(&stat)?;
    Some(ProcSample {
        cpu: Duration::from_millis(ticks * 1000 / USER_HZ),
        rss_kib: parse_status_kib(&status, "VmRSS").unwrap_or(0),
        hwm_kib: parse_status_kib(&status, "VmHWM").unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_times_are_read_after_a_name_with_spaces_and_parens() {
        let stat = "4242 (tokio (rt) x) S 1 4242 4242 0 -1 4194560 1029 0 0 0 \
                    731 269 0 0 20 0 5 0 12345 1000000 2000 18446744073709551615";
        assert_eq!(parse_stat_ticks(stat), Some(1000));
        assert_eq!(parse_stat_ticks("garbage"), None);
        assert_eq!(parse_stat_ticks("1 (x) S 1 2"), None);
    }

    #[test]
    fn status_memory_lines_are_read_in_kib() {
        let status =
            "Name:\tholdline\nVmPeak:\t  999 kB\nVmHWM:\t   61440 kB\nVmRSS:\t   51200 kB\n";
        assert_eq!(parse_status_kib(status, "VmRSS"), Some(51_200));
        assert_eq!(parse_status_kib(status, "VmHWM"), Some(61_440));
        assert_eq!(parse_status_kib(status, "VmSwap"), None);
    }

    #[test]
    fn this_process_can_be_sampled() {
        let s = sample("self").expect("procfs is mounted on the test machine");
        assert!(s.rss_kib > 0);
        assert!(s.hwm_kib >= s.rss_kib);
    }
}
