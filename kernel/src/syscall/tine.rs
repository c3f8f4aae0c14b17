//! Tine's information calls: what the user shell's `ps`, `pstree`, `cpus`,
//! `mem`, `cow` and `bench` show.
//!
//! | call | number | arguments | returns |
//! |---|---|---|---|
//! | `proclist` | 1007 | `buf, len` | the number of processes; fills `min(len / 56, count)` [`PROC_RECORD`]s |
//! | `cpuinfo` | 1008 | `buf, len` | the number of CPUs; fills `min(len / 64, count)` [`CPU_RECORD`]s |
//! | `meminfo` | 1009 | `buf, len` | up to 104: one [`MEM_RECORD`] (`len` must hold its first 48 bytes) |
//! | `kbench` | 1011 | `names, len` | 0 after the benchmarks ran (comma-separated names, empty = all; output on the console) |
//! | `vmstat` | 1012 | `buf, len` | 32: the caller's [`VM_RECORD`] (`len` must hold it) |
//! | `threadlist` | 1014 | `buf, len` | the number of live threads; fills `min(len / 48, count)` [`THREAD_RECORD`]s |
//!
//! Records are little-endian with fixed layouts (below; the shell decodes
//! them in `user/sh/src/records.rs`). A list call with `len` 0 writes
//! nothing and returns the count, so a caller can size its buffer; a count
//! above what fitted means "call again with more room". A buffer outside
//! user space, or a record that lands on an unmapped page, is `EFAULT`; a
//! single record that does not fit `len` is `EINVAL`.

use alloc::string::String;
use alloc::vec::Vec;

use crate::proc::process::{self, State};
use crate::vm::space::AddressSpace;
use abi::{Errno, SysResult};

/// `proclist` record, 56 bytes: `{u32 pid, u32 ppid, u32 pgid, u32 sid,
/// u8 state ('R' queued or running, 'S' every thread blocked, 'T' stopped,
/// 'Z' zombie), u8 pad, u16 threads
/// (live threads, at most 65535; 0 for a zombie), i32 last_cpu (-1: never
/// ran), u8 name[32] (NUL-padded, cut at 32)}`.
pub const PROC_RECORD: usize = 56;
/// `threadlist` record, 48 bytes: `{u32 pid, u32 tid, u8 state ('R'
/// queued or running, 'S' blocked, 'T' its process stopped), u8 pad[3],
/// i32 last_cpu (-1: never ran user code), u8 name[32] (the process's,
/// NUL-padded)}`, by PID, then in the process's thread order (the leader
/// first). Zombies have no threads.
pub const THREAD_RECORD: usize = 48;
/// `cpuinfo` record, 64 bytes: `{u32 cpu, u32 apic, u64 polls,
/// u64 spawned, u64 completed, u64 stolen, u64 ipis, u32 queued,
/// u32 live, u32 idle (1: halted), u32 pad}` (`task::CpuStats`).
pub const CPU_RECORD: usize = 64;
/// `meminfo` record, 104 bytes: `{u64 frames_total, u64 frames_free,
/// u64 frames_used, u64 heap_allocated_bytes, u64 heap_allocations,
/// u64 heap_claimed_bytes, u64 processes, u64 process_bytes, u64 tasks,
/// u64 task_bytes, u64 page_table_pages, u64 fd_tables, u64 fd_bytes}`
/// (`memstat::MemStat`).
pub const MEM_RECORD: usize = 104;
/// The shortest buffer `meminfo` fills (the record's first six fields).
pub const MEM_RECORD_MIN: usize = 48;
/// `vmstat` record, 32 bytes: `{u64 cow_copies, u64 cow_reuses,
/// u64 zero_fills, u64 faults}` of the caller's address space
/// (`vm::space::FaultStats`).
pub const VM_RECORD: usize = 32;
/// Longest benchmark name list `kbench` takes.
const KBENCH_NAMES_MAX: u64 = 4096;

