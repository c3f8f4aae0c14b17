//! `/proc`: a read-only view of the processes and the machine in Linux's
//! formats, enough for busybox `ps`, `top` and `free` (the formatting is
//! pure and host-tested; gathering the figures needs the machine).
//!
//! | path | contents |
//! |---|---|
//! | `/proc/PID/stat` | one line, Linux's 52 fields (`proc_pid_stat(5)`); times in clock ticks of 100 Hz |
//! | `/proc/PID/status` | `Name:`, `State:`, `Pid:`, `PPid:`, `Uid:`, `Gid:`, the signal masks, ... |
//! | `/proc/PID/cmdline` | the arguments of the last `execve`, each ending in a NUL |
//! | `/proc/PID/comm` | the name (15 bytes at most) and a newline |
//! | `/proc/PID/exe` | a symbolic link to the program file (the path `execve` loaded) |
//! | `/proc/PID/cwd` | a symbolic link to the working directory |
//! | `/proc/PID/fd/N` | a symbolic link per descriptor: the file's path, `pipe:[INO]`, `anon_inode:[tine]` |
//! | `/proc/PID/task/TID` | a directory per thread, holding the process's files (`stat`, `fd`, ...) |
//! | `/proc/self` | the caller's `/proc/PID` (rewritten by the path lookup of the system calls, see `syscall::fs::resolve_at`) |
//! | `/proc/thread-self` | the calling thread's `/proc/PID/task/TID` (rewritten likewise) |
//! | `/proc/meminfo` | `MemTotal`, `MemFree`, `MemAvailable`, ... in kB |
//! | `/proc/uptime` | seconds since boot and idle CPU seconds |
//! | `/proc/loadavg` | Linux's five fields; the averages are 0.00 (Tine keeps none) |
//! | `/proc/stat` | the `cpu` lines, `btime`, `processes`, `procs_running` |
//! | `/proc/cpuinfo` | per CPU: `processor`, `vendor_id`, `model name` (from CPUID) |
//! | `/proc/mounts` | the four file systems in `fstab` format (busybox `df`, `mount`) |
//! | `/proc/version` | `uname`'s name, release and version |
//! | `/proc/partitions` | empty (no block devices) |
//! | `/proc/sys/kernel/{hostname,osrelease,ostype,pid_max,threads-max}`, `/proc/sys/vm/{mmap_min_addr,overcommit_memory}` | the knobs programs read, read-only ([`Sysctl`]) |
//!
//! A file's contents are made when it is opened (a snapshot, as a reader
//! that reads it whole sees on Linux too) and again by every later read at
//! offset 0 (`fs::file`, as Linux's `seq_file` restarts); `st_dev` is
//! [`PROC_DEV`].
//! Figures Tine does not keep (system time, faults, per-CPU idle time) are
//! 0 or derived as each field says.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

/// `st_dev` of `/proc`.
pub const PROC_DEV: u64 = 6;
/// Clock ticks per second of the times in `/proc` (Linux's `USER_HZ`).
pub const USER_HZ: u64 = 100;

/// A file of one process's directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PidFile {
    Stat,
    Status,
    Cmdline,
    Comm,
    /// A symbolic link to the program file.
    Exe,
    /// A symbolic link to the working directory.
    Cwd,
}

impl PidFile {
    /// The files of `/proc/PID`, by name.
    pub const NAMES: [(&'static str, PidFile); 6] = [
        ("cmdline", PidFile::Cmdline),
        ("comm", PidFile::Comm),
        ("cwd", PidFile::Cwd),
        ("exe", PidFile::Exe),
        ("stat", PidFile::Stat),
        ("status", PidFile::Status),
    ];

    pub fn named(name: &str) -> Option<PidFile> {
        Self::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, f)| f)
    }

    fn index(self) -> u64 {
        self as u64 + 1
    }
}

/// A file at the top of `/proc`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SysFile {
    Meminfo,
    Uptime,
    Loadavg,
    Stat,
    Cpuinfo,
    Mounts,
    Version,
    Partitions,
}

impl SysFile {
    /// The files of `/proc`, by name.
    pub const NAMES: [(&'static str, SysFile); 8] = [
        ("cpuinfo", SysFile::Cpuinfo),
        ("loadavg", SysFile::Loadavg),
        ("meminfo", SysFile::Meminfo),
        ("mounts", SysFile::Mounts),
        ("partitions", SysFile::Partitions),
        ("stat", SysFile::Stat),
        ("uptime", SysFile::Uptime),
        ("version", SysFile::Version),
    ];

    pub fn named(name: &str) -> Option<SysFile> {
        Self::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, f)| f)
    }
}

/// A file of `/proc/sys` (read-only: Tine's knobs are `sysctl` by name,
/// `proc::sysctl`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sysctl {
    Hostname,
    Osrelease,
    Ostype,
    PidMax,
    ThreadsMax,
    MmapMinAddr,
    OvercommitMemory,
}

/// The directories of `/proc/sys` below it, by name.
pub const SYSCTL_DIRS: [&str; 2] = ["kernel", "vm"];

