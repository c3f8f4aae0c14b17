//! Whether an idle CPU polls for work before it halts: the halt-polling
//! policy, fixed or adaptive (the `idle_poll=` boot option).
//!
//! Polling pays when work comes back sooner than a halted CPU can be woken
//! (under QEMU the vCPU's host thread must be woken: tens of µs on a quiet
//! host). It costs when the host has more runnable threads than CPUs: the
//! spinning vCPU holds a host CPU its partner needs to produce the work,
//! and the host scheduler, which favours threads that sleep, wakes a vCPU
//! that has been spinning later than one that halted. Measured on this
//! project's 2-CPU host at load 5 to 7 (docs/benchmarks.md): the cross-CPU
//! futex ping-pong took 29.5 µs per round trip with a fixed 30 µs window
//! and 16.5 µs with none; on a quiet host the window took it from about
//! 60 µs to 6 µs.
//!
//! The adaptive policy ([`PollChoice`]) does not guess which host it is on;
//! it measures. Each idle period, from the moment the CPU finds no work to
//! the moment it has some again, is timed and filed under how the CPU waited:
//! polling first (for up to the window) or halting at once. Each kind keeps
//! a moving average, and the CPU waits the way whose average is lower; one
//! idle period in [`EXPLORE_EVERY`] is waited the other way, so both
//! averages follow the host as its load changes. Idle periods longer than
//! [`SAMPLE_MAX_NS`] count as that long: they are equally long either way,
//! and an idle CPU whose periods are all long halts (a tie goes to the halt,
//! which leaves the host CPU to others).
//!
//! Linux's guest `cpuidle-haltpoll` governor and KVM's halt polling instead
//! grow their window when a halt ends soon after the poll gave up and shrink
//! it when a halt runs long; neither sees what the poll costs the other
//! vCPUs, which on an overcommitted host is the larger part. Hand-rolled: a
//! few lines of arithmetic, host-tested below.

/// How idle CPUs wait for work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdlePoll {
    /// Always poll this many ns, then halt (0: halt at once).
    Fixed(u64),
    /// Poll for this many ns, or halt at once, whichever has lately
    /// brought work sooner on this CPU ([`PollChoice`]).
    Adaptive(u64),
}

impl IdlePoll {
    /// The default: adaptive, with [`DEFAULT_WINDOW_NS`] polls.
    pub const DEFAULT: Self = Self::Adaptive(DEFAULT_WINDOW_NS);

    /// Parses the value of `idle_poll=`: `adaptive`, `adaptive:NS` or a
    /// fixed window `NS` (`0`: no polling).
    pub fn parse(s: &str) -> Option<Self> {
        match s.split_once(':') {
            Some(("adaptive", ns)) => ns.parse().ok().map(Self::Adaptive),
            None if s == "adaptive" => Some(Self::DEFAULT),
            None => s.parse().ok().map(Self::Fixed),
            Some(_) => None,
        }
    }

    /// The polling window, ns.
    pub fn window_ns(self) -> u64 {
        match self {
            Self::Fixed(ns) | Self::Adaptive(ns) => ns,
        }
    }
}

/// The polling window: a quiet host's halt costs about 30 µs under TCG,
/// so a reply within that is caught.
pub const DEFAULT_WINDOW_NS: u64 = 30_000;

/// One idle period in this many is waited the way that looks worse, to
/// keep its average current; that sample weighs 1/2 in its average (the
/// others 1/4), so a few such turns are enough to notice a change.
pub const EXPLORE_EVERY: u32 = 32;

/// Longer idle periods are recorded as this long.
pub const SAMPLE_MAX_NS: u64 = 200_000;

/// Polling must look at least this much sooner than halting to be chosen:
/// a near tie halts, which leaves the host CPU to others.
pub const POLL_MARGIN_NS: u64 = 1_000;

/// [`PollChoice::caught`] of a poll that always finds work.
pub const CAUGHT_ALL: u32 = 1024;

