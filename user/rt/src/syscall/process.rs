//! Processes: the fork family (`fork`, `rfork`, `pdfork`, `vfork` +
//! `execve` in [`vfork_exec`]), `execve`, `exit`, `wait4`, `kill`,
//! resource limits, and Tine's own calls (`sysctl`, the information calls
//! behind `ps`/`cpus`/`mem`, `forkevents`, `kbench`, `poweroff`).

use core::arch::asm;
use core::ffi::{CStr, c_char};

use super::signal::top::KernelSigaction;
use super::{Errno, check, nr, syscall0, syscall1, syscall2, syscall3, syscall4, syscall6};

/// `getpid()`.
pub fn getpid() -> i32 {
    // SAFETY: no arguments; getpid cannot fail.
    unsafe { syscall0(nr::GETPID) as i32 }
}

/// `getppid()`.
pub fn getppid() -> i32 {
    // SAFETY: no arguments; getppid cannot fail.
    unsafe { syscall0(nr::GETPPID) as i32 }
}

/// `sched_yield()`.
pub fn sched_yield() {
    // SAFETY: no arguments.
    unsafe { syscall0(nr::SCHED_YIELD) };
}

/// `fork()`: `Ok(0)` in the child, the child's pid in the parent.
pub fn fork() -> Result<i32, Errno> {
    // SAFETY: the child gets a copy of the address space; programs using
    // this runtime are single-threaded, so no lock is held by a thread
    // that does not exist in the child.
    check(unsafe { syscall0(nr::FORK) }).map(|pid| pid as i32)
}

/// `kill(pid, sig)`.
pub fn kill(pid: i32, sig: impl Into<i32>) -> Result<(), Errno> {
    let sig: i32 = sig.into();
    // SAFETY: no memory is passed.
    check(unsafe { syscall2(nr::KILL, pid as usize, sig as usize) }).map(|_| ())
}

/// `wait4(pid, &status, options, NULL)`: the pid reaped and its status.
pub fn wait4(pid: i32, options: i32) -> Result<(i32, i32), Errno> {
    let mut status: i32 = 0;
    // SAFETY: the kernel writes one i32 to `status`, which lives across
    // the call; rusage is NULL.
    let ret = unsafe {
        syscall4(
            nr::WAIT4,
            pid as usize,
            &mut status as *mut i32 as usize,
            options as usize,
            0,
        )
    };
    check(ret).map(|pid| (pid as i32, status))
}

/// `getcpu(&cpu, NULL, NULL)`: the CPU the caller runs on (it may move
/// right after).
pub fn getcpu() -> Result<u32, Errno> {
    let mut cpu: u32 = 0;
    // SAFETY: the kernel writes one u32 to `cpu`, which lives across the
    // call; node and tcache are NULL.
    let ret = unsafe { syscall3(nr::GETCPU, &mut cpu as *mut u32 as usize, 0, 0) };
    check(ret).map(|_| cpu)
}

/// `RLIMIT_NPROC`.
pub const RLIMIT_NPROC: i32 = 6;

/// `RLIM_INFINITY`.
pub const RLIM_INFINITY: u64 = u64::MAX;

/// `prlimit64(0, resource, new, &old)`: the old `(soft, hard)` limits,
/// setting `new` when given.
pub fn prlimit(resource: i32, new: Option<(u64, u64)>) -> Result<(u64, u64), Errno> {
    let new = new.map(|(soft, hard)| [soft, hard]);
    let mut old = [0u64; 2];
    let new_ptr = new.as_ref().map_or(0, |n| n.as_ptr() as usize);
    // SAFETY: the kernel reads two u64s from `new` (when not NULL) and
    // writes two to `old`; both live across the call.
    check(unsafe {
        syscall4(
            nr::PRLIMIT64,
            0,
            resource as usize,
            new_ptr,
            old.as_mut_ptr() as usize,
        )
    })?;
    Ok((old[0], old[1]))
}