/// The benchmark runner `kbench` uses, set once at boot.
/// Runs benchmarks by name (comma list, "" = all), printing as it goes;
/// resolves to the number that failed. Provided by the image, which links
/// the `bench` crate (the kernel shell's `bench` and `tine_kbench` use it).
pub type BenchRunner = fn(
    alloc::string::String,
) -> core::pin::Pin<alloc::boxed::Box<dyn Future<Output = usize> + Send>>;

static BENCH: spin::Once<BenchRunner> = spin::Once::new();

/// Gives `kbench` the image's benchmark runner (called by `init::start`).
pub fn set_bench_runner(bench: BenchRunner) {
    BENCH.call_once(|| bench);
}

/// A record under construction.
struct Record(Vec<u8>);

impl Record {
    fn new(size: usize) -> Self {
        Self(Vec::with_capacity(size))
    }
    fn u32(mut self, v: u32) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn u64(mut self, v: u64) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn bytes(mut self, b: &[u8]) -> Self {
        self.0.extend_from_slice(b);
        self
    }
}

/// The `proclist` record of one process.
fn proc_record(p: &process::ProcInfo) -> Vec<u8> {
    let pid = p.pid.as_u32();
    let state = match p.state {
        State::Zombie(_) => b'Z',
        State::Running if p.stopped => b'T',
        State::Running if p.parked => b'S',
        State::Running => b'R',
    };
    let mut name = [0u8; 32];
    let n = p.name.len().min(name.len());
    name[..n].copy_from_slice(&p.name.as_bytes()[..n]);
    let cpu = p.last_cpu.map_or(-1, |c| c as i32);
    let r = Record::new(PROC_RECORD)
        .u32(pid)
        .u32(p.ppid.as_u32())
        .u32(p.pgid.as_u32())
        .u32(p.sid.as_u32())
        .bytes(&[state, 0])
        .bytes(&(p.threads.len().min(u16::MAX as usize) as u16).to_le_bytes())
        .u32(cpu as u32)
        .bytes(&name);
    debug_assert_eq!(r.0.len(), PROC_RECORD);
    r.0
}

/// The `cpuinfo` record of CPU `cpu`.
fn cpu_record(cpu: usize) -> Vec<u8> {
    let s = crate::task::stats(cpu);
    let r = Record::new(CPU_RECORD)
        .u32(cpu as u32)
        .u32(arch::smp::cpu_apic_id(cpu))
        .u64(s.polls)
        .u64(s.spawned)
        .u64(s.completed)
        .u64(s.stolen)
        .u64(s.ipis)
        .u32(s.queued as u32)
        .u32(s.live as u32)
        .u32(u32::from(s.idle))
        .u32(0);
    debug_assert_eq!(r.0.len(), CPU_RECORD);
    r.0
}

/// Copies as many whole `records` as fit `len` bytes at `buf`; returns
/// how many records exist.
fn copy_records(space: &AddressSpace, buf: u64, len: u64, records: &[Vec<u8>]) -> SysResult {
    // The whole buffer must be user space, even the part left unwritten.
    if len > 0
        && buf
            .checked_add(len)
            .is_none_or(|end| end > arch::mm::user::USER_END)
    {
        return Err(Errno::EFAULT);
    }
    let mut at = buf;
    let mut room = len;
    for r in records {
        let size = r.len() as u64;
        if room < size {
            break;
        }
        space.copy_to_user(at, r)?;
        at = at.wrapping_add(size);
        room -= size;
    }
    Ok(records.len() as u64)
}

/// Copies one record, `EINVAL` if `len` cannot hold it; returns its size.
fn copy_record(space: &AddressSpace, buf: u64, len: u64, record: &[u8]) -> SysResult {
    if len < record.len() as u64 {
        return Err(Errno::EINVAL);
    }
    space.copy_to_user(buf, record)?;
    Ok(record.len() as u64)
}

