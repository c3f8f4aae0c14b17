//! `execve(path, argv, envp)`: replace the calling process's program.
//!
//! Two halves around a point of no return:
//!
//! 1. Everything that can fail, with the caller untouched: copy in the
//!    arguments ([`ExecArgs::copy_in`]: `EFAULT`, `ENAMETOOLONG`,
//!    `E2BIG`), resolve the path, follow `#!` lines to the interpreter
//!    ([`crate::exec::script`]: `ENOEXEC` for a bad line, `ELOOP` past
//!    four levels), load the program into a *new* address space
//!    ([`load_exec`]: `ENOENT`, `ENOTDIR`, `EACCES` for a directory, a
//!    device, a `/proc` file or a file without an execute bit, `ENOEXEC`,
//!    `ENOMEM`; a `#!` script may be a tmpfs file, see [`first_bytes`]), with the
//!    process's credentials in the auxiliary vector.
//! 2. The commit, which cannot fail: [`Process::exec_commit`] swaps the
//!    space in `Process::space` and renames the process (`ps` shows the
//!    new name); the exec hooks run (close-on-exec descriptors, caught
//!    signals back to default, the vfork parent released: each belongs to
//!    another part of the kernel, see [`exec_hooks`]); the thread gets
//!    [`Action::Exec`] and the trap loop (`proc::thread`) continues in the
//!    new space with a fresh `UserContext` at the entry point.
//!
//! The old space is dropped by this process only: a vfork parent sharing
//! it (`Arc`) keeps it whole, since nothing here unmaps or tears down
//! anything in it; when the last holder drops it, `UserPageTable`'s drop
//! frees its pages.

use alloc::borrow::Cow;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use super::Action;
use crate::exec::args::ExecArgs;
use crate::exec::load::{executable, load_exec};
use crate::exec::script;
use crate::fs::vfs::Vnode;
use crate::proc::process::Process;
use crate::vm::space::AddressSpace;
use abi::Errno;

/// What the thread continues with after a successful `execve`.
#[derive(Debug)]
pub struct NewImage {
    /// The new address space (already the process's).
    pub space: Arc<AddressSpace>,
    /// The entry point.
    pub entry: u64,
    /// The initial stack pointer.
    pub rsp: u64,
}

/// `execve(path, argv, envp)` (module docs): `Action::Exec` on success,
/// the error with the caller untouched otherwise.
pub async fn execve(
    thread: &Arc<crate::proc::thread::Thread>,
    space: &AddressSpace,
    path: u64,
    argv: u64,
    envp: u64,
) -> Result<Action, Errno> {
    let process = thread.process();
    let args = ExecArgs::copy_in(|va, buf| space.copy_from_user(va, buf), path, argv, envp)?;
    let path = resolve(process, &args.path)?;
    let (program, argv) = interpreter(process, &path, args.argv)?;
    let argv: Vec<&[u8]> = argv.iter().map(Vec::as_slice).collect();
    let envp: Vec<&[u8]> = args.envp.iter().map(Vec::as_slice).collect();
    let loaded = load_exec(&program, &args.path, &argv, &envp, &process.creds())?;

    // The other threads end first (they still run the old image).
    dethread(thread).await?;
    // The point of no return.
    thread.exec_reset();
    let space = Arc::new(loaded.space);
    let old = process.exec_commit(&comm_name(&args.path), space.clone());
    process.set_cmdline(&argv);
    process.set_exe(&program);
    // Outside the process's lock: this may free the old image's frames.
    drop(old);
    exec_hooks(process);
    Ok(Action::Exec(NewImage {
        space,
        entry: loaded.entry,
        rsp: loaded.rsp,
    }))
}

/// Linux's `de_thread`: an `execve` in a process with several threads
/// ends the others (a group exit the caller survives: it is still in the
/// process's list, so the last-thread rule never fires) and waits until
/// they are gone; a non-leader caller then takes the PID as its TID and
/// gives back its own. If a group exit (`exit_group`, a fatal signal)
/// had started first, that wins: `EAGAIN` here, and the thread ends at
/// its return to user mode.
async fn dethread(thread: &Arc<crate::proc::thread::Thread>) -> Result<(), Errno> {
    let process = thread.process();
    let signals = process.signals();
    if process.nthreads() > 1 {
        let kill = crate::proc::process::signal_status(crate::proc::signal::SIGKILL);
        if !signals.begin_dethread(kill) {
            return Err(Errno::EAGAIN);
        }
        crate::proc::signal::wake_threads(process);
        signals.event().wait_until(|| process.nthreads() == 1).await;
        signals.end_dethread();
    }
    if !thread.is_leader() {
        let old = thread.become_leader();
        crate::proc::thread::release_tid(process, old);
    }
    Ok(())
}