/// `vfork()` + `execve(path, argv, envp)` in the child, written so that
/// the child touches no stack: the child runs only the instructions of
/// one `asm!` block (reset `sigdfl` signals to their default, `setpgid(0,
/// pgid)` when `pgid >= 0`, execve, and on failure store `-errno` in
/// `*exec_error` and `exit_group(127)`). Returns the child's pid to the
/// parent, with the exec error when the address space is shared
/// (FreeBSD-style vfork, so the child's store is seen) and exec failed;
/// such a child has exited with 127 and still needs reaping. `Err` when
/// the child could not be created.
///
/// `call` is the system call that creates the child: [`nr::VFORK`] with
/// `arg` unused, or [`nr::TINE_RFORK`] with the rfork flags in `arg`
/// (RFMEM children share the stack too, so they need the same care).
/// `path` NULL makes the child `exit_group(0)` at once instead of exec,
/// touching no memory (safe even when the parent runs on meanwhile). With
/// a path, the parent must not run on before the child's exec (vfork,
/// `RFPPWAIT`, `RFSPAWN`): the child reads the strings and may write the
/// error.
///
/// The function checks those rules itself
/// ([`abi::fork::vfork_exec_is_sound`]) and
/// answers `EINVAL` without making a child when they do not hold: `call`
/// other than `vfork` or `rfork`; rfork flags that make no child (neither
/// `RFPROC` nor `RFSPAWN`: the child's code would run in the caller) or
/// do not fit 32 bits; and, with a path, `RFMEM` without `RFPPWAIT` or
/// `RFSPAWN` (the parent would run on while the child reads its strings).
pub fn vfork_exec(
    call: u64,
    arg: usize,
    req: &VforkExec<'_>,
) -> Result<(i32, Option<Errno>), Errno> {
    if !abi::fork::vfork_exec_is_sound(call, arg as u64, req.path.is_some()) {
        return Err(Errno::EINVAL);
    }
    /// `SIG_DFL` for every signal the child resets: a static, so that it
    /// stays valid whatever the parent does meanwhile.
    static DFL: KernelSigaction = KernelSigaction {
        handler: 0,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    let mut exec_error: i32 = 0;
    let ret: isize;
    // SAFETY: everything the child needs is loaded into registers before
    // the call (the syscall instruction preserves all but rax, rcx and
    // r11), so the child reads no stack memory of the parent, which may
    // run on (RFMEM without RFPPWAIT). Without a path it exits at once,
    // touching nothing. Otherwise it calls rt_sigaction with the static
    // default action, setpgid, and execve with NUL-terminated strings and
    // NULL-terminated arrays (`VforkExec`'s invariants; the caller keeps
    // them alive until the child has exec'd: a vfork-style parent waits
    // for that); a failed exec stores one i32 through `errp` (the
    // parent's local, alive because such a parent is still waiting) and
    // exits. The parent resumes with its stack intact; rcx, r11, rsi, rdx
    // and r10 are declared clobbered, rdi consumed.
    unsafe {
        asm!(
            "syscall",
            "test rax, rax",
            "jnz 3f",
            // Child. No program: exit at once.
            "test r12, r12",
            "jz 4f",
            // SIGINT, SIGQUIT, SIGTSTP, SIGTTIN, SIGTTOU to default.
            "mov eax, {sigaction}", "mov edi, {sigint}", "mov rsi, r9", "xor edx, edx", "mov r10d, 8", "syscall",
            "mov eax, {sigaction}", "mov edi, {sigquit}", "mov rsi, r9", "xor edx, edx", "mov r10d, 8", "syscall",
            "mov eax, {sigaction}", "mov edi, {sigtstp}", "mov rsi, r9", "xor edx, edx", "mov r10d, 8", "syscall",
            "mov eax, {sigaction}", "mov edi, {sigttin}", "mov rsi, r9", "xor edx, edx", "mov r10d, 8", "syscall",
            "mov eax, {sigaction}", "mov edi, {sigttou}", "mov rsi, r9", "xor edx, edx", "mov r10d, 8", "syscall",
            // setpgid(0, pgid) unless pgid < 0.
            "test r13, r13",
            "js 2f",
            "mov eax, {setpgid}",
            "xor edi, edi",
            "mov rsi, r13",
            "syscall",
            "2:",
            "mov rdi, r12",
            "mov rsi, r14",
            "mov rdx, r15",
            "mov eax, {execve}",
            "syscall",
            "neg eax",
            "mov [r8], eax",
            "mov edi, 127",
            "mov eax, {exit_group}",
            "syscall",
            "ud2",
            "4:",
            "xor edi, edi",
            "mov eax, {exit_group}",
            "syscall",
            "ud2",
            "3:",
            sigaction = const nr::RT_SIGACTION,
            setpgid = const nr::SETPGID,
            execve = const nr::EXECVE,
            exit_group = const nr::EXIT_GROUP,
            sigint = const abi::signal::SIGINT.number(),
            sigquit = const abi::signal::SIGQUIT.number(),
            sigtstp = const abi::signal::SIGTSTP.number(),
            sigttin = const abi::signal::SIGTTIN.number(),
            sigttou = const abi::signal::SIGTTOU.number(),
            in("r12") req.path.map_or(0, |p| p.as_ptr() as usize),
            in("r13") req.pgid as isize,
            in("r14") req.argv.as_ptr() as usize,
            in("r15") req.envp.as_ptr() as usize,
            in("r8") &mut exec_error as *mut i32 as usize,
            in("r9") &DFL as *const KernelSigaction as usize,
            inout("rdi") arg => _,
            inlateout("rax") call as isize => ret,
            lateout("rcx") _,
            lateout("r11") _,
            lateout("rsi") _,
            lateout("rdx") _,
            lateout("r10") _,
        );
    }
    let pid = check(ret)? as i32;
    // Volatile: the child (sharing our memory) may have written it behind
    // the compiler's back.
    // SAFETY: `exec_error` is a live, aligned local.
    let err = unsafe { core::ptr::read_volatile(&exec_error) };
    Ok((pid, (err != 0).then_some(Errno(err))))
}

/// `clone(flags, stack, parent_tid, child_tid, 0)` whose child calls
/// `f(arg)` on `stack` and exits (`exit`, the thread) with its return
/// value; the parent gets the child's id. The child never returns into
/// the caller's frame, so it may share the caller's memory (`CLONE_VM`).
///
/// # Safety
/// `stack` is the 16-byte aligned top of memory nothing else uses while
/// the child runs; `parent_tid` and `child_tid` are 0 or point at `u32`s
/// that stay valid as long as the kernel may write them (the flags say
/// when: `CLONE_PARENT_SETTID`, `CLONE_CHILD_SETTID`,
/// `CLONE_CHILD_CLEARTID`); `flags` must not ask for what breaks Rust's
/// invariants in the parent (a child sharing its memory must only run
/// `f`, which must not touch data the parent holds references to).
pub unsafe fn clone_run(
    flags: usize,
    stack: usize,
    parent_tid: usize,
    child_tid: usize,
    f: extern "C" fn(usize) -> i32,
    arg: usize,
) -> Result<usize, Errno> {
    let ret: isize;
    // SAFETY: the parent returns from the syscall with its own registers;
    // the child (rax 0) uses nothing but its new stack: it calls `f`
    // there and exits without returning, so it never uses the parent's
    // frame. The caller vouches for the stack and the tid pointers.
    unsafe {
        asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "mov rdi, r12",
            "call r13",
            "mov edi, eax",
            "mov eax, {exit}",
            "syscall",
            "ud2",
            "2:",
            exit = const nr::EXIT,
            inlateout("rax") nr::CLONE as isize => ret,
            in("rdi") flags,
            in("rsi") stack,
            in("rdx") parent_tid,
            in("r10") child_tid,
            in("r8") 0usize,
            in("r12") arg,
            in("r13") f,
            lateout("rcx") _,
            lateout("r11") _,
        );
    }
    check(ret)
}