impl Sysctl {
    /// The files: directory (an index of [`SYSCTL_DIRS`]), name.
    pub const NAMES: [(usize, &'static str, Sysctl); 7] = [
        (0, "hostname", Sysctl::Hostname),
        (0, "osrelease", Sysctl::Osrelease),
        (0, "ostype", Sysctl::Ostype),
        (0, "pid_max", Sysctl::PidMax),
        (0, "threads-max", Sysctl::ThreadsMax),
        (1, "mmap_min_addr", Sysctl::MmapMinAddr),
        (1, "overcommit_memory", Sysctl::OvercommitMemory),
    ];

    fn named(dir: usize, name: &str) -> Option<Sysctl> {
        Self::NAMES
            .iter()
            .find(|&&(d, n, _)| d == dir && n == name)
            .map(|&(_, _, f)| f)
    }
}

/// A node of `/proc`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcNode {
    /// `/proc`.
    Root,
    /// `/proc/PID`.
    Dir(u32),
    /// `/proc/PID/NAME`.
    PidFile(u32, PidFile),
    /// `/proc/NAME`.
    Sys(SysFile),
    /// `/proc/PID/fd`.
    FdDir(u32),
    /// `/proc/PID/fd/N`: a symbolic link to the open file's path.
    Fd(u32, u32),
    /// `/proc/PID/task`: a directory per thread.
    TaskDir(u32),
    /// `/proc/PID/task/TID`: the thread's directory, whose files are the
    /// process's (`/proc/PID/task/TID/NAME` is `PidFile(PID, NAME)`).
    Task(u32, u32),
    /// `/proc/sys` (`None`) or one of its [`SYSCTL_DIRS`].
    SysDir(Option<usize>),
    /// A file of `/proc/sys`.
    Sysctl(Sysctl),
}

impl ProcNode {
    /// The node at `components` below `/proc` (`self` already rewritten).
    /// `ENOENT`-worthy paths are `None`; `Some(Err(()))` is a path through
    /// a file (`ENOTDIR`).
    pub fn lookup<'a>(
        components: impl Iterator<Item = &'a str>,
        exists: impl Fn(u32) -> bool,
        exists_fd: impl Fn(u32, u32) -> bool,
        exists_thread: impl Fn(u32, u32) -> bool,
    ) -> Option<Result<ProcNode, ()>> {
        let mut components = components.peekable();
        let Some(first) = components.next() else {
            return Some(Ok(ProcNode::Root));
        };
        let node = if let Some(file) = SysFile::named(first) {
            ProcNode::Sys(file)
        } else if first == "sys" {
            let Some(dir) = components.next() else {
                return Some(Ok(ProcNode::SysDir(None)));
            };
            let dir = SYSCTL_DIRS.iter().position(|&d| d == dir)?;
            match components.next() {
                None => return Some(Ok(ProcNode::SysDir(Some(dir)))),
                Some(name) => ProcNode::Sysctl(Sysctl::named(dir, name)?),
            }
        } else {
            let pid = number(first).filter(|&p| p > 0 && exists(p))?;
            let mut dir = ProcNode::Dir(pid);
            if components.next_if_eq(&"task").is_some() {
                let Some(tid) = components.next() else {
                    return Some(Ok(ProcNode::TaskDir(pid)));
                };
                let tid = number(tid).filter(|&t| exists_thread(pid, t))?;
                dir = ProcNode::Task(pid, tid);
            }
            match components.next() {
                None => return Some(Ok(dir)),
                Some("fd") => match components.next() {
                    None => return Some(Ok(ProcNode::FdDir(pid))),
                    Some(n) => ProcNode::Fd(pid, number(n).filter(|&fd| exists_fd(pid, fd))?),
                },
                Some(name) => ProcNode::PidFile(pid, PidFile::named(name)?),
            }
        };
        match components.next() {
            None => Some(Ok(node)),
            Some(_) => Some(Err(())),
        }
    }

    pub fn is_dir(self) -> bool {
        matches!(
            self,
            ProcNode::Root
                | ProcNode::Dir(_)
                | ProcNode::FdDir(_)
                | ProcNode::TaskDir(_)
                | ProcNode::Task(..)
                | ProcNode::SysDir(_)
        )
    }

    /// Whether it is a symbolic link (`/proc/PID/exe`, `/proc/PID/cwd`).
    pub fn is_symlink(self) -> bool {
        matches!(
            self,
            ProcNode::PidFile(_, PidFile::Exe | PidFile::Cwd) | ProcNode::Fd(..)
        )
    }

    /// Its inode number: 1 for `/proc`, small numbers for the top files,
    /// `PID << 4 | k` from `0x1000` on for the process directories.
    pub fn ino(self) -> u64 {
        match self {
            ProcNode::Root => 1,
            ProcNode::Sys(file) => 2 + file as u64,
            ProcNode::Dir(pid) => 0x1000 + (u64::from(pid) << 4),
            ProcNode::PidFile(pid, file) => 0x1000 + (u64::from(pid) << 4) + file.index(),
            ProcNode::FdDir(pid) => 0x1000 + (u64::from(pid) << 4) + 0xf,
            ProcNode::Fd(pid, fd) => (1 << 40) + (u64::from(pid) << 16) + u64::from(fd),
            ProcNode::TaskDir(pid) => 0x1000 + (u64::from(pid) << 4) + 0xe,
            ProcNode::Task(pid, tid) => (3 << 44) + (u64::from(pid) << 22) + u64::from(tid),
            ProcNode::SysDir(dir) => 0x800 + dir.map_or(0, |d| d as u64 + 1),
            ProcNode::Sysctl(file) => 0x900 + file as u64,
        }
    }
}

