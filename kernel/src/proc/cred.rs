//! Credentials and resource limits of a process, as pure logic.
//!
//! - [`Creds`]: the real, effective and saved user and group ids. Every
//!   process starts as root (all zero) at boot; fork copies them; exec
//!   keeps them (no set-id files in the initramfs). [`Creds::setuid`] and
//!   [`Creds::setgid`] follow Linux (`kernel/sys.c`): an effective root
//!   sets all three ids, anyone else may set the effective id only to the
//!   real or saved one (`EPERM` otherwise).
//! - [`Rlimits`]: the 16 Linux resource limits (`RLIMIT_*`, Linux
//!   numbering), each a soft and a hard value, [`RLIM_INFINITY`] = `!0`.
//!   [`Rlimits::set`] is `setrlimit`'s rule: soft above hard is `EINVAL`,
//!   raising the hard limit needs root (`EPERM`). Fork copies them.
//!
//! `Process` (`super::process`) holds one of each behind a lock and
//! exposes `creds()` and `rlimit(resource)`; the system calls
//! (`syscall::misc`) read and change them. Host-tested.

use abi::Errno;

/// A user or group id.
pub type Id = u32;

/// The id of the superuser.
pub const ROOT: Id = 0;

/// A process's user and group ids.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Creds {
    /// Real user id.
    pub uid: Id,
    /// Effective user id (what permission checks use).
    pub euid: Id,
    /// Saved set-user-id.
    pub suid: Id,
    /// Real group id.
    pub gid: Id,
    /// Effective group id.
    pub egid: Id,
    /// Saved set-group-id.
    pub sgid: Id,
}

impl Creds {
    /// Root: every id 0 (what every process has at boot).
    pub const ROOT: Self = Self {
        uid: ROOT,
        euid: ROOT,
        suid: ROOT,
        gid: ROOT,
        egid: ROOT,
        sgid: ROOT,
    };

    /// Whether these ids may change a file owned by `(uid, gid)` to
    /// `new_uid` and `new_gid` (`None`: unchanged), as Linux's `chown_ok`
    /// and `chgrp_ok` allow without capabilities other than root's: the
    /// owner may give the file to its effective group (or keep it) and
    /// "change" the uid only to itself. Tine has no supplementary groups.
    pub const fn may_chown(
        &self,
        (uid, gid): (Id, Id),
        new_uid: Option<Id>,
        new_gid: Option<Id>,
    ) -> bool {
        if self.is_root() {
            return true;
        }
        let owner = self.euid == uid;
        if let Some(new) = new_uid
            && !(owner && new == uid)
        {
            return false;
        }
        if let Some(new) = new_gid
            && !(owner && (new == gid || new == self.egid))
        {
            return false;
        }
        true
    }

    /// Whether these ids may change the mode of a file owned by `uid`:
    /// its owner or root (Linux's `inode_owner_or_capable`).
    pub const fn may_chmod(&self, uid: Id) -> bool {
        self.is_root() || self.euid == uid
    }

    /// Whether permission checks treat the process as the superuser.
    pub const fn is_root(&self) -> bool {
        self.euid == ROOT
    }

    /// POSIX's permission to send a signal (`kill(2)`), by ids alone:
    /// root, or the sender's real or effective uid equals the target's
    /// real or saved uid (Linux's `kill_ok_by_cred`). The session rule for
    /// `SIGCONT` is `proc::signal::may_signal`'s.
    pub const fn may_signal(&self, target: &Creds) -> bool {
        self.is_root()
            || self.uid == target.uid
            || self.uid == target.suid
            || self.euid == target.uid
            || self.euid == target.suid
    }