/// `vfork()` whose child makes one system call, `call(arg)`, and exits
/// with status 0, touching no stack (it shares the parent's, which the
/// parent resumes on): everything is in registers, in one `asm!` block.
/// Returns the child's PID once the child has exited (vfork's wait).
///
/// # Safety
/// `call(arg)` must be sound in a child that shares all of the caller's
/// memory: a pointer in `arg` points at memory of the size and mutability
/// the call uses, and the call must not break an invariant Rust relies on.
pub unsafe fn vfork_call_exit(call: u64, arg: usize) -> Result<usize, Errno> {
    let ret: isize;
    // SAFETY: the parent is suspended until the child exits; the child
    // uses only registers (no stack) for two system calls and never
    // returns here. `syscall` clobbers rcx and r11, declared; `call` and
    // `arg` are in r12 and rdx, which no system call changes. The caller
    // vouches for `call(arg)`.
    unsafe {
        asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "mov rdi, rdx",
            "mov rax, r12",
            "syscall",
            "xor edi, edi",
            "mov eax, {exit}",
            "syscall",
            "ud2",
            "2:",
            exit = const nr::EXIT,
            in("rdx") arg,
            in("r12") call,
            inlateout("rax") nr::VFORK as isize => ret,
            out("rdi") _,
            lateout("rcx") _,
            lateout("r11") _,
        );
    }
    check(ret)
}

