//! In-kernel tests of the deferred invalidation of copy-on-write faults
//! (`arch::mm::user`, "Deferred invalidation"): a copy-on-write fault
//! resolved inside `arch::user::run_until_answering` leaves the old frame
//! on the CPU's deferred list instead of flushing at once; the run's end
//! flushes and lets go of it, and nobody else enters user mode with the
//! table or writes its memory while a CPU still defers. Hand-assembled
//! programs, as in `user_ktests` (each byte array shows its assembly).
//! Run at `-smp 1` and `-smp 4`.

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use arch::mm::Frame;
use arch::mm::user::{DEFER_CAP, UserFlags, UserPageTable, WriteFault, deferred_flushes};
use arch::user::{Trap, UserContext, run_until_answering};

use super::user_ktests::{CODE, STACK_TOP, table_with};
use crate::{kassert, kassert_eq, ktest, task};

/// The copy-on-write page the watcher writes and watches.
const PAGE: u64 = 0x60_1000;
/// Where the many-page test maps its pages.
const MANY: u64 = 0x1000_0000;

/// The watcher, at `CODE`: `mov [PAGE], rax; loop: mov rcx, [PAGE];
/// cmp rcx, rax; je loop; mov rax, rcx; syscall`: writes `rax` into the
/// page, then spins until the page holds something else and shows it.
const WATCH: &[u8] = &[
    0x48, 0x89, 0x04, 0x25, 0x00, 0x10, 0x60, 0x00, // mov [0x601000], rax
    0x48, 0x8b, 0x0c, 0x25, 0x00, 0x10, 0x60, 0x00, // loop: mov rcx, [0x601000]
    0x48, 0x39, 0xc1, // cmp rcx, rax
    0x74, 0xf3, // je loop
    0x48, 0x89, 0xc8, // mov rax, rcx
    0x0f, 0x05, // syscall
];
/// The writer, at `CODE + WRITER`: `mov rax, 0x77; mov [PAGE], rax; syscall`.
const WRITER: u64 = 0x80;
const WRITE: &[u8] = &[
    0x48, 0xc7, 0xc0, 0x77, 0x00, 0x00, 0x00, // mov rax, 0x77
    0x48, 0x89, 0x04, 0x25, 0x00, 0x10, 0x60, 0x00, // mov [0x601000], rax
    0x0f, 0x05, // syscall
];
/// `loop: mov [rbx], rax; add rbx, 0x1000; dec rcx; jnz loop; syscall`:
/// writes `rax` into `rcx` pages from `rbx` on.
const WRITE_PAGES: &[u8] = &[
    0x48, 0x89, 0x03, // loop: mov [rbx], rax
    0x48, 0x81, 0xc3, 0x00, 0x10, 0x00, 0x00, // add rbx, 0x1000
    0x48, 0xff, 0xc9, // dec rcx
    0x75, 0xf1, // jnz loop
    0x0f, 0x05, // syscall
];

/// `loop: mov rdx, [rbx]; xor rdx, rax; or rdi, rdx; add rbx, 0x1000;
/// dec rcx; jnz loop; mov rax, rdi; syscall`: reads the first word of
/// `rcx` pages from `rbx` on; `rax` is 0 afterwards iff each held `rax`
/// (with `rdi` 0 at the start).
const READ_PAGES: &[u8] = &[
    0x48, 0x8b, 0x13, // loop: mov rdx, [rbx]
    0x48, 0x31, 0xc2, // xor rdx, rax
    0x48, 0x09, 0xd7, // or rdi, rdx
    0x48, 0x81, 0xc3, 0x00, 0x10, 0x00, 0x00, // add rbx, 0x1000
    0x48, 0xff, 0xc9, // dec rcx
    0x75, 0xeb, // jnz loop
    0x48, 0x89, 0xf8, // mov rax, rdi
    0x0f, 0x05, // syscall
];
/// Where `READ_PAGES` sits in the code page.
const READER: u64 = 0x100;

/// Maps a frame filled with `fill` read-only at `va` the way a fork
/// leaves it (another reference, here the returned one): the first write
/// copies it.
fn map_shared_page(table: &UserPageTable, va: u64, fill: u8) -> Result<Frame, String> {
    let mut frame = Frame::alloc().ok_or("no frame")?;
    frame.bytes_mut().ok_or("new frame shared")?.fill(fill);
    let kept = frame.clone();
    table
        .map(va, frame, UserFlags::READ)
        .map_err(|e| format!("{e:?}"))?;
    Ok(kept)
}