    /// `setuid(uid)`: root sets the real, effective and saved ids; anyone
    /// else may set the effective id to the real or saved one. `EINVAL`
    /// for `-1` (not an id), `EPERM` otherwise.
    pub fn setuid(&mut self, uid: Id) -> Result<(), Errno> {
        if uid == Id::MAX {
            return Err(Errno::EINVAL);
        }
        if self.is_root() {
            (self.uid, self.euid, self.suid) = (uid, uid, uid);
        } else if uid == self.uid || uid == self.suid || uid == self.euid {
            self.euid = uid;
        } else {
            return Err(Errno::EPERM);
        }
        Ok(())
    }

    /// `setgid(gid)`: the same rule for the group ids (root means the
    /// effective *user* id 0, as `CAP_SETGID` is root's).
    pub fn setgid(&mut self, gid: Id) -> Result<(), Errno> {
        if gid == Id::MAX {
            return Err(Errno::EINVAL);
        }
        if self.is_root() {
            (self.gid, self.egid, self.sgid) = (gid, gid, gid);
        } else if gid == self.gid || gid == self.sgid || gid == self.egid {
            self.egid = gid;
        } else {
            return Err(Errno::EPERM);
        }
        Ok(())
    }
}

/// "No limit".
pub const RLIM_INFINITY: u64 = !0;

/// Resource numbers (Linux x86-64, `<asm-generic/resource.h>`).
pub mod resource {
    pub const CPU: u32 = 0;
    pub const FSIZE: u32 = 1;
    pub const DATA: u32 = 2;
    pub const STACK: u32 = 3;
    pub const CORE: u32 = 4;
    pub const RSS: u32 = 5;
    pub const NPROC: u32 = 6;
    pub const NOFILE: u32 = 7;
    pub const MEMLOCK: u32 = 8;
    pub const AS: u32 = 9;
    pub const LOCKS: u32 = 10;
    pub const SIGPENDING: u32 = 11;
    pub const MSGQUEUE: u32 = 12;
    pub const NICE: u32 = 13;
    pub const RTPRIO: u32 = 14;
    pub const RTTIME: u32 = 15;
    /// How many there are (`RLIM_NLIMITS`).
    pub const COUNT: usize = 16;
}

/// One limit: `struct rlimit { rlim_cur, rlim_max }`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rlimit {
    /// The soft limit (what is enforced).
    pub cur: u64,
    /// The hard limit (the ceiling for the soft one).
    pub max: u64,
}

impl Rlimit {
    /// No limit at all.
    pub const INFINITE: Self = Self {
        cur: RLIM_INFINITY,
        max: RLIM_INFINITY,
    };

    /// The 16-byte user layout.
    pub fn to_bytes(self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.cur.to_le_bytes());
        out[8..].copy_from_slice(&self.max.to_le_bytes());
        out
    }

    /// From the 16-byte user layout.
    pub fn from_bytes(raw: [u8; 16]) -> Self {
        let word = |i: usize| u64::from_le_bytes(raw[i..i + 8].try_into().expect("8 bytes"));
        Self {
            cur: word(0),
            max: word(8),
        }
    }
}

/// The limits of one process, indexed by resource number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rlimits([Rlimit; resource::COUNT]);

impl Rlimits {
    /// The limits of the first processes (Linux's defaults where they
    /// mean something here): an 8 MiB soft stack limit, no core files,
    /// 1024 (hard 4096) open files, `nproc` processes, 8 MiB of locked
    /// memory, 800 KiB of message queues, no nice or real-time priority
    /// raise; everything else unlimited.
    pub fn boot_defaults(nproc: u64) -> Self {
        use resource::*;
        let mut limits = [Rlimit::INFINITE; resource::COUNT];
        let mut set = |r: u32, cur: u64, max: u64| limits[r as usize] = Rlimit { cur, max };
        set(STACK, 8 << 20, RLIM_INFINITY);
        set(CORE, 0, RLIM_INFINITY);
        set(NPROC, nproc, nproc);
        // The descriptor table's fixed size, soft and hard: what a program
        // that sizes a loop by it can really use.
        let nofile = crate::fs::fdtable::NOFILE_MAX as u64;
        set(NOFILE, nofile, nofile);
        set(MEMLOCK, 8 << 20, 8 << 20);
        set(SIGPENDING, nproc, nproc);
        set(MSGQUEUE, 819_200, 819_200);
        set(NICE, 0, 0);
        set(RTPRIO, 0, 0);
        Self(limits)
    }

