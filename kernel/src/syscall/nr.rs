//! System call numbers: Linux x86-64's, for the calls Tine implements or
//! names so far (`docs/syscalls.md` has the table with each one's status).
//! Every other number returns `ENOSYS`.

pub const READ: u64 = 0;
pub const WRITE: u64 = 1;
pub const CLOSE: u64 = 3;
pub const MMAP: u64 = 9;
pub const MUNMAP: u64 = 11;
pub const BRK: u64 = 12;
pub const WRITEV: u64 = 20;
pub const SCHED_YIELD: u64 = 24;
pub const GETPID: u64 = 39;
pub const CLONE: u64 = 56;
pub const FORK: u64 = 57;
pub const VFORK: u64 = 58;
pub const EXECVE: u64 = 59;
pub const EXIT: u64 = 60;
pub const WAIT4: u64 = 61;
pub const KILL: u64 = 62;
pub const UNAME: u64 = 63;
pub const GETPPID: u64 = 110;
pub const ARCH_PRCTL: u64 = 158;
pub const GETTID: u64 = 186;
pub const EXIT_GROUP: u64 = 231;
pub const GETCPU: u64 = 309;

/// The name of system call `nr`, for the ones Tine knows.
pub const fn name(nr: u64) -> Option<&'static str> {
    Some(match nr {
        READ => "read",
        WRITE => "write",
        CLOSE => "close",
        MMAP => "mmap",
        MUNMAP => "munmap",
        BRK => "brk",
        WRITEV => "writev",
        SCHED_YIELD => "sched_yield",
        GETPID => "getpid",
        CLONE => "clone",
        FORK => "fork",
        VFORK => "vfork",
        EXECVE => "execve",
        EXIT => "exit",
        WAIT4 => "wait4",
        KILL => "kill",
        UNAME => "uname",
        GETPPID => "getppid",
        ARCH_PRCTL => "arch_prctl",
        GETTID => "gettid",
        EXIT_GROUP => "exit_group",
        GETCPU => "getcpu",
        _ => return None,
    })
}

/// `arch_prctl` codes.
pub mod arch_prctl {
    pub const SET_GS: u64 = 0x1001;
    pub const SET_FS: u64 = 0x1002;
    pub const GET_FS: u64 = 0x1003;
    pub const GET_GS: u64 = 0x1004;
}

/// `wait4` options.
pub mod wait {
    pub const WNOHANG: u32 = 0x1;
    pub const WUNTRACED: u32 = 0x2;
    pub const WCONTINUED: u32 = 0x8;
    pub const WNOTHREAD: u32 = 0x2000_0000;
    pub const WALL: u32 = 0x4000_0000;
    pub const WCLONE: u32 = 0x8000_0000;
}

/// `mmap` flags.
pub mod map {
    pub const SHARED: u64 = 0x01;
    pub const PRIVATE: u64 = 0x02;
    pub const FIXED: u64 = 0x10;
    pub const ANONYMOUS: u64 = 0x20;
    pub const FIXED_NOREPLACE: u64 = 0x10_0000;
}

#[cfg(test)]
mod tests {
    #[test]
    fn names() {
        assert_eq!(super::name(231), Some("exit_group"));
        assert_eq!(super::name(1), Some("write"));
        assert_eq!(super::name(9999), None);
    }
}