/// How an idle period waited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Waited {
    /// It halted at once.
    Halted,
    /// It polled, and the poll found work.
    Caught,
    /// It polled, found nothing within the window, and halted.
    Expired,
}

/// One CPU's adaptive choice between polling and halting. Only that CPU
/// updates it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PollChoice {
    /// Moving average (weight 1/4, or 1/2 when exploring) of the idle
    /// periods that began with a poll, ns.
    pub poll_avg_ns: u64,
    /// The same for the idle periods that halted at once.
    pub halt_avg_ns: u64,
    /// The share of polls that found work, as a moving average (same
    /// weights) in units of 1/[`CAUGHT_ALL`]. The idle periods' lengths
    /// carry the host's noise (a vCPU descheduled for a millisecond), which
    /// can make the two averages look alike when they are not; a poll that
    /// ran out without work, then halted anyway, cost more than halting at
    /// once, whatever the averages say. So polling also needs at least half
    /// of the recent polls to have found work.
    pub caught: u32,
    /// Idle periods so far (wrapping), for the exploration turns.
    pub idles: u32,
}

impl Default for PollChoice {
    /// Polling first (the old fixed window), until halting proves better;
    /// a halt is taken to cost what a quiet host's does.
    fn default() -> Self {
        Self {
            poll_avg_ns: 0,
            halt_avg_ns: DEFAULT_WINDOW_NS,
            caught: CAUGHT_ALL,
            idles: 0,
        }
    }
}

impl PollChoice {
    /// Whether the idle period that starts now begins with a poll.
    pub fn choose(&mut self) -> bool {
        self.idles = self.idles.wrapping_add(1);
        let poll = self.poll_avg_ns.saturating_add(POLL_MARGIN_NS) < self.halt_avg_ns
            && self.caught >= CAUGHT_ALL / 2;
        if self.idles.is_multiple_of(EXPLORE_EVERY) {
            !poll
        } else {
            poll
        }
    }

