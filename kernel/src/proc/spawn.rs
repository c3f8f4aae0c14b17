//! Starting a program from the initramfs as a new process whose parent is
//! the kernel ([`spawn_process`]); fork (`super::fork::fork1`) is the
//! other way to make a process.
//!
//! See `docs/processes.md`.

use alloc::string::String;
use alloc::sync::Arc;
use core::sync::atomic::Ordering;

use crate::fs::{Files, OpenFile};
use crate::proc::pid::{Pid, PidFlags};
use crate::proc::process::Process;
use crate::proc::table::{NPROCS, TABLE};
use abi::Errno;

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
    let process = Process::new_child(pid, Pid::KERNEL, &name, space.clone(), None);
    process.set_cmdline(argv);
    process.set_exe(path);
    process.set_files(Arc::new(Files::with_stdio(OpenFile::console())));
    NPROCS.fetch_add(1, Ordering::Relaxed);
    // Root's, without a limit.
    crate::proc::uidinfo::charge(crate::proc::cred::ROOT, None);
    super::table::enlist(&mut TABLE.lock(), process.clone());
    let leader = crate::proc::thread::Thread::new(pid, process.clone());
    process.add_thread(leader.clone());
    let ctx = arch::user::UserContext::new(loaded.entry, loaded.rsp);
    let mut builder = crate::task::Builder::new().name(name);
    if let Some(cpu) = cpu {
        builder = builder.cpu(cpu % crate::task::ncpus());
    }
    // Detached: the process's state, not the task, says when it ends.
    crate::proc::thread::spawn(builder, leader, space, ctx);
    Ok(pid)
}