/// The program to load for `path` and its argv: `path` itself, or, for a
/// `#!` script, its interpreter (followed up to `script::MAX_DEPTH`
/// levels; `ELOOP` beyond) with the script's path inserted in argv.
fn interpreter(
    process: &Process,
    path: &str,
    mut argv: Vec<Vec<u8>>,
) -> Result<(String, Vec<Vec<u8>>), Errno> {
    let mut program = String::from(path);
    for _ in 0..=script::MAX_DEPTH {
        let head = first_bytes(&program)?;
        let shebang = match script::parse(&head) {
            None if matches!(head, Cow::Borrowed(_)) => return Ok((program, argv)),
            None => return Err(Errno::ENOEXEC),
            Some(Err(_)) => return Err(Errno::ENOEXEC),
            Some(Ok(shebang)) => shebang,
        };
        argv = script::argv(&shebang, program.as_bytes(), &argv);
        program = resolve(process, shebang.interpreter)?;
    }
    Err(Errno::ELOOP)
}

/// What `execve` reads of `program` to tell a `#!` script: an initramfs
/// program's whole image ([`executable`], borrowed), or the first line's
/// worth of an executable tmpfs file (owned), so a script in `/tmp` runs
/// its interpreter; such a file with no `#!` line is `ENOEXEC` (Tine loads
/// ELF programs from the initramfs only). Anything else found is
/// `EACCES`: a directory, a device, a `/proc` file, a file without an
/// execute bit (Linux's `do_open_execat` refuses what is not a regular
/// file with `EACCES`). A missing one is the lookup's error (`ENOENT`).
fn first_bytes(program: &str) -> Result<Cow<'static, [u8]>, Errno> {
    match executable(program) {
        Ok(image) => return Ok(Cow::Borrowed(image)),
        Err(Errno::ENOENT) => {}
        Err(e) => return Err(e),
    }
    let path = crate::fs::path::normalize("/", program.as_bytes())?;
    match crate::fs::vfs::resolve(&path, true)? {
        Vnode::Tmp(node) if !node.is_dir() && node.mode() & 0o111 != 0 => {
            // One byte past the longest line, so a longer one is refused.
            let mut head = crate::fallible::zeroed(script::LINE_MAX + 1)?;
            let n = node.read_at(0, &mut head)?;
            head.truncate(n);
            Ok(Cow::Owned(head))
        }
        _ => Err(Errno::EACCES),
    }
}

/// The path to load: an absolute one as it is, a relative one from the
/// process's working directory (`fs::path::normalize`), with symbolic
/// links followed to the file they name (`fs::vfs::resolve_to`: a tmpfs
/// link to a program, `/proc/PID/exe`); `/proc/self` is the caller's
/// `/proc/PID`, so `/proc/self/exe` is the calling process's program file (busybox runs its applets through it).
fn resolve(process: &Process, path: &[u8]) -> Result<String, Errno> {
    core::str::from_utf8(path).map_err(|_| Errno::ENOENT)?;
    let path = crate::fs::path::normalize(&process.fs().cwd_shared(), path)?;
    let path = super::fs::proc_self(path, process.pid().as_u32(), process.pid().as_u32());
    match crate::fs::procfs::exe_link(&path.path, process.pid()) {
        Some(target) => target,
        None => crate::fs::vfs::resolve_to(&path, true).map(|(_, path)| path),
    }
}

/// The process's new name: the last component of the path as the caller
/// passed it, as Linux's `begin_new_exec` names it (`kbasename` of
/// `bprm->filename`). So a script is named after itself, not its
/// interpreter; a link after the link, not its target; and
/// `/proc/self/exe` is `exe` (busybox, re-run through it, sees `exe` and
/// renames itself to the applet with `PR_SET_NAME`, which is what `ps -o
/// comm` then shows). The caller already checked the path is UTF-8.
fn comm_name(path: &[u8]) -> alloc::borrow::Cow<'_, str> {
    let last = path.rsplit(|&b| b == b'/').next().unwrap_or(path);
    String::from_utf8_lossy(last)
}

/// What other parts of the kernel do at exec, after the commit: signal
/// actions become the process's own with caught signals back to default
/// and the alternate stack off (`SignalState::exec_reset`); `setpgid`
/// learns the process has exec'd (`Process::mark_execed`); the `Exec`
/// event is published; a vfork parent waiting for this child goes on
/// (`Process::vfork_release`: the child no longer uses its space); the
/// `FD_CLOEXEC` descriptors are closed (`FdTable::close_on_exec`).
fn exec_hooks(process: &Process) {
    drop(process.files().close_on_exec());
    process.signals().exec_reset();
    process.mark_execed();
    crate::proc::events::publish(crate::proc::events::EventKind::Exec, 0, process.pid(), 0);
    process.vfork_release();
}

#[cfg(test)]
mod tests {
    use super::comm_name;

    #[test]
    fn the_name_is_the_last_component_as_asked() {
        assert_eq!(comm_name(b"/proc/self/exe"), "exe");
        assert_eq!(comm_name(b"/bin/sleep"), "sleep");
        assert_eq!(comm_name(b"./script.sh"), "script.sh");
        assert_eq!(comm_name(b"plain"), "plain");
        assert_eq!(comm_name(b"/a/b\xffc"), "b\u{fffd}c");
    }
}
