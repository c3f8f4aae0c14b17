//! The fork family's pieces, timed inside the kernel without the
//! system-call path around them: address-space fork of N mapped pages,
//! the three page-fault resolutions (copy-on-write copy, the refcount-1
//! shortcut, zero-fill), exec's loader, `fork1` of a parked process with
//! the child's exit and reap, and the vfork handshake. The user-space
//! benchmark (`user/c/bench/forkbench.c`) times the same operations
//! through system calls; the difference is the cost of the path around
//! them (trap, dispatch, scheduling, user-mode work).

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use arch::mm::Frame;
use arch::mm::frame::{PageOp, copy_with, zero_with};
use kernel::proc::fork::fork1;
use kernel::proc::fork_flags;
use kernel::proc::pid::{Pid, PidFlags};
use kernel::proc::process::{self, Process, WaitFor, WaitOptions};
use kernel::task::{self, Builder, Event};
use kernel::vm::space::AddressSpace;
use kernel::vm::vma::{VmPerms, VmaKind, pf};

use crate::BenchReport;
use crate::harness::{measure, measure_async, measure_prepared, measure_slow};

/// Where the benchmark spaces map their pages.
const BASE: u64 = 0x1000_0000;
const PAGE: u64 = 4096;
/// Pages the fault benchmarks resolve per batch.
const FAULT_PAGES: u64 = 256;
/// Frames [`space_with_pages`] leaves to the rest of the kernel (64 MiB).
const SPARE_FRAMES: usize = 16384;
/// The tiny static program of the exec and fork1 cases (`user/c/bin/nop.c`).
const NOP: &str = "/bin/nop";

/// A write fault from user mode on a missing page, and on a present one.
const WRITE_MISSING: u64 = pf::USER | pf::WRITE;
const WRITE_PRESENT: u64 = pf::USER | pf::WRITE | pf::PRESENT;

/// A space with one read-write VMA of `pages` pages, each written once
/// (zero-filled through the fault handler, as a program's first touch).
/// Refuses to leave fewer than [`SPARE_FRAMES`] free.
fn space_with_pages(pages: u64) -> Result<AddressSpace, String> {
    let (free, _) = arch::mm::frame::stats();
    if pages as usize + SPARE_FRAMES > free {
        return Err(format!(
            "needs {pages} frames, only {free} free (boot with more --mem)"
        ));
    }
    let space = AddressSpace::new().map_err(|e| format!("space: {e}"))?;
    space
        .map_anonymous(BASE, BASE + pages * PAGE, VmPerms::RW, VmaKind::Anonymous)
        .map_err(|e| format!("map: {e}"))?;
    touch(&space, pages, WRITE_MISSING)?;
    Ok(space)
}

/// Resolves a write fault with `error_code` on each of the first `pages`
/// pages.
fn touch(space: &AddressSpace, pages: u64, error_code: u64) -> Result<(), String> {
    for page in 0..pages {
        space
            .fault(BASE + page * PAGE, error_code)
            .map_err(|e| format!("fault on page {page}: {e}"))?;
    }
    Ok(())
}

// ---- address-space fork ----

/// `AddressSpace::fork` of a space with `pages` written pages, and the
/// child's drop (its page table freed, the frames' references given back).
/// `per_page`: the baseline `AddressSpace::fork_per_page` (every PTE
/// copied) instead of shared last-level tables.
async fn space_fork(pages: u64, per_page: bool) -> Result<BenchReport, String> {
    let space = space_with_pages(pages)?;
    let fork_once = || {
        if per_page {
            space.fork_per_page()
        } else {
            space.fork()
        }
    };
    let fork = || {
        let child = fork_once().map_err(|e| format!("fork: {e}"));
        async move { child.map(drop) }
    };
    if pages >= 4096 {
        return measure_slow(fork).await;
    }
    let failed = AtomicBool::new(false);
    let report = measure(|| {
        if fork_once().is_err() {
            failed.store(true, Ordering::Relaxed);
        }
    });
    if failed.load(Ordering::Relaxed) {
        return Err("AddressSpace::fork failed".into());
    }
    Ok(report)
}