/// What [`vfork_exec`]'s child runs.
pub struct VforkExec<'a> {
    /// The program; `None`: the child exits with status 0 at once.
    pub path: Option<&'a CStr>,
    /// NULL-terminated argv pointers (see [`CStrArray`]).
    pub argv: &'a CStrArray,
    /// NULL-terminated envp pointers.
    pub envp: &'a CStrArray,
    /// The child's process group (`setpgid(0, pgid)`), or -1 to stay in
    /// ours.
    pub pgid: i32,
}

/// A NULL-terminated array of string pointers for `execve`.
pub struct CStrArray {
    ptrs: [*const c_char; EXECVE_MAX_STRINGS + 1],
}

impl CStrArray {
    /// The pointers of `strings` (at most [`EXECVE_MAX_STRINGS`]; `E2BIG`
    /// beyond), then NULL. The strings must outlive every use of the
    /// array (the caller keeps them).
    pub fn new(strings: &[&CStr]) -> Result<Self, Errno> {
        if strings.len() > EXECVE_MAX_STRINGS {
            return Err(Errno::E2BIG);
        }
        let mut ptrs = [core::ptr::null::<c_char>(); EXECVE_MAX_STRINGS + 1];
        for (slot, s) in ptrs.iter_mut().zip(strings) {
            *slot = s.as_ptr();
        }
        Ok(Self { ptrs })
    }

    fn as_ptr(&self) -> *const *const c_char {
        self.ptrs.as_ptr()
    }
}

/// `rfork(flags)` (Tine 1000): 0 in the child, the child's pid in the
/// parent (or 0 without `RFPROC`). Only for flags that give the child a
/// copy of our memory: `RFPROC` with `RFMEM` or `RFPPWAIT` (bit 15), and
/// `RFSPAWN` (bit 31), share it and are refused with `EINVAL` here; use
/// [`vfork_exec`] with [`nr::TINE_RFORK`] for those.
pub fn rfork(flags: u32) -> Result<i32, Errno> {
    const RFPROC: u32 = abi::fork::RFPROC.bits();
    const SHARING: u32 = abi::fork::RFMEM.union(abi::fork::RFPPWAIT_USER).bits();
    const RFSPAWN: u32 = abi::fork::RFSPAWN.bits();
    if flags & RFSPAWN != 0 || (flags & RFPROC != 0 && flags & SHARING != 0) {
        return Err(Errno::EINVAL);
    }
    // SAFETY: the child gets a copy of the address space (no RFMEM), as
    // with fork.
    check(unsafe { syscall1(nr::TINE_RFORK, flags as usize) }).map(|p| p as i32)
}

