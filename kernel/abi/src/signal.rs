//! Signals: numbers and the layouts the system calls share (Linux x86-64).
//!
//! - [`Signal`] (1..=64) with a constant per standard signal, [`name`],
//!   [`NSIG`], [`SIGRTMIN`]..=[`SIGRTMAX`];
//! - [`SigSet`] (`sigset_t`: bit `n - 1` for signal `n`);
//! - `sa_handler` values ([`SIG_DFL`], [`SIG_IGN`]), `sa_flags` bits
//!   ([`sa`]), `si_code` values ([`code`]), `ss_flags` bits ([`ss`]),
//!   [`MINSIGSTKSZ`];
//! - `rt_sigprocmask`'s `how` ([`how`]).

/// A signal number, 1..=64 (Linux x86-64).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Signal(u8);

/// The number of signals (`_NSIG`).
pub const NSIG: u8 = 64;

macro_rules! signals {
    ($($name:ident = $n:literal),* $(,)?) => {
        $(
            #[doc = concat!("`", stringify!($name), "` (", stringify!($n), ").")]
            pub const $name: Signal = Signal($n);
        )*
        /// The name of a standard signal (`SIGINT`), `None` for real-time ones.
        pub const fn name(sig: Signal) -> Option<&'static str> {
            match sig.0 {
                $($n => Some(stringify!($name)),)*
                _ => None,
            }
        }
    };
}

signals! {
    SIGHUP = 1, SIGINT = 2, SIGQUIT = 3, SIGILL = 4, SIGTRAP = 5, SIGABRT = 6,
    SIGBUS = 7, SIGFPE = 8, SIGKILL = 9, SIGUSR1 = 10, SIGSEGV = 11, SIGUSR2 = 12,
    SIGPIPE = 13, SIGALRM = 14, SIGTERM = 15, SIGSTKFLT = 16, SIGCHLD = 17,
    SIGCONT = 18, SIGSTOP = 19, SIGTSTP = 20, SIGTTIN = 21, SIGTTOU = 22,
    SIGURG = 23, SIGXCPU = 24, SIGXFSZ = 25, SIGVTALRM = 26, SIGPROF = 27,
    SIGWINCH = 28, SIGIO = 29, SIGPWR = 30, SIGSYS = 31,
}

/// The first real-time signal.
pub const SIGRTMIN: Signal = Signal(32);
/// The last real-time signal.
pub const SIGRTMAX: Signal = Signal(64);

impl Signal {
    /// Signal `n`, if `1 <= n <= 64`.
    pub const fn new(n: u32) -> Option<Signal> {
        if n >= 1 && n <= NSIG as u32 {
            Some(Signal(n as u8))
        } else {
            None
        }
    }

    /// Its number.
    pub const fn number(self) -> u8 {
        self.0
    }

    /// Its bit in a [`SigSet`].
    pub const fn bit(self) -> u64 {
        1 << (self.0 - 1)
    }

    /// Its index in per-signal tables (0..64).
    pub const fn index(self) -> usize {
        self.0 as usize - 1
    }

    /// `SIGKILL` and `SIGSTOP`: never blocked, caught or ignored.
    pub const fn is_unblockable(self) -> bool {
        self.0 == SIGKILL.0 || self.0 == SIGSTOP.0
    }

    /// A stop signal (`SIGSTOP`, `SIGTSTP`, `SIGTTIN`, `SIGTTOU`).
    pub const fn is_stop(self) -> bool {
        matches!(self.0, 19..=22)
    }
}

/// A signal is the `int` the system calls take (`kill(pid, SIGTERM)`).
impl From<Signal> for i32 {
    fn from(sig: Signal) -> i32 {
        sig.0 as i32
    }
}

impl From<Signal> for u64 {
    fn from(sig: Signal) -> u64 {
        u64::from(sig.0)
    }
}

impl From<Signal> for usize {
    fn from(sig: Signal) -> usize {
        usize::from(sig.0)
    }
}

/// A signal number as a handler or `wait4` status gets it.
impl PartialEq<i32> for Signal {
    fn eq(&self, other: &i32) -> bool {
        self.0 as i32 == *other
    }
}

impl PartialEq<Signal> for i32 {
    fn eq(&self, other: &Signal) -> bool {
        *self == other.0 as i32
    }
}

impl core::fmt::Display for Signal {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match name(*self) {
            Some(n) => f.write_str(n),
            None => write!(f, "SIGRTMIN+{}", self.0 - SIGRTMIN.0),
        }
    }
}

/// A set of signals: Linux's `sigset_t` as the kernel uses it (8 bytes,
/// bit `n - 1` for signal `n`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SigSet(pub u64);

impl SigSet {
    /// No signal.
    pub const EMPTY: SigSet = SigSet(0);
    /// `SIGKILL` and `SIGSTOP`, which no mask can hold.
    pub const UNBLOCKABLE: SigSet = SigSet(SIGKILL.bit() | SIGSTOP.bit());
    /// The stop signals.
    pub const STOP: SigSet = SigSet(SIGSTOP.bit() | SIGTSTP.bit() | SIGTTIN.bit() | SIGTTOU.bit());
    /// The synchronous signals (a fault of the current instruction), which
    /// are delivered before the others, as on Linux.
    pub const SYNCHRONOUS: SigSet = SigSet(
        SIGSEGV.bit() | SIGBUS.bit() | SIGILL.bit() | SIGTRAP.bit() | SIGFPE.bit() | SIGSYS.bit(),
    );