crate::bench_case!(VM_FORK_PAGES_1, "vm_fork_pages_1", space_fork(1, false));
crate::bench_case!(VM_FORK_PAGES_64, "vm_fork_pages_64", space_fork(64, false));
crate::bench_case!(
    VM_FORK_PAGES_4096,
    "vm_fork_pages_4096",
    space_fork(4096, false)
);
crate::bench_case!(
    VM_FORK_PAGES_65536,
    "vm_fork_pages_65536",
    space_fork(65536, false)
);
crate::bench_case!(
    VM_FORK_PAGES_1_PER_PAGE,
    "vm_fork_pages_1_per_page",
    space_fork(1, true)
);
crate::bench_case!(
    VM_FORK_PAGES_64_PER_PAGE,
    "vm_fork_pages_64_per_page",
    space_fork(64, true)
);
crate::bench_case!(
    VM_FORK_PAGES_4096_PER_PAGE,
    "vm_fork_pages_4096_per_page",
    space_fork(4096, true)
);
crate::bench_case!(
    VM_FORK_PAGES_65536_PER_PAGE,
    "vm_fork_pages_65536_per_page",
    space_fork(65536, true)
);

// ---- zeroing and copying a page ----

/// Zero-fills one frame per iteration the way `how` says.
fn page_zero(how: PageOp) -> Result<BenchReport, String> {
    let mut frame = Frame::alloc().ok_or("no frame")?;
    let page = frame.bytes_mut().ok_or("fresh frame shared")?;
    Ok(measure(|| zero_with(page, how)))
}

/// Copies one frame into another per iteration the way `how` says.
fn page_copy(how: PageOp) -> Result<BenchReport, String> {
    let src = Frame::alloc_zeroed().ok_or("no frame")?;
    let mut dst = Frame::alloc().ok_or("no frame")?;
    let to = dst.bytes_mut().ok_or("fresh frame shared")?;
    Ok(measure(|| copy_with(to, src.bytes(), how)))
}

crate::bench_case!(PAGE_ZERO_BUILTIN, "page_zero_builtin", async {
    page_zero(PageOp::Builtin)
});
crate::bench_case!(PAGE_ZERO_REP_STOSQ, "page_zero_rep_stosq", async {
    page_zero(PageOp::RepQ)
});
crate::bench_case!(PAGE_ZERO_REP_STOSB, "page_zero_rep_stosb", async {
    page_zero(PageOp::RepB)
});
crate::bench_case!(PAGE_ZERO_LOOP, "page_zero_loop", async {
    page_zero(PageOp::Loop)
});
crate::bench_case!(PAGE_ZERO_UNROLLED, "page_zero_unrolled", async {
    page_zero(PageOp::Unrolled)
});
crate::bench_case!(PAGE_COPY_BUILTIN, "page_copy_builtin", async {
    page_copy(PageOp::Builtin)
});
crate::bench_case!(PAGE_COPY_REP_MOVSQ, "page_copy_rep_movsq", async {
    page_copy(PageOp::RepQ)
});
crate::bench_case!(PAGE_COPY_REP_MOVSB, "page_copy_rep_movsb", async {
    page_copy(PageOp::RepB)
});
crate::bench_case!(PAGE_COPY_LOOP, "page_copy_loop", async {
    page_copy(PageOp::Loop)
});
crate::bench_case!(PAGE_COPY_UNROLLED, "page_copy_unrolled", async {
    page_copy(PageOp::Unrolled)
});

// ---- page faults ----

crate::bench_case!(VM_COW_FAULT_COPY, "vm_cow_fault_copy", async {
    // Per batch: fork (the child keeps every page shared), then a write
    // fault on each page copies it.
    let space = space_with_pages(FAULT_PAGES)?;
    measure_prepared(
        || {
            let child = space.fork().map_err(|e| format!("fork: {e}"))?;
            Ok((child, FAULT_PAGES))
        },
        |_child| touch(&space, FAULT_PAGES, WRITE_PRESENT),
    )
});