    /// An idle period lasted `idle_ns` until work came: it halted at once
    /// ([`Waited::Halted`]), or it polled and the poll found work or ran
    /// out.
    pub fn record(&mut self, waited: Waited, idle_ns: u64) {
        // `idles` is still the count `choose` saw for this period.
        let exploring = self.idles.is_multiple_of(EXPLORE_EVERY);
        let mix = |avg: u64, sample: u64| {
            // Both at most SAMPLE_MAX_NS (or CAUGHT_ALL): no overflow.
            if exploring {
                (avg + sample) / 2
            } else {
                (avg * 3 + sample) / 4
            }
        };
        let sample = idle_ns.min(SAMPLE_MAX_NS);
        match waited {
            Waited::Halted => self.halt_avg_ns = mix(self.halt_avg_ns, sample),
            Waited::Caught | Waited::Expired => {
                self.poll_avg_ns = mix(self.poll_avg_ns, sample);
                let hit = if waited == Waited::Caught {
                    CAUGHT_ALL
                } else {
                    0
                };
                // Both at most CAUGHT_ALL: fits a u32.
                self.caught = mix(u64::from(self.caught), u64::from(hit)) as u32;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_boot_option_parses() {
        assert_eq!(IdlePoll::parse("adaptive"), Some(IdlePoll::DEFAULT));
        assert_eq!(
            IdlePoll::parse("adaptive:20000"),
            Some(IdlePoll::Adaptive(20_000))
        );
        assert_eq!(IdlePoll::parse("30000"), Some(IdlePoll::Fixed(30_000)));
        assert_eq!(IdlePoll::parse("0"), Some(IdlePoll::Fixed(0)));
        for bad in ["", "fast", "adaptive:", "adaptive:x", "-1", "fixed:3"] {
            assert_eq!(IdlePoll::parse(bad), None, "{bad:?}");
        }
        assert_eq!(IdlePoll::Adaptive(7).window_ns(), 7);
    }

    /// Idle periods per step of the tests below.
    const N: u32 = 5 * EXPLORE_EVERY;

    /// Runs `n` idle periods, each lasting `poll_ns` when it polls and
    /// `halt_ns` when it halts (a poll finds work when `poll_ns` is within
    /// the window); returns how many polled.
    fn run(c: &mut PollChoice, n: u32, poll_ns: u64, halt_ns: u64) -> u32 {
        let mut polled = 0;
        for _ in 0..n {
            let poll = c.choose();
            polled += u32::from(poll);
            let waited = match poll {
                false => Waited::Halted,
                true if poll_ns <= DEFAULT_WINDOW_NS => Waited::Caught,
                true => Waited::Expired,
            };
            c.record(waited, if poll { poll_ns } else { halt_ns });
        }
        polled
    }

    #[test]
    fn it_polls_first() {
        assert!(PollChoice::default().choose());
    }

    #[test]
    fn where_halts_are_dear_it_polls_but_for_the_exploration_turns() {
        // A quiet host: a poll catches the reply in 2 µs, a halt costs 30.
        let mut c = PollChoice::default();
        let polled = run(&mut c, N, 2_000, 32_000);
        assert_eq!(polled, N - N / EXPLORE_EVERY);
    }

    #[test]
    fn where_polling_slows_the_partner_it_halts() {
        // A loaded host: polling makes the reply come in 15 µs, halting
        // in 8 (the ping-pong measured at load 5 to 7).
        let mut c = PollChoice::default();
        let polled = run(&mut c, N, 15_000, 8_000);
        assert!(polled < 100, "it learns within 100 idle periods: {polled}");
        let polled = run(&mut c, N, 15_000, 8_000);
        assert_eq!(polled, N / EXPLORE_EVERY);
        // Then the host quietens: a few exploration turns, and it polls.
        let polled = run(&mut c, N, 2_000, 30_000);
        assert!(polled >= N - 4 * EXPLORE_EVERY, "polled {polled} times");
        let polled = run(&mut c, N, 2_000, 30_000);
        assert_eq!(polled, N - N / EXPLORE_EVERY);
    }

    #[test]
    fn polls_that_find_nothing_stop_the_polling_whatever_the_times_say() {
        // A loaded host: the partner's reply comes after the window as a
        // rule, and the halted periods carry the host's long delays, so
        // the averages alone would favour polling.
        let mut c = PollChoice::default();
        run(&mut c, N, 40_000, 150_000);
        assert!(c.poll_avg_ns + POLL_MARGIN_NS < c.halt_avg_ns, "{c:?}");
        let polled = run(&mut c, N, 40_000, 150_000);
        assert_eq!(polled, N / EXPLORE_EVERY);
    }

    #[test]
    fn an_idle_cpu_halts() {
        // Nothing to do for milliseconds: both ways look the same (the
        // cap), a tie halts, and the polls find nothing anyway.
        let mut c = PollChoice::default();
        run(&mut c, 64, 5_000_000, 5_000_000);
        assert!(c.caught < CAUGHT_ALL / 2, "{c:?}");
        let polled = run(&mut c, N, 5_000_000, 5_000_000);
        assert_eq!(polled, N / EXPLORE_EVERY);
    }

    #[test]
    fn one_long_sample_moves_an_average_by_a_bounded_step() {
        let mut c = PollChoice::default();
        run(&mut c, N, 2_000, 30_000);
        let before = c.poll_avg_ns;
        assert!(c.choose());
        c.record(Waited::Caught, u64::MAX);
        assert!(c.poll_avg_ns <= before + SAMPLE_MAX_NS / 4 + 1);
        // It halts until an exploration turn or two bring the polls back.
        run(&mut c, 3 * EXPLORE_EVERY, 2_000, 30_000);
        let polled = run(&mut c, N, 2_000, 30_000);
        assert_eq!(polled, N - N / EXPLORE_EVERY);
    }
}