    /// The set holding only `sig`.
    pub const fn of(sig: Signal) -> SigSet {
        SigSet(sig.bit())
    }

    /// Whether `sig` is in the set.
    pub const fn contains(self, sig: Signal) -> bool {
        self.0 & sig.bit() != 0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Adds `sig`.
    pub fn add(&mut self, sig: Signal) {
        self.0 |= sig.bit();
    }

    /// Removes `sig`.
    pub fn remove(&mut self, sig: Signal) {
        self.0 &= !sig.bit();
    }

    /// The union.
    pub const fn union(self, other: SigSet) -> SigSet {
        SigSet(self.0 | other.0)
    }

    /// The signals of `self` not in `other`.
    pub const fn minus(self, other: SigSet) -> SigSet {
        SigSet(self.0 & !other.0)
    }

    /// The intersection.
    pub const fn intersect(self, other: SigSet) -> SigSet {
        SigSet(self.0 & other.0)
    }

    /// The set as a mask may hold it: without `SIGKILL` and `SIGSTOP`.
    pub const fn blockable(self) -> SigSet {
        self.minus(Self::UNBLOCKABLE)
    }

    /// The lowest-numbered signal in the set.
    pub const fn lowest(self) -> Option<Signal> {
        if self.0 == 0 {
            None
        } else {
            Some(Signal(self.0.trailing_zeros() as u8 + 1))
        }
    }
}

/// `sa_handler` values.
pub const SIG_DFL: u64 = 0;
/// `SIG_IGN`.
pub const SIG_IGN: u64 = 1;

/// `sa_flags` bits (Linux x86-64).
pub mod sa {
    /// `SIGCHLD` only: no `SIGCHLD` when a child stops or continues.
    pub const NOCLDSTOP: u64 = 0x0000_0001;
    /// `SIGCHLD` only: children are reaped automatically.
    pub const NOCLDWAIT: u64 = 0x0000_0002;
    /// Three-argument handler (same frame on x86-64).
    pub const SIGINFO: u64 = 0x0000_0004;
    /// `sa_restorer` is valid (musl always sets it; required on x86-64).
    pub const RESTORER: u64 = 0x0400_0000;
    /// Run the handler on the alternate stack.
    pub const ONSTACK: u64 = 0x0800_0000;
    /// Restart interrupted calls (Tine returns `EINTR` anyway: `docs/signals.md`).
    pub const RESTART: u64 = 0x1000_0000;
    /// Do not block the signal while its handler runs.
    pub const NODEFER: u64 = 0x4000_0000;
    /// Reset to `SIG_DFL` when the handler is entered.
    pub const RESETHAND: u64 = 0x8000_0000;
}

/// `si_code` values.
pub mod code {
    /// `kill`.
    pub const SI_USER: i32 = 0;
    /// Sent by the kernel.
    pub const SI_KERNEL: i32 = 0x80;
    /// `tkill`, `tgkill`.
    pub const SI_TKILL: i32 = -6;
    /// `SIGCHLD`: the child exited.
    pub const CLD_EXITED: i32 = 1;
    /// `SIGCHLD`: the child was killed.
    pub const CLD_KILLED: i32 = 2;
    /// `SIGCHLD`: the child stopped.
    pub const CLD_STOPPED: i32 = 5;
    /// `SIGCHLD`: the child continued.
    pub const CLD_CONTINUED: i32 = 6;
    /// `SIGSEGV`: no mapping at the address.
    pub const SEGV_MAPERR: i32 = 1;
    /// `SIGSEGV`: the mapping forbids the access.
    pub const SEGV_ACCERR: i32 = 2;
    /// `SIGILL`: illegal opcode.
    pub const ILL_ILLOPN: i32 = 2;
    /// `SIGFPE`: integer divide by zero.
    pub const FPE_INTDIV: i32 = 1;
    /// `SIGFPE`: floating-point invalid operation (x87/SSE exceptions).
    pub const FPE_FLTINV: i32 = 7;
    /// `SIGBUS`: misaligned address.
    pub const BUS_ADRALN: i32 = 1;
    /// `SIGTRAP`: breakpoint.
    pub const TRAP_BRKPT: i32 = 1;
    /// `SIGTRAP`: single step.
    pub const TRAP_TRACE: i32 = 2;
}

/// `ss_flags` bits.
pub mod ss {
    pub const ONSTACK: i32 = 1;
    pub const DISABLE: i32 = 2;
    pub const AUTODISARM: i32 = 1 << 31;
}

/// The smallest alternate stack (`MINSIGSTKSZ`).
pub const MINSIGSTKSZ: u64 = 2048;

/// `rt_sigprocmask`'s `how`.
pub mod how {
    pub const SIG_BLOCK: u64 = 0;
    pub const SIG_UNBLOCK: u64 = 1;
    pub const SIG_SETMASK: u64 = 2;
}
