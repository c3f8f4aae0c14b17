//! The kernel command line (`-append`): what the boot should do.
//!
//! Words, separated by spaces:
//!
//! | word | effect |
//! |---|---|
//! | `test` / `test=SUBSTR` | run the in-kernel tests (those whose name contains SUBSTR), then exit QEMU |
//! | `utest` / `utest=SUBSTR` | run the user test programs under `/test/` (those whose name contains SUBSTR), then exit QEMU |
//! | `bench` / `bench=A,B` | run the benchmarks (those named), then exit QEMU |
//! | `crash=pagefault` | take a deliberate kernel page fault (proves the exception report) |
//! | `crash=panic` | panic on purpose (proves the panic report and its symbolised backtrace) |
//! | `run=PATH,ARG,...` | run one user program (argv: the comma-separated words), then exit QEMU: success if it exited 0 |
//! | `log=LEVEL` | log level: error, warn, info, debug, trace |
//! | `pid_max=N` | PIDs run below N (FreeBSD's `kern.pid_max` tunable; default 99999) |
//! | `idle_poll=adaptive`, `idle_poll=adaptive:NS`, `idle_poll=NS` | idle CPUs' halt polling: adaptive (the default; a window of 30000 ns, `task::haltpoll::DEFAULT_WINDOW_NS`, or NS ns, polled or skipped as it has lately paid) or always a window of NS ns (0: no polling); see docs/executor.md |
//! | `kshell` | run `/bin/init --greet` (greets, exits), then the kernel's own shell on the console |
//! | anything else | ignored, with a warning |
//!
//! With none of `test`, `utest`, `bench`, `crash`, `run`, the kernel boots
//! into user space: `/bin/init` on the console tty (and, with `kshell`, the
//! kernel shell).

