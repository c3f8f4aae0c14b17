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
//! Records are little-endian with fixed layouts, defined once in the
//! `abi` crate (`abi::record::{ProcRecord, ThreadRecord, CpuRecord,
//! MemRecord, VmRecord}`), which the kernel writes and the user programs
//! read. A list call with `len` 0 writes
//! nothing and returns the count, so a caller can size its buffer; a count
//! above what fitted means "call again with more room". A buffer outside
//! user space, or a record that lands on an unmapped page, is `EFAULT`; a
//! single record that does not fit `len` is `EINVAL`.

use alloc::string::String;
use alloc::vec::Vec;

use crate::proc::process::{self, State};
use crate::vm::space::AddressSpace;
use abi::record::{self, CpuRecord, MemRecord, ProcRecord, ThreadRecord, VmRecord};
use abi::{Errno, SysResult};

/// Sizes of the records (`abi::record` has their layouts).
pub const PROC_RECORD: usize = ProcRecord::SIZE;
pub const THREAD_RECORD: usize = ThreadRecord::SIZE;
pub const CPU_RECORD: usize = CpuRecord::SIZE;
pub const MEM_RECORD: usize = MemRecord::SIZE;
/// The shortest buffer `meminfo` fills (the record's first six fields).
pub const MEM_RECORD_MIN: usize = MemRecord::MIN;
pub const VM_RECORD: usize = VmRecord::SIZE;
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

/// The `proclist` record of one process.
fn proc_record(p: &process::ProcInfo) -> Vec<u8> {
    let state = match p.state {
        State::Zombie(_) => b'Z',
        State::Running if p.stopped => b'T',
        State::Running if p.parked => b'S',
        State::Running => b'R',
    };
    ProcRecord {
        pid: p.pid.as_u32(),
        ppid: p.ppid.as_u32(),
        pgid: p.pgid.as_u32(),
        sid: p.sid.as_u32(),
        state,
        threads: p.threads.len().min(u16::MAX as usize) as u16,
        cpu: p.last_cpu.map_or(-1, |c| c as i32),
        name: record::name(&p.name),
    }
    .to_bytes()
    .to_vec()
}

/// The `cpuinfo` record of CPU `cpu`.
fn cpu_record(cpu: usize) -> Vec<u8> {
    let s = crate::task::stats(cpu);
    CpuRecord {
        cpu: cpu as u32,
        apic: arch::smp::cpu_apic_id(cpu),
        polls: s.polls,
        spawned: s.spawned,
        completed: s.completed,
        stolen: s.stolen,
        ipis: s.ipis,
        queued: s.queued as u32,
        live: s.live as u32,
        idle: s.idle,
    }
    .to_bytes()
    .to_vec()
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
        let name = record::name(&p.name());
        for t in p.threads().iter() {
            let state = if stopped {
                b'T'
            } else if t.is_parked() {
                b'S'
            } else {
                b'R'
            };
            let r = ThreadRecord {
                pid: p.pid().as_u32(),
                tid: t.tid().as_u32(),
                state,
                cpu: t.last_cpu().map_or(-1, |c| c as i32),
                name,
            };
            records.push(r.to_bytes().to_vec());
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
    let r = crate::memstat::now().to_bytes();
    let n = (len as usize).min(r.len());
    space.copy_to_user(buf, &r[..n])?;
    Ok(n as u64)
}

/// `vmstat(buf, len)` (1012): the caller's fault counters.
pub fn vmstat(space: &AddressSpace, buf: u64, len: u64) -> SysResult {
    let f = space.fault_stats();
    let r = VmRecord {
        cow_copies: f.cow_copies,
        cow_reuses: f.cow_reuses,
        zero_fills: f.zero_fills,
        faults: f.faults,
    };
    copy_record(space, buf, len, &r.to_bytes())
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
