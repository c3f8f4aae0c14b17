//! Readiness: the `poll` event bits (Linux's values) and the file kinds'
//! event sources.
//!
//! Every open file answers two questions (`OpenFile::poll_mask` and
//! `OpenFile::poll_sources` on the machine):
//! - **which events hold now**: a mask of the bits below, as Linux's
//!   `f_op->poll` computes it for that kind (`PipeEnd::poll_mask`, the
//!   tty, a process descriptor, an eventfd, an epoll instance);
//! - **which [`Event`](crate::task::Event)s are notified when that may
//!   change**: a pipe end's `readable`/`writable` event, the tty's input
//!   event, the exit event of a process descriptor's PID bucket
//!   (`proc::procdesc::exit_event`), an eventfd's counter event.
//!
//! `poll`, `select` and `epoll_wait` (`syscall/poll.rs`) queue one waiter
//! on all the sources of the files they watch
//! ([`crate::task::wait_any`]) and re-check the masks when any fires: an
//! await, never a polling loop. Files that are always ready (regular
//! files, directories, `/dev/null`) have no source.

/// There is data to read.
pub const POLLIN: u32 = 0x001;
/// There is urgent data (never, on Tine's files).
pub const POLLPRI: u32 = 0x002;
/// Writing would not block.
pub const POLLOUT: u32 = 0x004;
/// An error condition (a pipe's write end without readers).
pub const POLLERR: u32 = 0x008;
/// Hung up (a pipe's read end without writers, a reaped process).
pub const POLLHUP: u32 = 0x010;
/// The descriptor is not open (`poll` only).
pub const POLLNVAL: u32 = 0x020;
pub const POLLRDNORM: u32 = 0x040;
pub const POLLRDBAND: u32 = 0x080;
pub const POLLWRNORM: u32 = 0x100;
pub const POLLWRBAND: u32 = 0x200;
/// The peer closed its writing half (sockets; never on Tine's files).
pub const POLLRDHUP: u32 = 0x2000;

/// What an always-ready file reports (Linux's `DEFAULT_POLLMASK`).
pub const DEFAULT_POLLMASK: u32 = POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM;

/// Events reported whether asked for or not (`poll`, `epoll`).
pub const ALWAYS: u32 = POLLERR | POLLHUP | POLLNVAL;

/// `select`'s three sets, as Linux's `fs/select.c` maps them onto poll
/// bits: what makes a descriptor readable, writable, exceptional.
pub const SELECT_IN: u32 = POLLIN | POLLRDNORM | POLLRDBAND | POLLHUP | POLLERR;
pub const SELECT_OUT: u32 = POLLOUT | POLLWRNORM | POLLWRBAND | POLLERR;
pub const SELECT_EX: u32 = POLLPRI;