/// `pdfork(&fd, flags)` (Tine 1001): `(0, _)` in the child, `(pid, fd)` in
/// the parent.
pub fn pdfork(flags: u32) -> Result<(i32, i32), Errno> {
    let mut fd: i32 = -1;
    // SAFETY: the kernel writes one i32 to `fd`; the child gets a copy of
    // the address space, as with fork.
    let pid = check(unsafe {
        syscall2(
            nr::TINE_PDFORK,
            &mut fd as *mut i32 as usize,
            flags as usize,
        )
    })?;
    Ok((pid as i32, fd))
}

/// `pdgetpid(fd)` (Tine 1002).
pub fn pdgetpid(fd: i32) -> Result<i32, Errno> {
    let mut pid: i32 = 0;
    // SAFETY: the kernel writes one i32 to `pid`.
    check(unsafe {
        syscall2(
            nr::TINE_PDGETPID,
            fd as usize,
            &mut pid as *mut i32 as usize,
        )
    })?;
    Ok(pid)
}

/// `pdkill(fd, sig)` (Tine 1003).
pub fn pdkill(fd: i32, sig: impl Into<i32>) -> Result<(), Errno> {
    let sig: i32 = sig.into();
    // SAFETY: no memory is passed.
    check(unsafe { syscall2(nr::TINE_PDKILL, fd as usize, sig as usize) }).map(|_| ())
}

/// Reads `sysctl debug.check`, the kernel's invariant check (PID map,
/// threads and tasks, frames; `docs/robustness.md`): the number of
/// problems it found, which it also printed on the console. A fork or an
/// exit still finishing can show as a passing problem, so a non-zero
/// answer is asked again, up to `tries` reads 100 ms apart.
pub fn debug_check(tries: u32) -> Result<u64, Errno> {
    let mut problems = 0;
    for i in 0..tries.max(1) {
        if i > 0 {
            super::nanosleep(100_000_000)?;
        }
        let mut text = [0u8; 24];
        let len = sysctl(b"debug.check", &mut text, None)?;
        problems = text[..len.min(text.len())]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .fold(0u64, |n, b| n * 10 + u64::from(b - b'0'));
        if problems == 0 {
            break;
        }
    }
    Ok(problems)
}

/// `sysctl(name, old, new)` (Tine 1005) by name (empty: every knob as
/// `name=value` lines): copies the old value into `old` (ASCII) and
/// returns its length; sets `new` when given. With `old` empty, returns
/// the length needed.
pub fn sysctl(name: &[u8], old: &mut [u8], new: Option<&[u8]>) -> Result<usize, Errno> {
    let mut oldlen = old.len();
    let old_ptr = if old.is_empty() {
        0
    } else {
        old.as_mut_ptr() as usize
    };
    let (new_ptr, new_len) = new.map_or((0, 0), |n| (n.as_ptr() as usize, n.len()));
    // SAFETY: the kernel reads `name.len()` bytes of `name` and `new_len`
    // of `new`, writes at most `oldlen` bytes to `old` and one usize to
    // `oldlen`; all live across the call.
    check(unsafe {
        syscall6(
            nr::TINE_SYSCTL,
            name.as_ptr() as usize,
            name.len(),
            old_ptr,
            &mut oldlen as *mut usize as usize,
            new_ptr,
            new_len,
        )
    })?;
    Ok(oldlen)
}

