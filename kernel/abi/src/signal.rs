//! Signals: numbers and the layouts the system calls share (Linux x86-64).
//!
//! - [`Signal`] (1..=64) with a constant per standard signal, [`name`],
//!   [`NSIG`], [`SIGRTMIN`]..=[`SIGRTMAX`];
//! - [`SigSet`] (`sigset_t`: bit `n - 1` for signal `n`);
//! - `sa_handler` values ([`SIG_DFL`], [`SIG_IGN`]), `sa_flags` bits
//!   ([`sa`]), `si_code` values ([`code`]), `ss_flags` bits ([`ss`]),
//!   [`MINSIGSTKSZ`];
//! - `rt_sigprocmask`'s `how` ([`how`]);
//! - [`SigInfo`]: the fields of `siginfo_t` Tine fills, and its 128-byte
//!   layout.

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

/// What `siginfo_t` says about one signal (the fields Tine fills).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigInfo {
    /// The signal (0 in an empty slot).
    pub signo: u8,
    /// `si_code` ([`code`]).
    pub code: i32,
    /// `si_pid`: the sender (kill) or the child (`SIGCHLD`).
    pub pid: u32,
    /// `si_status` (`SIGCHLD`: exit code or signal).
    pub status: i32,
    /// `si_addr` (faults).
    pub addr: u64,
}

impl SigInfo {
    /// The size of `siginfo_t`.
    pub const SIZE: usize = 128;

    /// Sent by `kill` from process `from`.
    pub const fn user(sig: Signal, from: u32) -> SigInfo {
        SigInfo {
            signo: sig.number(),
            code: code::SI_USER,
            pid: from,
            status: 0,
            addr: 0,
        }
    }

    /// Sent by `tkill`/`tgkill` from process `from`.
    pub const fn tkill(sig: Signal, from: u32) -> SigInfo {
        SigInfo {
            code: code::SI_TKILL,
            ..SigInfo::user(sig, from)
        }
    }

    /// Sent by the kernel (the terminal's `SIGINT`, ...).
    pub const fn kernel(sig: Signal) -> SigInfo {
        SigInfo {
            code: code::SI_KERNEL,
            ..SigInfo::user(sig, 0)
        }
    }

    /// A fault at `addr` with `si_code` `code`.
    pub const fn fault(sig: Signal, code: i32, addr: u64) -> SigInfo {
        SigInfo {
            signo: sig.number(),
            code,
            pid: 0,
            status: 0,
            addr,
        }
    }

    /// `SIGCHLD` (or another exit signal) about child `pid`.
    pub const fn child(sig: Signal, code: i32, pid: u32, status: i32) -> SigInfo {
        SigInfo {
            signo: sig.number(),
            code,
            pid,
            status,
            addr: 0,
        }
    }

    /// Whether the union holds `si_addr` (a fault) rather than
    /// `si_pid`/`si_uid`/`si_status`.
    pub fn is_fault(&self) -> bool {
        self.code > 0
            && self.code != code::SI_KERNEL
            && Signal::new(u32::from(self.signo)).is_some_and(|s| SigSet::SYNCHRONOUS.contains(s))
    }

    /// Linux's `siginfo_t` for x86-64: `si_signo` at 0, `si_errno` at 4,
    /// `si_code` at 8, then the union at 16: `si_addr`; or `si_pid` (16),
    /// `si_uid` (20, always 0: everyone is root) and `si_status` (24).
    pub fn to_bytes(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        b[0..4].copy_from_slice(&i32::from(self.signo).to_le_bytes());
        b[8..12].copy_from_slice(&self.code.to_le_bytes());
        if self.is_fault() {
            b[16..24].copy_from_slice(&self.addr.to_le_bytes());
        } else {
            b[16..20].copy_from_slice(&self.pid.to_le_bytes());
            b[24..28].copy_from_slice(&self.status.to_le_bytes());
        }
        b
    }
}

impl SigInfo {
    /// Reads a `siginfo_t` as [`SigInfo::to_bytes`] writes it (a user
    /// program's view of what its handler got).
    pub fn from_bytes(b: &[u8; Self::SIZE]) -> SigInfo {
        let i32_at = |i: usize| i32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let signo = i32_at(0).clamp(0, 255) as u8;
        let code = i32_at(8);
        let mut info = SigInfo {
            signo,
            code,
            ..SigInfo::default()
        };
        if info.is_fault() {
            let mut addr = [0u8; 8];
            addr.copy_from_slice(&b[16..24]);
            info.addr = u64::from_le_bytes(addr);
        } else {
            info.pid = i32_at(16) as u32;
            info.status = i32_at(24);
        }
        info
    }
}

/// `rt_sigprocmask`'s `how`.
pub mod how {
    pub const SIG_BLOCK: u64 = 0;
    pub const SIG_UNBLOCK: u64 = 1;
    pub const SIG_SETMASK: u64 = 2;
}
