//! Processes: the process table, exit and wait.
//!
//! A `Process` is a PID, its parent's PID, a name, an address space
//! (shared with its threads through an `Arc`), a [`State`] (`Running` or
//! `Zombie(wait status)`) and an [`Event`](crate::task::Event) its children
//! notify when they change state. Its threads are futures
//! (`super::thread`); the first one is spawned by `spawn_process`.
//!
//! - The global process table maps `Pid` to `Arc<Process>` under one
//!   spin lock (never taken in interrupt handlers, held for a map operation
//!   only). A process is in it from its creation until it is reaped.
//! - Exit (`Process::exit`) records the Linux wait status
//!   ([`exit_status`], [`signal_status`]), drops the address space (its
//!   memory is freed now, not at reaping), marks the process a zombie and
//!   notifies the parent's event. The kernel (PID 0) is the parent of
//!   processes the kernel starts (the shell, tests); its event is a static.
//! - `wait` awaits the zombie on the parent's event (`wait_until`, so no
//!   notification is lost), then reaps it: removes it from the table and
//!   frees its PID.
//!
//! What fork will add: a second way to make a `Process` (a copy of the
//! parent's address space with `fork_cow`, a copied `UserContext`), the
//! children's reparenting to init when a parent exits, and `wait4`'s
//! "any child" form on the same event. See `docs/processes.md`.

/// Signal numbers (Linux x86-64) the kernel raises itself.
pub mod signal {
    pub const SIGILL: i32 = 4;
    pub const SIGTRAP: i32 = 5;
    pub const SIGBUS: i32 = 7;
    pub const SIGFPE: i32 = 8;
    pub const SIGKILL: i32 = 9;
    pub const SIGSEGV: i32 = 11;
}

/// The wait status of a process that called `exit(code)`: `(code & 0xff)
/// << 8` (`WIFEXITED`, `WEXITSTATUS` = the low 8 bits of `code`).
pub const fn exit_status(code: i32) -> i32 {
    (code & 0xff) << 8
}

/// The wait status of a process killed by signal `sig` (`WIFSIGNALED`,
/// `WTERMSIG` = `sig`; no core dump flag).
pub const fn signal_status(sig: i32) -> i32 {
    sig & 0x7f
}

/// The signal a CPU exception in user mode raises, as on Linux: #DE and
/// the floating-point exceptions `SIGFPE`, #UD `SIGILL`, #DB/#BP
/// `SIGTRAP`, #AC `SIGBUS`, everything else (#GP, #SS, #NP, ...) `SIGSEGV`.
pub const fn signal_for_exception(vector: u8) -> i32 {
    match vector {
        0 | 16 | 19 => signal::SIGFPE,
        1 | 3 => signal::SIGTRAP,
        6 => signal::SIGILL,
        17 => signal::SIGBUS,
        _ => signal::SIGSEGV,
    }
}

/// A process's life stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Its threads run (or are runnable, or blocked in a system call).
    Running,
    /// Exited with this wait status; waiting to be reaped.
    Zombie(i32),
}

#[cfg(target_os = "none")]
pub use imp::*;

#[cfg(target_os = "none")]
mod imp {
    use alloc::collections::BTreeMap;
    use alloc::string::String;
    use alloc::sync::Arc;
    use alloc::vec::Vec;

    use super::State;
    use crate::proc::pid::{Pid, PidFlags};
    use crate::syscall::Errno;
    use crate::task::Event;
    use crate::vm::space::AddressSpace;

    /// A process (module docs).
    pub struct Process {
        pid: Pid,
        ppid: Pid,
        name: String,
        /// `None` once the process has exited (the memory is freed then).
        space: spin::Mutex<Option<Arc<AddressSpace>>>,
        state: spin::Mutex<State>,
        /// Notified when one of this process's children changes state.
        children: Event,
    }

    /// The process table.
    static TABLE: spin::Mutex<BTreeMap<Pid, Arc<Process>>> = spin::Mutex::new(BTreeMap::new());

    /// The child-state event of the kernel (PID 0), the parent of the
    /// processes the kernel starts.
    static KERNEL_CHILDREN: Event = Event::new();

    impl Process {
        /// This process's PID.
        pub fn pid(&self) -> Pid {
            self.pid
        }

        /// Its parent's PID ([`Pid::KERNEL`] for processes the kernel
        /// started).
        pub fn ppid(&self) -> Pid {
            self.ppid
        }

        /// Its name (the program's file name).
        pub fn name(&self) -> &str {
            &self.name
        }

        /// Its state now.
        pub fn state(&self) -> State {
            *self.state.lock()
        }

        /// Its address space; `None` after exit.
        pub fn space(&self) -> Option<Arc<AddressSpace>> {
            self.space.lock().clone()
        }