/// `poweroff(status)` (Tine 1006): ends the machine (under QEMU, status
/// 0 exits 33 and anything else 35); returns only on failure (`EPERM`
/// when not root).
pub fn poweroff(status: i32) -> Errno {
    // SAFETY: no memory is passed.
    match check(unsafe { syscall1(nr::TINE_POWEROFF, status as usize) }) {
        Err(e) => e,
        Ok(_) => Errno::EINVAL,
    }
}

/// A Tine information call (`TINE_PROCLIST`, `TINE_CPUINFO`,
/// `TINE_MEMINFO`, `TINE_VMSTAT`) filling `buf` with fixed-size records;
/// returns what the call returns (the record count for the lists).
pub fn tine_info(call: u64, buf: &mut [u8]) -> Result<usize, Errno> {
    // SAFETY: the kernel writes at most buf.len() bytes into buf.
    check(unsafe { syscall2(call, buf.as_mut_ptr() as usize, buf.len()) })
}

/// `forkevents(buf, flags)` (Tine 1010): bytes of whole 24-byte records.
pub fn forkevents(buf: &mut [u8], flags: u32) -> Result<usize, Errno> {
    // SAFETY: the kernel writes at most buf.len() bytes into buf.
    check(unsafe {
        syscall3(
            nr::TINE_FORKEVENTS,
            buf.as_mut_ptr() as usize,
            buf.len(),
            flags as usize,
        )
    })
}

/// `kbench(names)` (Tine 1011): runs in-kernel benchmarks (comma list,
/// empty = all), which print on the console.
pub fn kbench(names: &[u8]) -> Result<usize, Errno> {
    // SAFETY: the kernel reads names.len() bytes of names.
    check(unsafe { syscall2(nr::TINE_KBENCH, names.as_ptr() as usize, names.len()) })
}

/// Most arguments plus environment strings [`execve`] passes.
pub const EXECVE_MAX_STRINGS: usize = 64;

/// `execve(path, argv, envp)`: returns only on failure.
pub fn execve(path: &CStr, argv: &[&CStr], envp: &[&CStr]) -> Errno {
    if argv.len() + envp.len() > EXECVE_MAX_STRINGS {
        return Errno::E2BIG;
    }
    let mut argv_ptrs = [core::ptr::null::<c_char>(); EXECVE_MAX_STRINGS + 1];
    let mut envp_ptrs = [core::ptr::null::<c_char>(); EXECVE_MAX_STRINGS + 1];
    for (slot, s) in argv_ptrs.iter_mut().zip(argv) {
        *slot = s.as_ptr();
    }
    for (slot, s) in envp_ptrs.iter_mut().zip(envp) {
        *slot = s.as_ptr();
    }
    // SAFETY: path and every string are NUL-terminated (`CStr`); both
    // pointer arrays are NULL-terminated (they are longer than the
    // strings they hold) and live across the call.
    let ret = unsafe {
        syscall3(
            nr::EXECVE,
            path.as_ptr() as usize,
            argv_ptrs.as_ptr() as usize,
            envp_ptrs.as_ptr() as usize,
        )
    };
    match check(ret) {
        Err(e) => e,
        Ok(_) => Errno::EINVAL, // execve does not return on success
    }
}

/// `exit(status)`: ends this thread.
pub fn exit(status: i32) -> ! {
    // SAFETY: exit does not return and touches no memory of ours.
    unsafe { syscall1(nr::EXIT, status as usize) };
    unreachable_exit()
}

/// `exit_group(status)`: ends the process.
pub fn exit_group(status: i32) -> ! {
    // SAFETY: exit_group does not return and touches no memory of ours.
    unsafe { syscall1(nr::EXIT_GROUP, status as usize) };
    unreachable_exit()
}

/// Where an exit that returned (a kernel bug) ends up: spin forever.
fn unreachable_exit() -> ! {
    loop {
        core::hint::spin_loop();
    }
}
