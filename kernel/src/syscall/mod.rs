//! The system-call layer: argument decoding for the Linux x86-64 calls and
//! Tine's own. The numbers, `Errno`, `SysResult` and the one conversion
//! of a result to `rax` (`abi::errno::encode`) are the `abi` crate's
//! (`docs/syscalls.md` is the table of what is implemented).
//!
//! - `dispatch` (on the machine): `dispatch()` runs the call a user
//!   thread trapped with and says whether the thread returns to user mode
//!   (`Action::Return`), the process exits (`Action::Exit`), the thread
//!   alone ends (`Action::ExitThread`), it continues in a new program
//!   (`Action::Exec`) or on the process's own copy of a shared space
//!   (`Action::Switch`, rfork without `RFPROC`);
//! - `fast` (on the machine): the calls that never wait, which the trap
//!   loop runs without `dispatch` (`fast()`: `getpid`, `gettid`,
//!   `getppid`; `now()`: the others, `rt_sigprocmask`, `uname`, ...), and which
//!   `dispatch` runs first;
//! - `exec` (on the machine): `execve`;
//! - `fork` (on the machine): the fork family's calls (fork, vfork,
//!   clone, clone3, rfork, pdfork, `pdgetpid`, `pdkill`, `procctl`,
//!   `sysctl`, `forkevents`; `docs/fork.md`);
//! - `signal` (on the machine): the signal, process-group and session
//!   calls (`docs/signals.md`);
//! - `misc` (on the machine): credentials, resource limits, affinity,
//!   `getrandom`, `sysinfo`, `mprotect`, `madvise`, `prctl`, `unshare`,
//!   nice values, the real-time interval timer, `tine_poweroff`, and the
//!   clocks and sleeps of [`time`] (whose rules are pure and
//!   host-tested); its calls that never wait (`misc::now`: the ids,
//!   `setuid`/`setgid`, the limits, `sched_getaffinity`, `clock_getres`,
//!   `gettimeofday`) run from `fast::now`, with `set_robust_list`.
//! - `tine` (on the machine): Tine's information calls (`proclist`,
//!   `threadlist`, `cpuinfo`, `meminfo`, `vmstat`, `kbench`) behind the
//!   user shell.
//! - `fs` (on the machine): the file system calls (`docs/files.md`).
//! - `poll` (on the machine): `poll`, `ppoll`, `select`, `pselect6`,
//!   `eventfd2` (`docs/files.md`, Readiness); `epoll` (on the machine): the
//!   epoll calls; `pidfd` (on the machine): `pidfd_open`,
//!   `pidfd_send_signal`, `pidfd_getfd`, `waitid`, Tine's `pdwait`.

#[cfg(target_os = "none")]
mod dispatch;
#[cfg(target_os = "none")]
mod epoll;
#[cfg(target_os = "none")]
pub mod exec;
#[cfg(target_os = "none")]
mod fast;
#[cfg(target_os = "none")]
mod fork;
#[cfg(target_os = "none")]
pub mod fs;
#[cfg(target_os = "none")]
pub mod misc;
#[cfg(target_os = "none")]
mod pidfd;
#[cfg(target_os = "none")]
pub mod poll;
#[cfg(target_os = "none")]
mod signal;
pub mod time;
#[cfg(target_os = "none")]
mod time_ktests;
#[cfg(target_os = "none")]
pub mod tine;
#[cfg(target_os = "none")]
mod tine_ktests;

#[cfg(target_os = "none")]
pub use dispatch::{Action, dispatch};
#[cfg(target_os = "none")]
pub use fast::{fast, now};