/// Runs `ctx` until it traps with something other than an interrupt,
/// resolving write faults with `write_fault` (a copy-on-write fault inside
/// the run, which may defer its flush) and yielding between runs, so that
/// other tasks of this CPU run too. Returns the trap and whether a fault
/// the run resolved left this CPU deferring.
async fn run_resolving(ctx: &mut UserContext, table: &UserPageTable) -> (Trap, bool) {
    let mut deferring = false;
    loop {
        let deadline = arch::cpu::tsc::now_ns() + 5_000_000;
        let trap = run_until_answering(
            ctx,
            table,
            deadline,
            0,
            |_| None,
            |addr, _| {
                let r = table.write_fault(addr, UserFlags::WRITE);
                deferring |=
                    r == Ok(WriteFault::Copied) && table.deferring_cpu() == Some(arch::cpu::id());
                r.is_ok()
            },
        );
        match trap {
            Trap::Interrupt { .. } => task::yield_now().await,
            other => return (other, deferring),
        }
    }
}

ktest!(
    /// Copy-on-write faults of one run: each copies, the old frames stay
    /// referenced (the deferred list) until the run ends, then go back to
    /// their other holders alone; more pages than the list holds flush the
    /// whole TLB on the way. The old frames never change.
    async fn user_cow_flushes_deferred_until_the_run_ends() {
        const PAGES: usize = DEFER_CAP + 2;
        let table = table_with(&[(0, WRITE_PAGES)])?;
        let mut kept = Vec::new();
        for i in 0..PAGES {
            kept.push(map_shared_page(&table, MANY + i as u64 * 4096, 0x11)?);
        }
        let before = deferred_flushes();
        let mut ctx = UserContext::new(CODE, STACK_TOP);
        ctx.rax = 0x5eed;
        ctx.rbx = MANY;
        ctx.rcx = PAGES as u64;
        let (trap, deferring) = run_resolving(&mut ctx, &table).await;
        kassert_eq!(trap, Trap::Syscall);
        kassert!(deferring, "no fault deferred its flush");
        kassert!(deferred_flushes() >= before + PAGES as u64);
        kassert_eq!(table.deferring_cpu(), None);
        for (i, old) in kept.iter().enumerate() {
            let va = MANY + i as u64 * 4096;
            kassert_eq!(old.refcount(), 1, "old frame of page {i} still held");
            kassert!(old.bytes().iter().all(|&b| b == 0x11), "old frame changed");
            let mut word = [0u8; 8];
            table
                .copy_from_user(va, &mut word)
                .map_err(|e| format!("{e:?}"))?;
            kassert_eq!(u64::from_le_bytes(word), 0x5eed);
        }
        Ok(())
    }
);

/// The watcher (`WATCH`) runs on CPU 0 and defers the flush of its
/// copy-on-write fault; then, from another CPU where there is one, the
/// page is changed: by a program entering user mode with the table
/// (`user_writer`) or by the kernel writing user memory. The watcher must
/// see the change.
async fn watcher_sees(user_writer: bool) -> Result<(), String> {
    let table = Arc::new(table_with(&[(0, WATCH), (WRITER, WRITE)])?);
    let old = map_shared_page(&table, PAGE, 0x11)?;
    let watcher = {
        let table = table.clone();
        task::Builder::new().cpu(0).pinned().spawn(async move {
            let mut ctx = UserContext::new(CODE, STACK_TOP);
            ctx.rax = 0x55;
            let (trap, deferring) = run_resolving(&mut ctx, &table).await;
            (trap, ctx.rax, deferring)
        })
    };
    let writer = task::Builder::new()
        .cpu(1 % task::ncpus())
        .pinned()
        .spawn(async move {
            // Wait until the watcher has written its page (the copy is
            // there), then change it.
            let mut word = [0u8; 8];
            while table.copy_from_user(PAGE, &mut word).is_err() || u64::from_le_bytes(word) != 0x55
            {
                task::yield_now().await;
            }
            if user_writer {
                let mut ctx = UserContext::new(CODE + WRITER, STACK_TOP);
                match run_resolving(&mut ctx, &table).await {
                    (Trap::Syscall, _) => Ok(table),
                    (other, _) => Err(format!("the writer stopped with {other:?}")),
                }
            } else {
                table
                    .copy_to_user(PAGE, &0x77u64.to_le_bytes())
                    .map(|()| table)
                    .map_err(|e| format!("the kernel write failed: {e:?}"))
            }
        });
    let table = writer.await?;
    let (trap, rax, deferring) = watcher.await;
    kassert_eq!(trap, Trap::Syscall);
    kassert_eq!(rax, 0x77, "the watcher missed the write");
    kassert!(deferring, "the watcher's fault did not defer its flush");
    kassert_eq!(table.deferring_cpu(), None);
    kassert_eq!(old.refcount(), 1);
    kassert!(old.bytes().iter().all(|&b| b == 0x11), "old frame changed");
    Ok(())
}

