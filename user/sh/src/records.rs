//! The records of Tine's information calls, decoded from the bytes the
//! kernel writes (little-endian, fixed sizes; the kernel side is
//! `kernel/src/syscall/tine.rs`, the table is in `docs/syscalls.md`).

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::String;
use alloc::vec::Vec;

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

/// One process of `TINE_PROCLIST` (1007): 56 bytes,
/// `{u32 pid, u32 ppid, u32 pgid, u32 sid, u8 state, u8 pad,
/// u16 threads, i32 last_cpu, u8 name[32]}` (name NUL-padded; `last_cpu`
/// -1 before the first run; `threads` the live threads, 0 for a zombie).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcRecord {
    pub pid: u32,
    pub ppid: u32,
    pub pgid: u32,
    pub sid: u32,
    /// `R` running or runnable, `S` sleeping in a system call, `T`
    /// stopped, `Z` zombie.
    pub state: char,
    /// Live threads (0 for a zombie).
    pub threads: u16,
    pub cpu: i32,
    pub name: String,
}

impl ProcRecord {
    pub const SIZE: usize = 56;

    pub fn decode(b: &[u8]) -> Self {
        let name = &b[24..56];
        let end = name.iter().position(|&c| c == 0).unwrap_or(name.len());
        Self {
            pid: u32_at(b, 0),
            ppid: u32_at(b, 4),
            pgid: u32_at(b, 8),
            sid: u32_at(b, 12),
            state: char::from(b[16]),
            threads: u16::from_le_bytes([b[18], b[19]]),
            cpu: u32_at(b, 20) as i32,
            name: String::from_utf8_lossy(&name[..end]).into_owned(),
        }
    }

    /// Every whole record of `bytes`.
    pub fn decode_all(bytes: &[u8]) -> Vec<Self> {
        bytes.chunks_exact(Self::SIZE).map(Self::decode).collect()
    }
}

/// One thread of `TINE_THREADLIST` (1014): 48 bytes, `{u32 pid,
/// u32 tid, u8 state, u8 pad[3], i32 last_cpu, u8 name[32]}` (the
/// process's name, NUL-padded; `last_cpu` -1 before it ran).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadRecord {
    pub pid: u32,
    pub tid: u32,
    /// `R` running or runnable, `S` blocked, `T` stopped.
    pub state: char,
    pub cpu: i32,
    pub name: String,
}

impl ThreadRecord {
    pub const SIZE: usize = 48;

    pub fn decode(b: &[u8]) -> Self {
        let name = &b[16..48];
        let end = name.iter().position(|&c| c == 0).unwrap_or(name.len());
        Self {
            pid: u32_at(b, 0),
            tid: u32_at(b, 4),
            state: char::from(b[8]),
            cpu: u32_at(b, 12) as i32,
            name: String::from_utf8_lossy(&name[..end]).into_owned(),
        }
    }

    /// Every whole record of `bytes`.
    pub fn decode_all(bytes: &[u8]) -> Vec<Self> {
        bytes.chunks_exact(Self::SIZE).map(Self::decode).collect()
    }
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
                        t.state,
                        cpu(t.cpu),
                        ts.len(),
                        t.name
                    );
                }
            }
            None => {
                out += &alloc::format!(
                    "{:>5} {:>5} {} {:>3} {:>3} {}\n",
                    p.pid,
                    p.pid,
                    p.state,
                    cpu(p.cpu),
                    p.threads,
                    p.name
                );
            }
        }
    }
    out
}

/// One CPU of `TINE_CPUINFO` (1008): 64 bytes, `{u32 cpu, u32 apic,
/// u64 polls, u64 spawned, u64 completed, u64 stolen, u64 ipis,
/// u32 queued, u32 live, u32 idle, u32 pad}`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuRecord {
    pub cpu: u32,
    pub apic: u32,
    /// Task polls run on this CPU (user threads run inside polls).
    pub polls: u64,
    pub spawned: u64,
    pub completed: u64,
    pub stolen: u64,
    pub ipis: u64,
    /// Tasks in its run queues now.
    pub queued: u32,
    /// Live tasks whose home is this CPU.
    pub live: u32,
    /// 1 when the CPU is halted.
    pub idle: bool,
}

