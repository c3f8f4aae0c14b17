//! What the shell makes of the records of Tine's information calls: the
//! records themselves (layouts, decoding) are the `abi` crate's
//! (`abi::record`), shared with the kernel that writes them; here are
//! `ps -T`'s and `pstree`'s drawings and the `trace` view of fork events.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::String;
use alloc::vec::Vec;

pub use abi::record::{CpuRecord, MemRecord, ProcRecord, ThreadRecord, VmRecord, name_str};

/// Every whole record of `bytes`, each `size` bytes, read by `from`.
pub fn decode_all<R>(bytes: &[u8], size: usize, from: fn(&[u8]) -> Option<R>) -> Vec<R> {
    bytes.chunks_exact(size).filter_map(from).collect()
}

/// `ps -T`'s lines: one per thread (`PID SPID S CPU THR COMMAND`, the
/// process's thread count on each), a zombie as one line with its PID;
/// threads of a process that was not in `procs` (it started between the
/// two calls) are left out.
pub fn ps_threads(procs: &[ProcRecord], threads: &[ThreadRecord]) -> String {
    let mut by_pid: BTreeMap<u32, Vec<&ThreadRecord>> = BTreeMap::new();
    for t in threads {
        by_pid.entry(t.pid).or_default().push(t);
    }
    let cpu = |c: i32| {
        if c < 0 {
            String::from("-")
        } else {
            alloc::format!("{c}")
        }
    };
    let mut out = String::from("  PID  SPID S CPU THR COMMAND\n");
    for p in procs {
        match by_pid.get(&p.pid) {
            Some(ts) => {
                for t in ts {
                    out += &alloc::format!(
                        "{:>5} {:>5} {} {:>3} {:>3} {}\n",
                        p.pid,
                        t.tid,
                        char::from(t.state),
                        cpu(t.cpu),
                        ts.len(),
                        name_str(&t.name)
                    );
                }
            }
            None => {
                out += &alloc::format!(
                    "{:>5} {:>5} {} {:>3} {:>3} {}\n",
                    p.pid,
                    p.pid,
                    char::from(p.state),
                    cpu(p.cpu),
                    p.threads,
                    name_str(&p.name)
                );
            }
        }
    }
    out
}

/// What a fork event says happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Fork,
    Vfork,
    VforkDone,
    Exec,
    Exit,
    Other(u32),
}

/// One `TINE_FORKEVENTS` (1010) record: 24 bytes, `{u32 kind, u32 flags,
/// u32 pid, u32 other (child pid for fork/vfork, wait status for exit),
/// u64 time_ns}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ForkEvent {
    pub kind: EventKind,
    pub flags: u32,
    pub pid: u32,
    pub other: u32,
    pub time_ns: u64,
}

impl ForkEvent {
    pub const SIZE: usize = abi::record::ForkEvent::SIZE;

    pub fn decode(b: &[u8]) -> Self {
        use abi::record::{self, EventKind as Kind};
        let (kind, flags, pid, other, time_ns) =
            record::ForkEvent::fields(b).unwrap_or((0, 0, 0, 0, 0));
        let kind = match Kind::from_u32(kind) {
            Some(Kind::Fork) => EventKind::Fork,
            Some(Kind::Vfork) => EventKind::Vfork,
            Some(Kind::VforkDone) => EventKind::VforkDone,
            Some(Kind::Exec) => EventKind::Exec,
            Some(Kind::Exit) => EventKind::Exit,
            None => EventKind::Other(kind),
        };
        Self {
            kind,
            flags,
            pid,
            other,
            time_ns,
        }
    }

    /// One line for `trace`: `12.345678 fork 5 -> 7 flags 0x14`.
    pub fn line(&self) -> String {
        let t = alloc::format!(
            "{:>5}.{:06}",
            self.time_ns / 1_000_000_000,
            self.time_ns / 1000 % 1_000_000
        );
        match self.kind {
            EventKind::Fork | EventKind::Vfork => alloc::format!(
                "{t} {} {} -> {} flags {}",
                if self.kind == EventKind::Fork {
                    "fork"
                } else {
                    "vfork"
                },
                self.pid,
                self.other,
                crate::rflags::describe(self.flags)
            ),
            EventKind::VforkDone => {
                alloc::format!("{t} vfork-done {} (child {})", self.pid, self.other)
            }
            EventKind::Exec => alloc::format!("{t} exec {}", self.pid),
            EventKind::Exit => alloc::format!(
                "{t} exit {} ({})",
                self.pid,
                crate::wstatus::WaitStatus::decode(self.other as i32)
            ),
            EventKind::Other(k) => {
                alloc::format!("{t} event {k} pid {} other {}", self.pid, self.other)
            }
        }
    }
}

/// `pstree`: each process under its parent, children by pid, drawn with
/// `|-` and `` `- ``; processes whose parent is not listed are roots.
/// O(n log n): the children of each pid are gathered once.
pub fn pstree(procs: &[ProcRecord]) -> String {
    let mut out = String::new();
    let pids: BTreeSet<u32> = procs.iter().map(|p| p.pid).collect();
    let mut children: BTreeMap<u32, Vec<&ProcRecord>> = BTreeMap::new();
    let mut roots: Vec<&ProcRecord> = Vec::new();
    for p in procs {
        if p.ppid == p.pid || !pids.contains(&p.ppid) {
            roots.push(p);
        } else {
            children.entry(p.ppid).or_default().push(p);
        }
    }
    for list in children.values_mut() {
        list.sort_by_key(|c| c.pid);
    }
    roots.sort_by_key(|p| p.pid);
    for root in roots {
        draw(&children, root, "", None, &mut out, 0);
    }
    out
}