/// A decimal component as `/proc` spells numbers: no sign, no leading
/// zero (`07` names nothing).
fn number(name: &str) -> Option<u32> {
    if name.len() > 1 && name.starts_with('0') || name.starts_with('+') {
        return None;
    }
    name.parse().ok()
}

/// What `/proc/PID/stat` and `status` show of a process.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcessView {
    pub pid: u32,
    pub ppid: u32,
    pub pgid: u32,
    pub sid: u32,
    /// The name (cut to 15 bytes here).
    pub name: String,
    /// Linux's state letter: `R`, `S`, `T`, `Z`.
    pub state: char,
    /// The controlling terminal's device number (0: none) and its
    /// foreground group (-1: none).
    pub tty_nr: u32,
    pub tpgid: i32,
    /// User-mode time in ns.
    pub user_ns: u64,
    pub vsize: u64,
    pub rss_pages: u64,
    pub exit_signal: i32,
    pub processor: u32,
    /// The nice value (`setpriority`); the priority field is 20 + it.
    pub nice: i8,
    /// Live threads (stat's `num_threads`, status's `Threads:`).
    pub threads: usize,
    /// Supplementary groups, sorted (status's `Groups:`).
    pub groups: Vec<u32>,
    /// Real, effective, saved user and group ids.
    pub uids: [u32; 3],
    pub gids: [u32; 3],
    pub umask: u32,
    pub pending: u64,
    pub blocked: u64,
    pub ignored: u64,
    pub caught: u64,
}

/// The name as Linux's `comm` holds it: at most 15 bytes, cut on a
/// character boundary.
pub fn comm(name: &str) -> &str {
    let mut end = name.len().min(15);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

/// ns to clock ticks of [`USER_HZ`].
pub const fn ticks(ns: u64) -> u64 {
    ns / (1_000_000_000 / USER_HZ)
}

/// `/proc/PID/stat`: the 52 fields of Linux's `do_task_stat`.
pub fn stat_line(p: &ProcessView) -> String {
    let mut s = format!(
        "{} ({}) {} {} {} {} {} {} ",
        p.pid,
        comm(&p.name),
        p.state,
        p.ppid,
        p.pgid,
        p.sid,
        p.tty_nr,
        p.tpgid
    );
    // flags minflt cminflt majflt cmajflt utime stime cutime cstime
    // priority nice num_threads itrealvalue starttime vsize rss rsslim
    let _ = write!(
        s,
        "0 0 0 0 0 {} 0 0 0 {} {} {} 0 0 {} {} {} ",
        ticks(p.user_ns),
        20 + i32::from(p.nice),
        p.nice,
        p.threads,
        p.vsize,
        p.rss_pages,
        u64::MAX
    );
    // startcode endcode startstack kstkesp kstkeip signal blocked
    // sigignore sigcatch wchan nswap cnswap exit_signal processor
    // rt_priority policy delayacct_blkio_ticks guest_time cguest_time
    // start_data end_data start_brk arg_start arg_end env_start env_end
    // exit_code
    let _ = writeln!(
        s,
        "0 0 0 0 0 {} {} {} {} 0 0 0 {} {} 0 0 0 0 0 0 0 0 0 0 0 0 0",
        p.pending & 0x7fff_ffff,
        p.blocked & 0x7fff_ffff,
        p.ignored & 0x7fff_ffff,
        p.caught & 0x7fff_ffff,
        p.exit_signal,
        p.processor
    );
    s
}

/// `/proc/PID/status`, the fields Tine has, in Linux's order and format.
pub fn status_text(p: &ProcessView) -> String {
    let state = match p.state {
        'R' => "R (running)",
        'T' => "T (stopped)",
        'Z' => "Z (zombie)",
        _ => "S (sleeping)",
    };
    let [uid, euid, suid] = p.uids;
    let [gid, egid, sgid] = p.gids;
    // Linux's format: each group followed by a space.
    let groups: String = p.groups.iter().map(|g| format!("{g} ")).collect();
    format!(
        "Name:\t{}\nUmask:\t{:04o}\nState:\t{state}\nTgid:\t{pid}\nNgid:\t0\nPid:\t{pid}\n\
         PPid:\t{}\nTracerPid:\t0\nUid:\t{uid}\t{euid}\t{suid}\t{euid}\n\
         Gid:\t{gid}\t{egid}\t{sgid}\t{egid}\nFDSize:\t256\nGroups:\t{groups}\n\
         VmSize:\t{:8} kB\nVmRSS:\t{:8} kB\nThreads:\t{}\n\
         SigPnd:\t{:016x}\nShdPnd:\t{:016x}\nSigBlk:\t{:016x}\nSigIgn:\t{:016x}\nSigCgt:\t{:016x}\n",
        comm(&p.name),
        p.umask,
        p.ppid,
        p.vsize / 1024,
        p.rss_pages * 4,
        p.threads,
        0,
        p.pending,
        p.blocked,
        p.ignored,
        p.caught,
        pid = p.pid,
    )
}

/// `/proc/PID/cmdline` from the arguments: each followed by a NUL.
pub fn cmdline_bytes<'a>(args: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for arg in args {
        out.extend_from_slice(arg);
        out.push(0);
    }
    out
}