impl CpuRecord {
    pub const SIZE: usize = 64;

    pub fn decode(b: &[u8]) -> Self {
        Self {
            cpu: u32_at(b, 0),
            apic: u32_at(b, 4),
            polls: u64_at(b, 8),
            spawned: u64_at(b, 16),
            completed: u64_at(b, 24),
            stolen: u64_at(b, 32),
            ipis: u64_at(b, 40),
            queued: u32_at(b, 48),
            live: u32_at(b, 52),
            idle: u32_at(b, 56) != 0,
        }
    }

    pub fn decode_all(bytes: &[u8]) -> Vec<Self> {
        bytes.chunks_exact(Self::SIZE).map(Self::decode).collect()
    }
}

/// `TINE_MEMINFO` (1009): 48 bytes, six u64s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemRecord {
    pub frames_total: u64,
    pub frames_free: u64,
    pub frames_used: u64,
    pub heap_allocated: u64,
    pub heap_allocations: u64,
    pub heap_claimed: u64,
    /// The breakdown (docs/memory.md): process records and their bytes,
    /// tasks and their bytes, user page-table pages, descriptor tables
    /// and their bytes.
    pub processes: u64,
    pub process_bytes: u64,
    pub tasks: u64,
    pub task_bytes: u64,
    pub table_pages: u64,
    pub fd_tables: u64,
    pub fd_bytes: u64,
}

impl MemRecord {
    pub const SIZE: usize = 104;

    pub fn decode(b: &[u8]) -> Self {
        Self {
            frames_total: u64_at(b, 0),
            frames_free: u64_at(b, 8),
            frames_used: u64_at(b, 16),
            heap_allocated: u64_at(b, 24),
            heap_allocations: u64_at(b, 32),
            heap_claimed: u64_at(b, 40),
            processes: u64_at(b, 48),
            process_bytes: u64_at(b, 56),
            tasks: u64_at(b, 64),
            task_bytes: u64_at(b, 72),
            table_pages: u64_at(b, 80),
            fd_tables: u64_at(b, 88),
            fd_bytes: u64_at(b, 96),
        }
    }
}

/// `TINE_VMSTAT` (1012): the caller's page-fault counters, 32 bytes,
/// four u64s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VmRecord {
    /// Write faults that copied a shared page.
    pub cow_copies: u64,
    /// Write faults on a page no one else shared any more (made writable
    /// in place).
    pub cow_reuses: u64,
    /// First touches filled with a zeroed frame.
    pub zero_fills: u64,
    /// Every fault resolved.
    pub faults: u64,
}

impl VmRecord {
    pub const SIZE: usize = 32;

    pub fn decode(b: &[u8]) -> Self {
        Self {
            cow_copies: u64_at(b, 0),
            cow_reuses: u64_at(b, 8),
            zero_fills: u64_at(b, 16),
            faults: u64_at(b, 24),
        }
    }