/// Draws `p` (after `prefix` and its branch, `last` = the last sibling;
/// `None` for a root) and its children below it.
fn draw(
    children: &BTreeMap<u32, Vec<&ProcRecord>>,
    p: &ProcRecord,
    prefix: &str,
    last: Option<bool>,
    out: &mut String,
    depth: usize,
) {
    out.push_str(prefix);
    match last {
        Some(true) => out.push_str("`- "),
        Some(false) => out.push_str("|- "),
        None => {}
    }
    out.push_str(&alloc::format!("{}({})", name_str(&p.name), p.pid));
    if p.state == b'Z' {
        out.push_str(" <zombie>");
    }
    out.push('\n');
    if depth > 64 {
        return;
    }
    let Some(mine) = children.get(&p.pid) else {
        return;
    };
    let child_prefix = match last {
        None => String::from(prefix),
        Some(true) => alloc::format!("{prefix}   "),
        Some(false) => alloc::format!("{prefix}|  "),
    };
    let n = mine.len();
    for (i, c) in mine.iter().enumerate() {
        draw(children, c, &child_prefix, Some(i + 1 == n), out, depth + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proc(pid: u32, ppid: u32, state: u8, threads: u16, name: &str) -> ProcRecord {
        ProcRecord {
            pid,
            ppid,
            pgid: pid,
            sid: 1,
            state,
            threads,
            cpu: 0,
            name: abi::record::name(name),
        }
    }

    #[test]
    fn decode_all_takes_whole_records() {
        let mut bytes = proc(1, 0, b'S', 1, "init").to_bytes().to_vec();
        bytes.extend(proc(7, 1, b'R', 1, "a-name-of-exactly-32-bytes-long!").to_bytes());
        bytes.extend_from_slice(&[1, 2, 3]); // a partial record is ignored
        let v = decode_all(&bytes, ProcRecord::SIZE, ProcRecord::from_bytes);
        assert_eq!(v.len(), 2);
        assert_eq!(name_str(&v[0].name), "init");
        assert_eq!(v[0].state, b'S');
        assert_eq!(v[1].pid, 7);
        assert_eq!(name_str(&v[1].name).len(), 32);
    }

    #[test]
    fn fork_events() {
        let mut b = Vec::new();
        for v in [1u32, 0x14, 5, 7] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(&1_500_000_000u64.to_le_bytes());
        let e = ForkEvent::decode(&b);
        assert_eq!(e.kind, EventKind::Fork);
        assert_eq!(e.line(), "    1.500000 fork 5 -> 7 flags RFFDG|RFPROC");
        let mut b2 = b.clone();
        b2[0] = 5;
        b2[12..16].copy_from_slice(&(3u32 << 8).to_le_bytes());
        assert_eq!(
            ForkEvent::decode(&b2).line(),
            "    1.500000 exit 5 (exit 3)"
        );
    }

    #[test]
    fn ps_threads_lists_each_thread() {
        let thread = |tid, state, cpu| ThreadRecord {
            pid: 7,
            tid,
            state,
            cpu,
            name: abi::record::name("threads"),
        };
        let threads = [thread(7, b'S', 1), thread(9, b'R', -1)];
        let out = ps_threads(
            &[proc(7, 1, b'S', 2, "p"), proc(8, 1, b'Z', 0, "p")],
            &threads,
        );
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "  PID  SPID S CPU THR COMMAND");
        assert_eq!(lines[1], "    7     7 S   1   2 threads");
        assert_eq!(lines[2], "    7     9 R   -   2 threads");
        assert_eq!(lines[3], "    8     8 Z   0   0 p");
        assert_eq!(lines.len(), 4);
    }

    #[test]
    fn pstree_draws_the_hierarchy() {
        let p = |pid, ppid, name: &str| proc(pid, ppid, b'S', 1, name);
        let procs = [
            p(3, 2, "sleep"),
            p(1, 0, "init"),
            p(2, 1, "sh"),
            p(4, 2, "cat"),
            p(5, 1, "orphan"),
            p(6, 4, "x"),
        ];
        assert_eq!(
            pstree(&procs),
            "init(1)\n|- sh(2)\n|  |- sleep(3)\n|  `- cat(4)\n|     `- x(6)\n`- orphan(5)\n"
        );
        assert_eq!(pstree(&[]), "");
        // Many children of one parent (each looked up once, not a scan
        // per child).
        let many: Vec<ProcRecord> = core::iter::once(p(1, 0, "init"))
            .chain((2..50_002).map(|pid| p(pid, 1, "child")))
            .collect();
        let tree = pstree(&many);
        assert_eq!(tree.lines().count(), 50_001);
        assert!(
            tree.ends_with("`- child(50001)\n"),
            "the last child ends the tree"
        );
    }
}