/// `proclist(buf, len)` (1007).
pub fn proclist(space: &AddressSpace, buf: u64, len: u64) -> SysResult {
    let records: Vec<Vec<u8>> = process::list().iter().map(proc_record).collect();
    copy_records(space, buf, len, &records)
}

/// `threadlist(buf, len)` (1014).
pub fn threadlist(space: &AddressSpace, buf: u64, len: u64) -> SysResult {
    let mut records = Vec::new();
    for p in process::all() {
        let stopped = p.signals().is_stopped();
        let mut name = [0u8; 32];
        let pname = p.name();
        let n = pname.len().min(name.len());
        name[..n].copy_from_slice(&pname.as_bytes()[..n]);
        for t in p.threads().iter() {
            let state = if stopped {
                b'T'
            } else if t.is_parked() {
                b'S'
            } else {
                b'R'
            };
            let cpu = t.last_cpu().map_or(-1, |c| c as i32);
            let r = Record::new(THREAD_RECORD)
                .u32(p.pid().as_u32())
                .u32(t.tid().as_u32())
                .bytes(&[state, 0, 0, 0])
                .u32(cpu as u32)
                .bytes(&name);
            debug_assert_eq!(r.0.len(), THREAD_RECORD);
            records.push(r.0);
        }
    }
    copy_records(space, buf, len, &records)
}

/// `cpuinfo(buf, len)` (1008).
pub fn cpuinfo(space: &AddressSpace, buf: u64, len: u64) -> SysResult {
    let records: Vec<Vec<u8>> = (0..arch::cpu::count()).map(cpu_record).collect();
    copy_records(space, buf, len, &records)
}

/// `meminfo(buf, len)` (1009): the first `len` bytes of one
/// [`MEM_RECORD`] (at least the 48 bytes of its first six fields, else
/// `EINVAL`); returns the bytes written.
pub fn meminfo(space: &AddressSpace, buf: u64, len: u64) -> SysResult {
    if len < MEM_RECORD_MIN as u64 {
        return Err(Errno::EINVAL);
    }
    let m = crate::memstat::now();
    let r = Record::new(MEM_RECORD)
        .u64(m.frames_total)
        .u64(m.frames_free)
        .u64(m.frames_total.saturating_sub(m.frames_free))
        .u64(m.heap_allocated)
        .u64(m.heap_allocations)
        .u64(m.heap_claimed)
        .u64(m.processes)
        .u64(m.process_bytes)
        .u64(m.tasks)
        .u64(m.task_bytes)
        .u64(m.table_pages)
        .u64(m.fd_tables)
        .u64(m.fd_bytes);
    let n = (len as usize).min(r.0.len());
    space.copy_to_user(buf, &r.0[..n])?;
    Ok(n as u64)
}

/// `vmstat(buf, len)` (1012): the caller's fault counters.
pub fn vmstat(space: &AddressSpace, buf: u64, len: u64) -> SysResult {
    let f = space.fault_stats();
    let r = Record::new(VM_RECORD)
        .u64(f.cow_copies)
        .u64(f.cow_reuses)
        .u64(f.zero_fills)
        .u64(f.faults);
    copy_record(space, buf, len, &r.0)
}

/// `kbench(names, len)` (1011): runs the benchmarks, whose output goes to
/// the console; 0 when they ran, `EIO` if one failed, `ENOSYS` when the
/// image has no runner, `EINVAL` for a list that is too long or not
/// UTF-8.
pub async fn kbench(space: &AddressSpace, names: u64, len: u64) -> SysResult {
    if len > KBENCH_NAMES_MAX {
        return Err(Errno::EINVAL);
    }
    let mut raw = crate::fallible::zeroed(len as usize)?;
    space.copy_from_user(names, &mut raw)?;
    let names = String::from_utf8(raw).map_err(|_| Errno::EINVAL)?;
    let bench = *BENCH.get().ok_or(Errno::ENOSYS)?;
    match bench(names).await {
        0 => Ok(0),
        _ => Err(Errno::EIO),
    }
}