        /// Ends the process with wait status `status` (module docs). Only
        /// the first call counts.
        pub fn exit(&self, status: i32) {
            {
                let mut state = self.state.lock();
                if *state != State::Running {
                    return;
                }
                *state = State::Zombie(status);
            }
            // Frees the memory unless a thread still holds the space.
            drop(self.space.lock().take());
            notify_parent(self.ppid);
        }
    }

    /// Wakes whoever waits for a child of `ppid`.
    fn notify_parent(ppid: Pid) {
        if ppid == Pid::KERNEL {
            KERNEL_CHILDREN.notify_all();
        } else if let Some(parent) = lookup(ppid) {
            parent.children.notify_all();
        }
    }

    /// The process with PID `pid`, if it exists (zombies included).
    pub fn lookup(pid: Pid) -> Option<Arc<Process>> {
        TABLE.lock().get(&pid).cloned()
    }

    /// One line of `ps`.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct ProcInfo {
        pub pid: Pid,
        pub ppid: Pid,
        pub state: State,
        pub name: String,
    }

    /// Every process, by PID (a snapshot).
    pub fn list() -> Vec<ProcInfo> {
        let procs: Vec<Arc<Process>> = TABLE.lock().values().cloned().collect();
        procs
            .iter()
            .map(|p| ProcInfo {
                pid: p.pid,
                ppid: p.ppid,
                state: p.state(),
                name: p.name.clone(),
            })
            .collect()
    }

    /// Starts the program at `path` of the initramfs as a new process whose
    /// parent is the kernel, with `argv` and `envp`, its one thread on the
    /// least-loaded CPU. Errors: those of [`crate::exec::load`], `EAGAIN`
    /// when no PID is free.
    pub fn spawn_process(path: &str, argv: &[&[u8]], envp: &[&[u8]]) -> Result<Pid, Errno> {
        spawn_process_on(None, path, argv, envp)
    }

    /// [`spawn_process`] with the thread's first CPU chosen (`Some(cpu)`;
    /// it may still migrate).
    pub fn spawn_process_on(
        cpu: Option<usize>,
        path: &str,
        argv: &[&[u8]],
        envp: &[&[u8]],
    ) -> Result<Pid, Errno> {
        let loaded = crate::exec::load::load(path, argv, envp)?;
        // Nothing fails after the PID is taken.
        let pid = crate::proc::pids()
            .alloc(PidFlags::NONE)
            .map_err(|_| Errno::EAGAIN)?;
        let name = String::from(path.rsplit('/').next().unwrap_or(path));
        let space = Arc::new(loaded.space);
        let process = Arc::new(Process {
            pid,
            ppid: Pid::KERNEL,
            name: name.clone(),
            space: spin::Mutex::new(Some(space.clone())),
            state: spin::Mutex::new(State::Running),
            children: Event::new(),
        });
        TABLE.lock().insert(pid, process.clone());
        let ctx = arch::user::UserContext::new(loaded.entry, loaded.rsp);
        let mut builder = crate::task::Builder::new().name(name);
        if let Some(cpu) = cpu {
            builder = builder.cpu(cpu % crate::task::ncpus());
        }
        // Detached: the process's state, not the task, says when it ends.
        drop(builder.spawn(crate::proc::thread::run(process, space, ctx)));
        Ok(pid)
    }

    /// Waits until process `pid` (a child of the kernel) has exited, reaps
    /// it (removes it from the table, frees its PID) and returns its wait
    /// status. `ECHILD` if there is no such process or another waiter
    /// reaped it first.
    pub async fn wait(pid: Pid) -> Result<i32, Errno> {
        let process = lookup(pid).ok_or(Errno::ECHILD)?;
        let zombie = || matches!(process.state(), State::Zombie(_));
        if process.ppid == Pid::KERNEL {
            KERNEL_CHILDREN.wait_until(zombie).await;
        } else {
            let parent = lookup(process.ppid).ok_or(Errno::ECHILD)?;
            parent.children.wait_until(zombie).await;
        }
        let State::Zombie(status) = process.state() else {
            unreachable!("waited for the zombie state");
        };
        if TABLE.lock().remove(&pid).is_none() {
            return Err(Errno::ECHILD);
        }
        crate::proc::pids().free(pid);
        Ok(status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_statuses_are_linux_ones() {
        assert_eq!(exit_status(0), 0);
        assert_eq!(exit_status(127), 127 << 8);
        assert_eq!(exit_status(-1), 0xff << 8);
        assert_eq!(exit_status(256 + 3), 3 << 8);
        assert_eq!(signal_status(signal::SIGSEGV), 11);
        assert_eq!(signal_for_exception(0), signal::SIGFPE);
        assert_eq!(signal_for_exception(6), signal::SIGILL);
        assert_eq!(signal_for_exception(13), signal::SIGSEGV);
        assert_eq!(signal_for_exception(3), signal::SIGTRAP);
        assert_eq!(signal_for_exception(17), signal::SIGBUS);
        assert_eq!(signal_for_exception(12), signal::SIGSEGV);
    }
}