/// `/proc/meminfo` from the total and free bytes: the lines busybox
/// `free` and `top` read (no swap, no page cache).
pub fn meminfo_text(total: u64, free: u64) -> String {
    let mut s = String::new();
    for (name, bytes) in [
        ("MemTotal", total),
        ("MemFree", free),
        ("MemAvailable", free),
        ("Buffers", 0),
        ("Cached", 0),
        ("SwapCached", 0),
        ("Active", total - free),
        ("Inactive", 0),
        ("SwapTotal", 0),
        ("SwapFree", 0),
        ("Shmem", 0),
        ("SReclaimable", 0),
    ] {
        let label = format!("{name}:");
        let _ = writeln!(s, "{label:<16}{:>8} kB", bytes / 1024);
    }
    s
}

/// Seconds and hundredths: `12.34`.
fn centiseconds(ns: u64) -> String {
    format!(
        "{}.{:02}",
        ns / 1_000_000_000,
        ns % 1_000_000_000 / 10_000_000
    )
}

/// `/proc/uptime`: time since boot and the CPUs' idle time (here the
/// CPU time not spent in user mode by any process).
pub fn uptime_text(uptime_ns: u64, idle_ns: u64) -> String {
    format!("{} {}\n", centiseconds(uptime_ns), centiseconds(idle_ns))
}

/// `/proc/loadavg`: three load averages (Tine keeps none: 0.00),
/// running/total processes, the last PID handed out.
pub fn loadavg_text(running: usize, total: usize, last_pid: u32) -> String {
    format!("0.00 0.00 0.00 {running}/{total} {last_pid}\n")
}

/// `/proc/stat`: the `cpu` line (the sum) and one per CPU, each with
/// user and idle ticks (the CPUs' shares of the idle time are equal),
/// then `btime` (boot, s since 1970), `processes` (forks since boot),
/// `procs_running`, `procs_blocked`.
pub fn stat_text(
    ncpus: usize,
    user_ns: u64,
    idle_ns: u64,
    boot_time: u64,
    forks: u64,
    running: usize,
) -> String {
    let line = |name: &str, user: u64, idle: u64| {
        format!("{name} {} 0 0 {} 0 0 0 0 0 0\n", ticks(user), ticks(idle))
    };
    let mut s = line("cpu ", user_ns, idle_ns);
    let n = ncpus.max(1) as u64;
    for cpu in 0..ncpus {
        s.push_str(&line(&format!("cpu{cpu}"), user_ns / n, idle_ns / n));
    }
    let _ = write!(
        s,
        "intr 0\nctxt 0\nbtime {boot_time}\nprocesses {forks}\nprocs_running {running}\nprocs_blocked 0\n"
    );
    s
}

/// `/proc/mounts`: the file systems of the name space (`docs/files.md`),
/// one `fstab` line each.
/// The mount points of [`MOUNTS`]: Tine's file systems are fixed
/// (`umount2` of one is `EBUSY`).
pub const MOUNT_POINTS: [&str; 4] = ["/", "/dev", "/proc", "/tmp"];

pub const MOUNTS: &str = "rootfs / rootfs ro 0 0\n\
    devtmpfs /dev devtmpfs rw,nosuid 0 0\n\
    proc /proc proc rw,nosuid,nodev,noexec 0 0\n\
    tmpfs /tmp tmpfs rw,nosuid,nodev 0 0\n";

/// `/proc/cpuinfo`: a block per CPU with the lines programs look for
/// (`processor` counts CPUs), the vendor and model name from CPUID.
pub fn cpuinfo_text(ncpus: usize, vendor: &str, model: &str) -> String {
    let mut s = String::new();
    for cpu in 0..ncpus {
        let _ = write!(
            s,
            "processor\t: {cpu}\nvendor_id\t: {vendor}\nmodel name\t: {model}\n\
             physical id\t: 0\ncore id\t\t: {cpu}\ncpu cores\t: {ncpus}\n\n"
        );
    }
    s
}

/// CPUID's words as text: the vendor (leaf 0: EBX, EDX, ECX) or the brand
/// string (leaves `0x8000_0002..=4`, all four registers each), trimmed of
/// NULs and blanks.
pub fn cpuid_text(words: &[u32]) -> String {
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    let text = String::from_utf8_lossy(&bytes);
    String::from(text.trim_matches(|c: char| c == '\0' || c == ' '))
}

#[cfg(target_os = "none")]
pub use imp::*;

#[cfg(target_os = "none")]
mod imp {
    use alloc::string::String;
    use alloc::sync::Arc;
    use alloc::vec::Vec;

    use super::super::stat::{DT_DIR, DT_LNK, DT_REG, S_IFDIR, S_IFLNK, S_IFREG, Stat};
    use super::*;
    use crate::proc::pid::Pid;
    use core::sync::atomic::{AtomicU64, Ordering};

    /// The largest idle time `/proc/uptime` or `/proc/stat` has shown.
    static IDLE_SHOWN: AtomicU64 = AtomicU64::new(0);
    use crate::proc::process::{self, Process, State};
    use abi::Errno;

    fn process(pid: u32) -> Option<Arc<Process>> {
        Pid::new(pid).and_then(process::lookup)
    }