/// What the boot is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode<'a> {
    /// Interactive: the serial shell.
    Shell,
    /// Run in-kernel tests matching the filter ("" = all).
    Test(&'a str),
    /// Run the user test programs matching the filter ("" = all).
    UserTest(&'a str),
    /// Run benchmarks named in the comma list ("" = all).
    Bench(&'a str),
    /// Deliberately crash in the named way.
    Crash(&'a str),
    /// Run one user program: path and arguments separated by commas.
    Run(&'a str),
}

/// The parsed command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cmdline<'a> {
    pub mode: Mode<'a>,
    pub log: Option<log::LevelFilter>,
    /// `pid_max=N`, when given.
    pub pid_max: Option<u32>,
    /// `idle_poll=...`, when given.
    pub idle_poll: Option<crate::task::IdlePoll>,
    /// `kshell`: the kernel shell owns the console after init.
    pub kshell: bool,
    /// The first word not understood, to warn about.
    pub unknown: Option<&'a str>,
}

impl<'a> Cmdline<'a> {
    /// Parses `line`; later words override earlier ones.
    pub fn parse(line: &'a str) -> Self {
        let mut c = Cmdline {
            mode: Mode::Shell,
            log: None,
            pid_max: None,
            idle_poll: None,
            kshell: false,
            unknown: None,
        };
        for word in line.split_ascii_whitespace() {
            let (key, value) = match word.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (word, None),
            };
            match (key, value) {
                ("test", v) => c.mode = Mode::Test(v.unwrap_or("")),
                ("utest", v) => c.mode = Mode::UserTest(v.unwrap_or("")),
                ("bench", v) => c.mode = Mode::Bench(v.unwrap_or("")),
                ("kshell", None) => c.kshell = true,
                ("crash", Some(v)) => c.mode = Mode::Crash(v),
                ("run", Some(v)) if !v.is_empty() => c.mode = Mode::Run(v),
                ("log", Some(v)) => match v.parse() {
                    Ok(level) => c.log = Some(level),
                    Err(_) => c.unknown = c.unknown.or(Some(word)),
                },
                ("pid_max", Some(v)) => match v.parse() {
                    Ok(n) => c.pid_max = Some(n),
                    Err(_) => c.unknown = c.unknown.or(Some(word)),
                },
                ("idle_poll", Some(v)) => match crate::task::IdlePoll::parse(v) {
                    Some(p) => c.idle_poll = Some(p),
                    None => c.unknown = c.unknown.or(Some(word)),
                },
                _ => c.unknown = c.unknown.or(Some(word)),
            }
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use log::LevelFilter;

    #[test]
    fn empty_means_shell() {
        assert_eq!(Cmdline::parse("").mode, Mode::Shell);
        assert_eq!(Cmdline::parse("   ").mode, Mode::Shell);
    }

    #[test]
    fn test_and_bench_with_and_without_filters() {
        assert_eq!(Cmdline::parse("test").mode, Mode::Test(""));
        assert_eq!(Cmdline::parse("test=task::").mode, Mode::Test("task::"));
        assert_eq!(Cmdline::parse("utest").mode, Mode::UserTest(""));
        assert_eq!(Cmdline::parse("utest=exec").mode, Mode::UserTest("exec"));
        assert_eq!(Cmdline::parse("bench").mode, Mode::Bench(""));
        assert_eq!(Cmdline::parse("bench=a,b").mode, Mode::Bench("a,b"));
        assert_eq!(
            Cmdline::parse("crash=pagefault").mode,
            Mode::Crash("pagefault")
        );
    }

    #[test]
    fn run_takes_a_program_and_its_arguments() {
        assert_eq!(
            Cmdline::parse("run=/bin/forkbench,-c,2 log=warn").mode,
            Mode::Run("/bin/forkbench,-c,2")
        );
        let c = Cmdline::parse("run=");
        assert_eq!((c.mode, c.unknown), (Mode::Shell, Some("run=")));
    }

    #[test]
    fn log_level_and_unknown_words() {
        let c = Cmdline::parse("log=debug test  frob=1 log=warn");
        assert_eq!(c.log, Some(LevelFilter::Warn));
        assert_eq!(c.mode, Mode::Test(""));
        assert_eq!(c.unknown, Some("frob=1"));
        assert_eq!(Cmdline::parse("log=loud").unknown, Some("log=loud"));
        assert_eq!(Cmdline::parse("crash").unknown, Some("crash"));
    }

    #[test]
    fn pid_max_number_or_unknown() {
        assert_eq!(Cmdline::parse("pid_max=500").pid_max, Some(500));
        assert_eq!(Cmdline::parse("").pid_max, None);
        let c = Cmdline::parse("pid_max=lots");
        assert_eq!((c.pid_max, c.unknown), (None, Some("pid_max=lots")));
    }

    #[test]
    fn idle_poll_policy_or_unknown() {
        use crate::task::IdlePoll;
        assert_eq!(Cmdline::parse("").idle_poll, None);
        assert_eq!(
            Cmdline::parse("idle_poll=0").idle_poll,
            Some(IdlePoll::Fixed(0))
        );
        assert_eq!(
            Cmdline::parse("idle_poll=adaptive").idle_poll,
            Some(IdlePoll::DEFAULT)
        );
        let c = Cmdline::parse("idle_poll=often");
        assert_eq!((c.idle_poll, c.unknown), (None, Some("idle_poll=often")));
    }

    #[test]
    fn kshell_is_a_flag_beside_the_mode() {
        assert!(!Cmdline::parse("").kshell);
        let c = Cmdline::parse("log=warn kshell");
        assert!(c.kshell);
        assert_eq!(c.mode, Mode::Shell);
        assert_eq!(c.unknown, None);
        assert!(Cmdline::parse("kshell test").kshell);
        assert_eq!(Cmdline::parse("kshell=1").unknown, Some("kshell=1"));
        assert!(!Cmdline::parse("kshell=1").kshell);
    }

    #[test]
    fn last_mode_wins() {
        assert_eq!(Cmdline::parse("test bench=x").mode, Mode::Bench("x"));
    }
}