crate::bench_case!(
    VM_COW_FAULT_COPY_PER_PAGE,
    "vm_cow_fault_copy_per_page",
    async {
        // The same faults after the baseline fork (`fork_per_page`: no shared
        // table, each page read-only with a refcount of 2): only page copies.
        let space = space_with_pages(FAULT_PAGES)?;
        measure_prepared(
            || {
                let child = space.fork_per_page().map_err(|e| format!("fork: {e}"))?;
                Ok((child, FAULT_PAGES))
            },
            |_child| touch(&space, FAULT_PAGES, WRITE_PRESENT),
        )
    }
);

crate::bench_case!(VM_COW_TEARDOWN, "vm_cow_teardown", async {
    // Per batch: fork, the child's write fault on each page copies it
    // (untimed); timed: dropping the child, which frees the copies and
    // its own tables, per page.
    let space = space_with_pages(FAULT_PAGES)?;
    measure_prepared(
        || {
            let child = space.fork().map_err(|e| format!("fork: {e}"))?;
            touch(&child, FAULT_PAGES, WRITE_PRESENT)?;
            Ok((Some(child), FAULT_PAGES))
        },
        |child| {
            drop(child.take());
            Ok(())
        },
    )
});

crate::bench_case!(VM_COW_FAULT_SOLE, "vm_cow_fault_sole", async {
    // Per batch: fork and drop the child, which leaves every page
    // read-only with a refcount of 1; a write fault then only makes it
    // writable again.
    let space = space_with_pages(FAULT_PAGES)?;
    measure_prepared(
        || {
            drop(space.fork().map_err(|e| format!("fork: {e}"))?);
            Ok(((), FAULT_PAGES))
        },
        |()| touch(&space, FAULT_PAGES, WRITE_PRESENT),
    )
});

// ---- user copies ----

// The 8-byte copies a system call makes for its arguments and results
// (`rt_sigprocmask`'s sets): the table's lock and walk per copy.
crate::bench_case!(VM_COPY_FROM_USER_8, "vm_copy_from_user_8", async {
    let space = space_with_pages(1)?;
    let mut buf = [0u8; 8];
    Ok(measure(|| {
        let _ = space.copy_from_user(BASE + 8, &mut buf);
    }))
});

crate::bench_case!(VM_COPY_TO_USER_8, "vm_copy_to_user_8", async {
    let space = space_with_pages(1)?;
    Ok(measure(|| {
        let _ = space.copy_to_user(BASE + 8, &[1u8; 8]);
    }))
});

crate::bench_case!(VM_ZERO_FILL_FAULT, "vm_zero_fill_fault", async {
    // Per batch: a fresh space; the first write to each page maps a
    // zeroed frame. Freeing the space is not timed.
    measure_prepared(
        || {
            let space = AddressSpace::new().map_err(|e| format!("space: {e}"))?;
            space
                .map_anonymous(
                    BASE,
                    BASE + FAULT_PAGES * PAGE,
                    VmPerms::RW,
                    VmaKind::Anonymous,
                )
                .map_err(|e| format!("map: {e}"))?;
            Ok((space, FAULT_PAGES))
        },
        |space| touch(space, FAULT_PAGES, WRITE_MISSING),
    )
});

// ---- exec ----

crate::bench_case!(EXEC_LOAD_NOP, "exec_load_nop", async {
    // exec's loader for a tiny static program: lookup, ELF checks, a new
    // space, the segments copied in, the initial stack; then the space is
    // dropped.
    let argv: [&[u8]; 1] = [NOP.as_bytes()];
    let envp: [&[u8]; 1] = [b"HOME=/"];
    kernel::exec::load::load(NOP, &argv, &envp).map_err(|e| format!("{NOP}: {e}"))?;
    let failed = AtomicBool::new(false);
    let report = measure(|| {
        if kernel::exec::load::load(NOP, &argv, &envp).is_err() {
            failed.store(true, Ordering::Relaxed);
        }
    });
    if failed.load(Ordering::Relaxed) {
        return Err(format!("loading {NOP} failed during the run"));
    }
    Ok(report)
});

// ---- fork1, exit, reap ----