    /// The node at `components` below `/proc`: `ENOENT`, or `ENOTDIR`
    /// for a path through a file.
    pub fn resolve<'a>(components: impl Iterator<Item = &'a str>) -> Result<ProcNode, Errno> {
        let has_fd = |pid, fd| process(pid).is_some_and(|p| p.files().get(u64::from(fd)).is_ok());
        let has_thread = |pid, tid| {
            process(pid).is_some_and(|p| Pid::new(tid).and_then(|t| p.thread(t)).is_some())
        };
        match ProcNode::lookup(components, |pid| process(pid).is_some(), has_fd, has_thread) {
            Some(Ok(node)) => Ok(node),
            Some(Err(())) => Err(Errno::ENOTDIR),
            None => Err(Errno::ENOENT),
        }
    }

    /// `stat` of a node: directories `0555` owned by the process's real
    /// uid and gid (what `ps` shows as USER), files `0444`.
    pub fn stat(node: ProcNode) -> Stat {
        let owner = match node {
            ProcNode::Dir(pid)
            | ProcNode::PidFile(pid, _)
            | ProcNode::FdDir(pid)
            | ProcNode::Fd(pid, _)
            | ProcNode::TaskDir(pid)
            | ProcNode::Task(pid, _) => {
                process(pid).map_or((0, 0), |p| (p.creds().uid, p.creds().gid))
            }
            _ => (0, 0),
        };
        let (mode, nlink) = if node.is_dir() {
            (S_IFDIR | 0o555, 2)
        } else if node.is_symlink() {
            (S_IFLNK | 0o777, 1)
        } else {
            (S_IFREG | 0o444, 1)
        };
        Stat {
            dev: PROC_DEV,
            ino: node.ino(),
            nlink,
            mode,
            uid: owner.0,
            gid: owner.1,
            blksize: 1024,
            ..Stat::default()
        }
    }

    /// The entries of a directory (not `.`/`..`).
    pub fn entries(node: ProcNode) -> Vec<(String, u64, u8)> {
        match node {
            ProcNode::Root => {
                let mut out: Vec<(String, u64, u8)> = SysFile::NAMES
                    .iter()
                    .map(|&(name, f)| (String::from(name), ProcNode::Sys(f).ino(), DT_REG))
                    .collect();
                out.push((String::from("sys"), ProcNode::SysDir(None).ino(), DT_DIR));
                out.push((String::from("self"), 0x0fff, DT_LNK));
                out.push((String::from("thread-self"), 0x0ffe, DT_LNK));
                for p in process::all() {
                    let pid = p.pid().as_u32();
                    out.push((format!("{pid}"), ProcNode::Dir(pid).ino(), DT_DIR));
                }
                out
            }
            ProcNode::Dir(pid) | ProcNode::Task(pid, _) => {
                let mut out: Vec<(String, u64, u8)> = PidFile::NAMES
                    .iter()
                    .map(|&(name, f)| {
                        let node = ProcNode::PidFile(pid, f);
                        let dtype = if node.is_symlink() { DT_LNK } else { DT_REG };
                        (String::from(name), node.ino(), dtype)
                    })
                    .collect();
                out.push((String::from("fd"), ProcNode::FdDir(pid).ino(), DT_DIR));
                if node == ProcNode::Dir(pid) {
                    out.push((String::from("task"), ProcNode::TaskDir(pid).ino(), DT_DIR));
                }
                out
            }
            ProcNode::TaskDir(pid) => process(pid)
                .map(|p| p.threads())
                .unwrap_or_default()
                .iter()
                .map(|t| {
                    let tid = t.tid().as_u32();
                    (format!("{tid}"), ProcNode::Task(pid, tid).ino(), DT_DIR)
                })
                .collect(),
            ProcNode::FdDir(pid) => process(pid)
                .map(|p| p.files().fds())
                .unwrap_or_default()
                .into_iter()
                .map(|fd| (format!("{fd}"), ProcNode::Fd(pid, fd).ino(), DT_LNK))
                .collect(),
            ProcNode::SysDir(None) => SYSCTL_DIRS
                .iter()
                .enumerate()
                .map(|(i, &name)| (String::from(name), ProcNode::SysDir(Some(i)).ino(), DT_DIR))
                .collect(),
            ProcNode::SysDir(Some(dir)) => Sysctl::NAMES
                .iter()
                .filter(|&&(d, _, _)| d == dir)
                .map(|&(_, name, f)| (String::from(name), ProcNode::Sysctl(f).ino(), DT_REG))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// A file's contents now. `ENOENT` if its process is gone, `EISDIR`
    /// for a directory.
    pub fn contents(node: ProcNode) -> Result<Vec<u8>, Errno> {
        let text = match node {
            ProcNode::Root
            | ProcNode::Dir(_)
            | ProcNode::FdDir(_)
            | ProcNode::TaskDir(_)
            | ProcNode::Task(..)
            | ProcNode::SysDir(_) => {
                return Err(Errno::EISDIR);
            }
            ProcNode::Sysctl(file) => match file {
                Sysctl::Hostname => format!(
                    "{}\n",
                    crate::syscall::misc::uts_name(&crate::syscall::misc::HOSTNAME, "tine")
                ),
                Sysctl::Osrelease => format!("{}\n", env!("CARGO_PKG_VERSION")),
                Sysctl::Ostype => String::from("Tine\n"),
                Sysctl::PidMax => format!("{}\n", crate::proc::pids().pid_max()),
                Sysctl::ThreadsMax => format!("{}\n", crate::proc::fork::maxproc()),
                Sysctl::MmapMinAddr => format!("{}\n", crate::vm::USER_BOTTOM),
                // Linux's heuristic mode, the default (Tine keeps no
                // commit count: every anonymous page is made on touch).
                Sysctl::OvercommitMemory => String::from("0\n"),
            },
            ProcNode::Fd(pid, fd) => fd_target(pid, fd)?,
            ProcNode::PidFile(pid, file) => {
                let p = process(pid).ok_or(Errno::ENOENT)?;
                match file {
                    PidFile::Cmdline => return Ok(p.cmdline()),
                    PidFile::Comm => format!("{}\n", comm(&p.name())),
                    PidFile::Stat => stat_line(&view(&p)),
                    PidFile::Exe => p.exe(),
                    PidFile::Cwd => p.fs().cwd(),
                    PidFile::Status => status_text(&view(&p)),
                }
            }
            ProcNode::Sys(file) => {
                let (free, total) = arch::mm::frame::stats();
                let page = crate::vm::vma::PAGE_SIZE;
                let uptime = crate::task::now_ns();
                let ncpus = crate::task::ncpus() as u64;
                let procs = process::all();
                let user: u64 = procs.iter().map(|p| p.user_ns()).sum();
                // Idle time never goes back, as on Linux (a thread's user
                // time is added in bursts, so the difference can shrink).
                let idle = (uptime * ncpus).saturating_sub(user);
                let idle = IDLE_SHOWN.fetch_max(idle, Ordering::Relaxed).max(idle);
                let running = procs
                    .iter()
                    .filter(|p| p.state() == State::Running && !p.signals().is_stopped())
                    .count()
                    .min(1);
                match file {
                    SysFile::Cpuinfo => cpuinfo(ncpus as usize),
                    SysFile::Mounts => String::from(MOUNTS),
                    // No block devices: empty, as Linux's is without one
                    // (its header comes with the first device; busybox
                    // `fdisk -l` died of SIGSEGV without the file).
                    SysFile::Partitions => String::new(),
                    SysFile::Version => {
                        format!("Tine version {} #1 SMP\n", env!("CARGO_PKG_VERSION"))
                    }
                    SysFile::Meminfo => meminfo_text(total as u64 * page, free as u64 * page),
                    SysFile::Uptime => uptime_text(uptime, idle),
                    SysFile::Loadavg => {
                        loadavg_text(running, procs.len(), crate::proc::pids().lastpid().as_u32())
                    }
                    SysFile::Stat => {
                        let boot = crate::syscall::time::realtime_ns().saturating_sub(uptime);
                        stat_text(
                            ncpus as usize,
                            user,
                            idle,
                            boot / 1_000_000_000,
                            crate::proc::pids().lastpid().as_u32().into(),
                            running,
                        )
                    }
                }
            }
        };
        Ok(text.into_bytes())
    }

    /// `/proc/cpuinfo` on this machine.
    fn cpuinfo(ncpus: usize) -> String {
        use arch::cpu::Features;
        let [_, b, c, d] = Features::cpuid(0, 0);
        let vendor = cpuid_text(&[b, d, c]);
        let model = if Features::cpuid(0x8000_0000, 0)[0] >= 0x8000_0004 {
            let words: Vec<u32> = (0x8000_0002..=0x8000_0004)
                .flat_map(|leaf| Features::cpuid(leaf, 0))
                .collect();
            cpuid_text(&words)
        } else {
            String::new()
        };
        cpuinfo_text(ncpus, &vendor, &model)
    }

    /// The target of a `/proc/PID/cwd` or `/proc/PID/exe` link:
    /// [`exe_target`], or the working directory (`ENOENT` once the
    /// process is gone).
    pub fn link_target(pid: u32, file: PidFile) -> Result<String, Errno> {
        match file {
            PidFile::Cwd => Ok(process(pid).ok_or(Errno::ENOENT)?.fs().cwd()),
            _ => exe_target(pid),
        }
    }

    /// The target of a `/proc/PID/fd/N` link: the open file's path, or
    /// Linux's names for files that have none (`pipe:[INO]`,
    /// `anon_inode:[...]`); `ENOENT` once the descriptor or the process
    /// is gone.
    pub fn fd_target(pid: u32, fd: u32) -> Result<String, Errno> {
        let file = process(pid)
            .ok_or(Errno::ENOENT)?
            .files()
            .get(u64::from(fd))
            .map_err(|_| Errno::ENOENT)?;
        if !file.path().is_empty() {
            return Ok(String::from(file.path()));
        }
        let stat = file.stat();
        Ok(
            if stat.mode & super::super::stat::S_IFMT == super::super::stat::S_IFIFO {
                format!("pipe:[{}]", stat.ino)
            } else {
                String::from("anon_inode:[tine]")
            },
        )
    }

    /// The target of a `/proc/PID/exe` link (`ENOENT` once the process is
    /// gone or if it never ran a program file).
    pub fn exe_target(pid: u32) -> Result<String, Errno> {
        let exe = process(pid).ok_or(Errno::ENOENT)?.exe();
        if exe.is_empty() {
            return Err(Errno::ENOENT);
        }
        Ok(exe)
    }

    /// For `execve`, which loads from the initramfs by path: if `path` is
    /// `/proc/self/exe` (`self` being `caller`) or `/proc/PID/exe`, the
    /// program file it links to.
    pub fn exe_link(path: &str, caller: Pid) -> Option<Result<String, Errno>> {
        let pid = path.strip_prefix("/proc/")?.strip_suffix("/exe")?;
        let pid = match pid {
            "self" => caller.as_u32(),
            pid if !pid.starts_with('0') => pid.parse().ok()?,
            _ => return None,
        };
        Some(exe_target(pid))
    }

    /// What `stat` and `status` show of `p`.
    fn view(p: &Process) -> ProcessView {
        let state = match p.state() {
            State::Zombie(_) => 'Z',
            State::Running if p.signals().is_stopped() => 'T',
            State::Running => 'S',
        };
        let stats = p.space().map(|s| s.stats());
        let creds = p.creds();
        let signals = p.signals();
        let ignored = signals.actions().lock().ignored().0;
        let caught = (1..=64u32)
            .filter_map(crate::proc::signal::Signal::new)
            .filter(|&sig| {
                matches!(
                    signals.action(sig).disposition(sig),
                    crate::proc::signal::Disposition::Catch(_)
                )
            })
            .fold(0u64, |mask, sig| mask | 1 << (sig.number() - 1));
        let tty = crate::fs::tty::console().foreground();
        ProcessView {
            pid: p.pid().as_u32(),
            ppid: p.ppid().as_u32(),
            pgid: p.pgid().as_u32(),
            sid: p.sid().as_u32(),
            name: p.name(),
            state,
            tty_nr: super::super::stat::makedev(5, 1) as u32,
            tpgid: tty,
            user_ns: p.user_ns(),
            vsize: stats.as_ref().map_or(0, |s| s.virtual_bytes),
            rss_pages: stats.as_ref().map_or(0, |s| s.resident_pages as u64),
            exit_signal: p.exit_signal().map_or(0, i32::from),
            processor: p.last_cpu().unwrap_or(0),
            nice: p.nice(),
            threads: p.threads().len(),
            groups: p.groups().map_or_else(Vec::new, |g| g.to_vec()),
            uids: [creds.uid, creds.euid, creds.suid],
            gids: [creds.gid, creds.egid, creds.sgid],
            umask: p.fs().umask(),
            pending: signals.pending().0,
            // Masks are per thread: the leader's, as Linux shows.
            blocked: p
                .thread(p.pid())
                .map_or(signals.blocked().0, |t| t.signals().blocked().0),
            ignored,
            caught,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> ProcessView {
        ProcessView {
            pid: 7,
            ppid: 1,
            pgid: 7,
            sid: 1,
            name: String::from("a-very-long-program-name"),
            state: 'S',
            tty_nr: 0x501,
            tpgid: 7,
            user_ns: 2_500_000_000,
            vsize: 8 << 20,
            rss_pages: 3,
            exit_signal: 17,
            processor: 2,
            nice: -3,
            threads: 3,
            groups: alloc::vec![5, 30],
            uids: [1000, 1000, 0],
            gids: [5, 5, 5],
            umask: 0o22,
            pending: 0,
            blocked: 1 << 9,
            ignored: 0,
            caught: 1 << 16,
        }
    }

    #[test]
    fn cpuinfo_has_a_block_per_cpu_and_cpuid_text_is_trimmed() {
        // "GenuineIntel" as CPUID leaf 0 gives it: EBX, EDX, ECX.
        let vendor = cpuid_text(&[0x756e_6547, 0x4965_6e69, 0x6c65_746e]);
        assert_eq!(vendor, "GenuineIntel");
        let brand = cpuid_text(&[0x2020_2020, 0x5520_5051, 0x0000_0000]);
        assert_eq!(brand, "QP U");
        let text = cpuinfo_text(2, &vendor, "Q");
        assert_eq!(text.matches("processor\t: ").count(), 2);
        assert!(text.starts_with("processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Q\n"));
        assert!(text.contains("processor\t: 1\n"));
        assert!(text.ends_with("\n\n"));
        assert!(MOUNTS.lines().all(|l| l.split(' ').count() == 6));
        assert!(
            MOUNTS
                .lines()
                .map(|l| l.split(' ').nth(1).unwrap())
                .eq(MOUNT_POINTS.iter().copied())
        );
        assert!(MOUNTS.contains("tmpfs /tmp tmpfs "));
    }

    #[test]
    fn stat_has_linux_fields_in_place() {
        let line = stat_line(&view());
        assert!(line.ends_with('\n'));
        assert!(
            line.starts_with("7 (a-very-long-pro) S 1 7 1 1281 7 "),
            "{line}"
        );
        let after_comm = line.rsplit_once(") ").unwrap().1;
        let fields: Vec<&str> = after_comm.split_whitespace().collect();
        // Fields are numbered from 1 (pid), 2 (comm), so field N is
        // fields[N - 3].
        assert_eq!(fields.len() + 2, 52);
        assert_eq!(fields[0], "S");
        assert_eq!(fields[14 - 3], "250", "utime in ticks");
        assert_eq!(fields[18 - 3], "17", "priority");
        assert_eq!(fields[19 - 3], "-3", "nice");
        assert_eq!(fields[20 - 3], "3", "num_threads");
        assert_eq!(fields[23 - 3], (8u64 << 20).to_string(), "vsize");
        assert_eq!(fields[24 - 3], "3", "rss");
        assert_eq!(fields[32 - 3], "512", "blocked");
        assert_eq!(fields[38 - 3], "17", "exit_signal");
        assert_eq!(fields[39 - 3], "2", "processor");
    }

    #[test]
    fn status_is_tab_separated_and_complete() {
        let text = status_text(&view());
        assert!(text.starts_with("Name:\ta-very-long-pro\nUmask:\t0022\nState:\tS (sleeping)\n"));
        assert!(text.contains("\nPid:\t7\nPPid:\t1\n"));
        assert!(text.contains("\nUid:\t1000\t1000\t0\t1000\n"));
        assert!(text.contains("\nSigBlk:\t0000000000000200\n"));
        assert!(text.contains("\nGroups:\t5 30 \nVmSize:"), "{text}");
        assert!(text.contains("\nThreads:\t3\n"));
        assert!(text.contains("\nVmRSS:\t      12 kB\n"));
    }

    #[test]
    fn small_files() {
        assert_eq!(cmdline_bytes([&b"sh"[..], b"-c", b""]), b"sh\0-c\0\0");
        let mem = meminfo_text(512 << 20, 100 << 20);
        assert!(
            mem.starts_with("MemTotal:         524288 kB\nMemFree:          102400 kB\n"),
            "{mem}"
        );
        assert!(mem.contains("\nSwapTotal:             0 kB\n"));
        assert_eq!(uptime_text(12_345_000_000, 5_009_000_000), "12.34 5.00\n");
        assert_eq!(loadavg_text(1, 5, 42), "0.00 0.00 0.00 1/5 42\n");
        let stat = stat_text(2, 300_000_000, 1_000_000_000, 1_700_000_000, 9, 1);
        assert!(
            stat.starts_with("cpu  30 0 0 100 0 0 0 0 0 0\ncpu0 15 0 0 50 "),
            "{stat}"
        );
        assert!(stat.contains("\nbtime 1700000000\nprocesses 9\nprocs_running 1\n"));
    }

    #[test]
    fn lookup_walks_the_tree() {
        let alive = |pid| pid == 7;
        let look = |path: &str| {
            ProcNode::lookup(
                path.split('/').filter(|c| !c.is_empty()),
                alive,
                |_, fd| fd < 3,
                |pid, tid| pid == 7 && (tid == 7 || tid == 9),
            )
        };
        assert_eq!(look(""), Some(Ok(ProcNode::Root)));
        assert_eq!(look("7"), Some(Ok(ProcNode::Dir(7))));
        assert_eq!(
            look("7/stat"),
            Some(Ok(ProcNode::PidFile(7, PidFile::Stat)))
        );
        assert_eq!(look("meminfo"), Some(Ok(ProcNode::Sys(SysFile::Meminfo))));
        assert_eq!(look("8"), None, "no such process");
        assert_eq!(look("07"), None);
        assert_eq!(look("7/nope"), None);
        assert_eq!(look("x"), None);
        assert_eq!(look("7/stat/x"), Some(Err(())));
        assert_eq!(look("uptime/x"), Some(Err(())));
        assert_eq!(look("7/fd/2"), Some(Ok(ProcNode::Fd(7, 2))));
        assert_eq!(look("7/fd/02"), None);
        assert_eq!(look("7/fd/3"), None);
        assert_eq!(look("7/task"), Some(Ok(ProcNode::TaskDir(7))));
        assert_eq!(look("7/task/9"), Some(Ok(ProcNode::Task(7, 9))));
        assert_eq!(
            look("7/task/9/comm"),
            Some(Ok(ProcNode::PidFile(7, PidFile::Comm)))
        );
        assert_eq!(look("7/task/9/fd/1"), Some(Ok(ProcNode::Fd(7, 1))));
        assert_eq!(look("7/task/8"), None, "no such thread");
        assert_eq!(look("7/task/0"), None);
        assert_eq!(look("7/task/09"), None);
        assert!(ProcNode::TaskDir(7).is_dir() && ProcNode::Task(7, 9).is_dir());
        assert_eq!(look("sys"), Some(Ok(ProcNode::SysDir(None))));
        assert_eq!(look("sys/vm"), Some(Ok(ProcNode::SysDir(Some(1)))));
        assert_eq!(
            look("sys/kernel/pid_max"),
            Some(Ok(ProcNode::Sysctl(Sysctl::PidMax)))
        );
        assert_eq!(look("sys/vm/pid_max"), None);
        assert_eq!(look("sys/net"), None);
        assert_eq!(look("sys/kernel/pid_max/x"), Some(Err(())));
        assert!(ProcNode::SysDir(None).is_dir() && !ProcNode::Sysctl(Sysctl::Ostype).is_dir());
        assert_ne!(ProcNode::Task(7, 9).ino(), ProcNode::Task(9, 7).ino());
        assert_ne!(
            ProcNode::Dir(7).ino(),
            ProcNode::PidFile(7, PidFile::Stat).ino()
        );
    }
}