    /// The counts from `earlier` to `self`.
    pub fn since(&self, earlier: &Self) -> Self {
        Self {
            cow_copies: self.cow_copies.wrapping_sub(earlier.cow_copies),
            cow_reuses: self.cow_reuses.wrapping_sub(earlier.cow_reuses),
            zero_fills: self.zero_fills.wrapping_sub(earlier.zero_fills),
            faults: self.faults.wrapping_sub(earlier.faults),
        }
    }
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
    out.push_str(&alloc::format!("{}({})", p.name, p.pid));
    if p.state == 'Z' {
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

    fn proc_bytes(pid: u32, ppid: u32, state: u8, cpu: i32, name: &str) -> Vec<u8> {
        let mut b = Vec::new();
        for v in [pid, ppid, pid, 1] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(&[state, 0, 0, 0]);
        b.extend_from_slice(&cpu.to_le_bytes());
        let mut n = [0u8; 32];
        n[..name.len()].copy_from_slice(name.as_bytes());
        b.extend_from_slice(&n);
        b
    }

    #[test]
    fn proc_records() {
        let mut bytes = proc_bytes(1, 0, b'S', 0, "init");
        bytes.extend(proc_bytes(
            7,
            1,
            b'R',
            -1,
            "a-name-of-exactly-32-bytes-long!",
        ));
        bytes.extend_from_slice(&[1, 2, 3]); // a partial record is ignored
        let v = ProcRecord::decode_all(&bytes);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].name, "init");
        assert_eq!(v[0].state, 'S');
        assert_eq!(v[1].pid, 7);
        assert_eq!(v[1].pgid, 7);
        assert_eq!(v[1].cpu, -1);
        assert_eq!(v[1].name.len(), 32);
    }

    #[test]
    fn cpu_mem_vm_records() {
        let mut b = Vec::new();
        for v in [3u32, 6] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        for v in [100u64, 5, 4, 2, 9] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        for v in [1u32, 3, 1, 0] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        let c = CpuRecord::decode_all(&b);
        assert_eq!(c.len(), 1);
        assert_eq!((c[0].cpu, c[0].apic, c[0].polls, c[0].ipis), (3, 6, 100, 9));
        assert_eq!((c[0].queued, c[0].live, c[0].idle), (1, 3, true));

        let m: Vec<u8> = [10u64, 4, 6, 1, 2, 3, 7, 8, 9, 11, 12, 13, 14]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let m = MemRecord::decode(&m);
        assert_eq!((m.frames_total, m.frames_free, m.frames_used), (10, 4, 6));
        assert_eq!(m.heap_claimed, 3);
        assert_eq!((m.processes, m.process_bytes), (7, 8));
        assert_eq!((m.tasks, m.task_bytes, m.table_pages), (9, 11, 12));
        assert_eq!((m.fd_tables, m.fd_bytes), (13, 14));

        let a = VmRecord::decode(
            &[1u64, 2, 3, 6]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect::<Vec<_>>(),
        );
        let b = VmRecord::decode(
            &[4u64, 2, 5, 11]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect::<Vec<_>>(),
        );
        let d = b.since(&a);
        assert_eq!(
            (d.cow_copies, d.cow_reuses, d.zero_fills, d.faults),
            (3, 0, 2, 5)
        );
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
        let mut b = [0u8; 2 * ThreadRecord::SIZE];
        for (i, (tid, state, cpu)) in [(7u32, b'S', 1i32), (9, b'R', -1)].into_iter().enumerate() {
            let r = &mut b[i * ThreadRecord::SIZE..];
            r[0..4].copy_from_slice(&7u32.to_le_bytes());
            r[4..8].copy_from_slice(&tid.to_le_bytes());
            r[8] = state;
            r[12..16].copy_from_slice(&(cpu as u32).to_le_bytes());
            r[16..23].copy_from_slice(b"threads");
        }
        let threads = ThreadRecord::decode_all(&b);
        assert_eq!(
            threads[1],
            ThreadRecord {
                pid: 7,
                tid: 9,
                state: 'R',
                cpu: -1,
                name: "threads".into()
            }
        );
        let proc = |pid, state, threads| ProcRecord {
            pid,
            ppid: 1,
            pgid: pid,
            sid: 1,
            state,
            threads,
            cpu: 0,
            name: "p".into(),
        };
        let out = ps_threads(&[proc(7, 'S', 2), proc(8, 'Z', 0)], &threads);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "  PID  SPID S CPU THR COMMAND");
        assert_eq!(lines[1], "    7     7 S   1   2 threads");
        assert_eq!(lines[2], "    7     9 R   -   2 threads");
        assert_eq!(lines[3], "    8     8 Z   0   0 p");
        assert_eq!(lines.len(), 4);
    }

    #[test]
    fn pstree_draws_the_hierarchy() {
        let p = |pid, ppid, name: &str| ProcRecord {
            pid,
            ppid,
            pgid: pid,
            sid: 1,
            state: 'S',
            threads: 1,
            cpu: 0,
            name: name.into(),
        };
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