/// A parked parent: `/bin/nop` loaded into a process that is in the table
/// but has no thread, so it never runs; its context is the program's
/// entry. Each child `fork1` makes from it runs `/bin/nop` from the entry
/// (musl's start-up, then `exit_group(0)`).
struct Parked {
    process: Arc<Process>,
    ctx: arch::user::UserContext,
}

impl Parked {
    fn new() -> Result<Self, String> {
        let argv: [&[u8]; 1] = [NOP.as_bytes()];
        let loaded =
            kernel::exec::load::load(NOP, &argv, &[]).map_err(|e| format!("{NOP}: {e}"))?;
        if !process::reserve_slot(usize::MAX) {
            return Err("no process slot".into());
        }
        let pid = match kernel::proc::pids().alloc(PidFlags::NONE) {
            Ok(pid) => pid,
            Err(_) => {
                process::release_slot();
                return Err("no PID free".into());
            }
        };
        let process = Process::new_child(pid, Pid::KERNEL, "parked", Arc::new(loaded.space), None);
        process::insert(process.clone());
        let ctx = arch::user::UserContext::new(loaded.entry, loaded.rsp);
        Ok(Self { process, ctx })
    }

    /// fork1 + the child's whole life + wait4's reap; the errno of the
    /// first failure.
    async fn fork_exit_reap(&self) -> Result<(), abi::Errno> {
        let child = fork1(&self.process, &self.ctx, &fork_flags::fork()).await?;
        process::wait_child(
            self.process.pid(),
            WaitFor::Pid(child),
            WaitOptions::default(),
        )
        .await?;
        Ok(())
    }

    /// Ends and reaps the parked process.
    async fn retire(self) {
        self.process.exit(0);
        let _ = process::wait(self.process.pid()).await;
    }
}

crate::bench_case!(FORK1_EXIT_REAP, "fork1_exit_reap", async {
    let parked = Parked::new()?;
    let first_error = AtomicU32::new(0);
    let report = measure_async(|| async {
        if let Err(e) = parked.fork_exit_reap().await {
            first_error
                .compare_exchange(0, e.number() as u32, Ordering::Relaxed, Ordering::Relaxed)
                .ok();
        }
    })
    .await;
    parked.retire().await;
    match first_error.load(Ordering::Relaxed) {
        0 => Ok(report),
        e => Err(format!("fork1 or wait failed: errno {e}")),
    }
});

// ---- the vfork handshake ----

crate::bench_case!(VFORK_HANDSHAKE, "vfork_handshake", async {
    // The parent's side of vfork after the copy: a child marked P_PPWAIT
    // is handed to a partner task on another CPU (where the child would
    // run), which fires VforkDone (`vfork_release`, as exec or exit does);
    // the parent's `vfork_wait` returns. Includes making the child's
    // `Process` and publishing the VforkDone event.
    let space = Arc::new(AddressSpace::new().map_err(|e| format!("space: {e}"))?);
    let pid = kernel::proc::pids()
        .alloc(PidFlags::NONE)
        .map_err(|_| String::from("no PID free"))?;
    let handoff: Arc<spin::Mutex<Vec<Arc<Process>>>> = Arc::default();
    let work = Arc::new(Event::new());
    let stop = Arc::new(AtomicBool::new(false));
    let partner_cpu = (arch::cpu::id() + 1) % task::ncpus();
    let partner = {
        let (handoff, work, stop) = (handoff.clone(), work.clone(), stop.clone());
        Builder::new().cpu(partner_cpu).pinned().spawn(async move {
            loop {
                work.wait_until(|| stop.load(Ordering::Acquire) || !handoff.lock().is_empty())
                    .await;
                let child = handoff.lock().pop();
                match child {
                    Some(child) => child.vfork_release(),
                    None => break,
                }
            }
        })
    };
    let report = measure_async(|| {
        let child = Process::new_child(pid, Pid::KERNEL, "vchild", space.clone(), None);
        child.set_ppwait();
        handoff.lock().push(child.clone());
        work.notify_one();
        async move { child.vfork_wait().await }
    })
    .await;
    stop.store(true, Ordering::Release);
    work.notify_one();
    partner.await;
    kernel::proc::pids().free(pid);
    Ok(report)
});