    /// The limit of `resource`; `EINVAL` for a number past the last.
    pub fn get(&self, resource: u32) -> Result<Rlimit, Errno> {
        self.0.get(resource as usize).copied().ok_or(Errno::EINVAL)
    }

    /// `setrlimit(resource, new)` by a process with `creds`: `EINVAL` for
    /// an unknown resource or a soft limit above the hard one, `EPERM`
    /// for a raise of the hard limit by a non-root process, or of
    /// `NOFILE`'s past the descriptor table's size (Linux's `nr_open`,
    /// for root too). Lowering is
    /// always allowed (and cannot be undone without root).
    pub fn set(&mut self, resource: u32, new: Rlimit, creds: &Creds) -> Result<(), Errno> {
        let slot = self.0.get_mut(resource as usize).ok_or(Errno::EINVAL)?;
        if new.cur > new.max {
            return Err(Errno::EINVAL);
        }
        if new.max > slot.max && !creds.is_root() {
            return Err(Errno::EPERM);
        }
        // Linux's `nr_open` ceiling: the descriptor table holds no more.
        if resource == resource::NOFILE && new.max > crate::fs::fdtable::NOFILE_MAX as u64 {
            return Err(Errno::EPERM);
        }
        *slot = new;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::resource::*;
    use super::*;

    #[test]
    fn chown_rules_are_linuxs() {
        let user = Creds {
            uid: 1000,
            euid: 1000,
            suid: 1000,
            gid: 100,
            egid: 100,
            sgid: 100,
        };
        let mine = (1000, 5);
        assert!(user.may_chown(mine, None, None));
        assert!(
            user.may_chown(mine, Some(1000), Some(100)),
            "own uid, own group"
        );
        assert!(user.may_chown(mine, None, Some(5)), "group kept");
        assert!(!user.may_chown(mine, Some(0), None), "giving a file away");
        assert!(!user.may_chown(mine, None, Some(7)), "a group it is not in");
        assert!(!user.may_chown((0, 0), None, Some(100)), "not the owner");
        assert!(user.may_chown((0, 0), None, None), "no change asked");
        assert!(Creds::ROOT.may_chown((1000, 5), Some(7), Some(8)));
        assert!(user.may_chmod(1000) && !user.may_chmod(0) && Creds::ROOT.may_chmod(1000));
    }

    fn user(uid: Id, gid: Id) -> Creds {
        Creds {
            uid,
            euid: uid,
            suid: uid,
            gid,
            egid: gid,
            sgid: gid,
        }
    }

    #[test]
    fn root_sets_all_three_ids() {
        let mut c = Creds::ROOT;
        assert!(c.is_root());
        c.setgid(50).unwrap();
        assert_eq!((c.gid, c.egid, c.sgid), (50, 50, 50));
        c.setuid(1000).unwrap();
        assert_eq!((c.uid, c.euid, c.suid), (1000, 1000, 1000));
        assert!(!c.is_root());
        // Root is gone for good: no way back.
        assert_eq!(c.setuid(0), Err(Errno::EPERM));
        assert_eq!(c.setgid(0), Err(Errno::EPERM));
    }

    #[test]
    fn a_user_may_only_pick_its_own_ids() {
        let mut c = user(1000, 100);
        c.euid = 1001; // as after a set-user-id exec
        c.setuid(1000).unwrap();
        assert_eq!((c.uid, c.euid, c.suid), (1000, 1000, 1000));
        c.suid = 1002;
        c.setuid(1002).unwrap();
        assert_eq!((c.uid, c.euid, c.suid), (1000, 1002, 1002));
        assert_eq!(c.setuid(7), Err(Errno::EPERM));
        c.setgid(100).unwrap();
        assert_eq!(c.setgid(101), Err(Errno::EPERM));
        assert_eq!(c.setuid(u32::MAX), Err(Errno::EINVAL));
        let mut root = Creds::ROOT;
        assert_eq!(root.setgid(u32::MAX), Err(Errno::EINVAL));
    }

    #[test]
    fn defaults_are_linuxs() {
        let l = Rlimits::boot_defaults(1000);
        assert_eq!(
            l.get(STACK).unwrap(),
            Rlimit {
                cur: 8 << 20,
                max: RLIM_INFINITY
            }
        );
        assert_eq!(l.get(NPROC).unwrap().cur, 1000);
        assert_eq!(
            l.get(NOFILE).unwrap(),
            Rlimit {
                cur: 1024,
                max: 1024
            }
        );
        assert_eq!(l.get(AS).unwrap(), Rlimit::INFINITE);
        assert_eq!(l.get(RTTIME).unwrap(), Rlimit::INFINITE);
        assert_eq!(l.get(16), Err(Errno::EINVAL));
    }

    #[test]
    fn setrlimit_rules() {
        let root = Creds::ROOT;
        let joe = user(1000, 1000);
        let mut l = Rlimits::boot_defaults(1000);
        let lim = |cur, max| Rlimit { cur, max };
        assert_eq!(l.set(NOFILE, lim(10, 5), &root), Err(Errno::EINVAL));
        assert_eq!(l.set(99, lim(1, 1), &root), Err(Errno::EINVAL));
        // A user lowers both, raises the soft one up to the hard one...
        l.set(NOFILE, lim(100, 200), &joe).unwrap();
        l.set(NOFILE, lim(200, 200), &joe).unwrap();
        // ... but not the hard one.
        assert_eq!(l.set(NOFILE, lim(10, 201), &joe), Err(Errno::EPERM));
        assert_eq!(l.get(NOFILE).unwrap(), lim(200, 200));
        // Root may, up to the descriptor table's size.
        l.set(NOFILE, lim(10, 1024), &root).unwrap();
        assert_eq!(l.get(NOFILE).unwrap(), lim(10, 1024));
        assert_eq!(l.set(NOFILE, lim(10, 1025), &root), Err(Errno::EPERM));
        l.set(STACK, lim(1 << 20, 1 << 40), &root).unwrap();
        l.set(CORE, Rlimit::INFINITE, &root).unwrap();
        assert_eq!(l.get(CORE).unwrap(), Rlimit::INFINITE);
    }

    #[test]
    fn rlimit_bytes_round_trip() {
        let r = Rlimit {
            cur: 0x1122,
            max: RLIM_INFINITY,
        };
        assert_eq!(Rlimit::from_bytes(r.to_bytes()), r);
        assert_eq!(r.to_bytes()[..2], [0x22, 0x11]);
    }

    #[test]
    fn signal_permission_by_ids() {
        let user = |uid, euid, suid| Creds {
            uid,
            euid,
            suid,
            ..Creds::ROOT
        };
        let target = user(1001, 1002, 1003);
        assert!(Creds::ROOT.may_signal(&target), "root");
        assert!(user(1001, 7, 7).may_signal(&target), "real = real");
        assert!(user(1003, 7, 7).may_signal(&target), "real = saved");
        assert!(user(7, 1001, 7).may_signal(&target), "effective = real");
        assert!(user(7, 1003, 7).may_signal(&target), "effective = saved");
        assert!(
            !user(7, 1002, 1001).may_signal(&target),
            "effective ids and the sender's saved id do not count"
        );
        assert!(!user(1002, 7, 7).may_signal(&target));
        assert!(
            !user(0, 7, 0).may_signal(&target),
            "a real uid of 0 is not root"
        );
        assert!(!target.may_signal(&Creds::ROOT));
    }
}