ktest!(
    /// A program entering user mode with the table while another CPU
    /// defers a flush for it waits until that CPU has flushed.
    async fn user_cow_deferral_ends_before_another_cpu_enters() {
        watcher_sees(true).await
    }
);

ktest!(
    /// A kernel write into the table's memory while another CPU defers a
    /// flush for it waits until that CPU has flushed.
    async fn user_cow_deferral_ends_before_a_kernel_write() {
        watcher_sees(false).await
    }
);

/// Runs `READ_PAGES` over `pages` pages from `MANY` on `cpu`, expecting
/// each to hold `value`; returns the program's `rax` (0: all did).
async fn read_pages_on(
    cpu: usize,
    table: Arc<UserPageTable>,
    pages: u64,
    value: u64,
) -> Result<u64, String> {
    task::Builder::new()
        .cpu(cpu)
        .pinned()
        .spawn(async move {
            let mut ctx = UserContext::new(CODE + READER, STACK_TOP);
            ctx.rax = value;
            ctx.rbx = MANY;
            ctx.rcx = pages;
            ctx.rdi = 0;
            match run_resolving(&mut ctx, &table).await {
                (Trap::Syscall, _) => Ok(ctx.rax),
                (other, _) => Err(format!("the reader stopped with {other:?}")),
            }
        })
        .await
}

ktest!(
    /// Only a run's first deferral bumps the table's epoch: a CPU that ran
    /// the table before (its TLB holding the old frames, read-only) and
    /// runs it again after another CPU's run of deferred copy-on-write
    /// faults must reload CR3 and read the copies, every one of them, not
    /// only the first page's.
    async fn user_cow_deferrals_reach_a_cpu_that_ran_the_table_before() {
        const PAGES: u64 = 40;
        let table = Arc::new(table_with(&[(0, WRITE_PAGES), (READER, READ_PAGES)])?);
        let mut kept = Vec::new();
        for i in 0..PAGES {
            kept.push(map_shared_page(&table, MANY + i * 4096, 0x11)?);
        }
        let other = 1 % task::ncpus();
        let old = u64::from_le_bytes([0x11; 8]);
        let seen = read_pages_on(other, table.clone(), PAGES, old).await?;
        kassert_eq!(seen, 0, "the reader saw something else before any write");
        let writer = {
            let table = table.clone();
            task::Builder::new().cpu(0).pinned().spawn(async move {
                let before = deferred_flushes();
                let mut ctx = UserContext::new(CODE, STACK_TOP);
                ctx.rax = 0x5eed;
                ctx.rbx = MANY;
                ctx.rcx = PAGES;
                let (trap, deferring) = run_resolving(&mut ctx, &table).await;
                (trap, deferring, deferred_flushes() - before)
            })
        };
        let (trap, deferring, deferred) = writer.await;
        kassert_eq!(trap, Trap::Syscall);
        kassert!(deferring, "no fault deferred its flush");
        kassert!(deferred >= PAGES, "only {deferred} faults deferred");
        let seen = read_pages_on(other, table.clone(), PAGES, 0x5eed).await?;
        kassert_eq!(seen, 0, "the reader on cpu {other} read an old frame");
        for old in &kept {
            kassert_eq!(old.refcount(), 1);
        }
        Ok(())
    }
);
