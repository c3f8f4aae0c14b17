//! In-kernel tests of the ring-3 foundation `arch` provides: user page
//! tables (`arch::mm::user`), user-memory copies, and `arch::user::run`
//! with hand-assembled programs (each byte array shows its assembly).
//! Run at `-smp 1` and `-smp 4`; one test moves a running program across
//! CPUs between `run` calls.

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use arch::irq::vector;
use arch::mm::Frame;
use arch::mm::user::{Fault, MapError, USER_END, UserFlags, UserPageTable, WriteFault};
use arch::user::{Trap, UserContext, run, run_until};

use crate::{kassert, kassert_eq, ktest, task};

/// Where the test programs live (these and `deferred_ktests`').
pub(super) const CODE: u64 = 0x40_0000;
/// A read-write data page.
const DATA: u64 = 0x60_0000;
/// Top of the one-page stack (the page below it is mapped).
pub(super) const STACK_TOP: u64 = 0x7fff_ffff_f000;

/// `mov eax, 39; syscall; mov rdi, rax; mov eax, 60; syscall; ud2`
const SYSCALLS: &[u8] = &[
    0xb8, 0x27, 0x00, 0x00, 0x00, // mov eax, 39
    0x0f, 0x05, // syscall
    0x48, 0x89, 0xc7, // mov rdi, rax
    0xb8, 0x3c, 0x00, 0x00, 0x00, // mov eax, 60
    0x0f, 0x05, // syscall
    0x0f, 0x0b, // ud2
];
/// Offset of the `ud2` in [`SYSCALLS`].
const SYSCALLS_UD2: u64 = 17;

/// `mov qword ptr [0x50000000], rax`
const WRITE_UNMAPPED: &[u8] = &[0x48, 0x89, 0x04, 0x25, 0x00, 0x00, 0x00, 0x50];

/// `jmp $`
const SPIN: &[u8] = &[0xeb, 0xfe];

/// `movq xmm0, rax; syscall; movq [rdi], xmm0; mov eax, 60; syscall`
const SSE: &[u8] = &[
    0x66, 0x48, 0x0f, 0x6e, 0xc0, // movq xmm0, rax
    0x0f, 0x05, // syscall
    0x66, 0x0f, 0xd6, 0x07, // movq qword ptr [rdi], xmm0
    0xb8, 0x3c, 0x00, 0x00, 0x00, // mov eax, 60
    0x0f, 0x05, // syscall
];

/// `loop: paddq xmm0, xmm1; movq rax, xmm0; syscall; jmp loop`: counts
/// in xmm0 by xmm1 and shows the count in `rax` at every system call.
const FPU_COUNT: &[u8] = &[
    0x66, 0x0f, 0xd4, 0xc1, // paddq xmm0, xmm1
    0x66, 0x48, 0x0f, 0x7e, 0xc0, // movq rax, xmm0
    0x0f, 0x05, // syscall
    0xeb, 0xf3, // jmp loop
];
/// `loop: mov eax, 39; syscall; add rbx, rax; dec r12; jnz loop;
/// mov eax, 60; syscall; ud2`: r12 times getpid, summing the answers.
const GETPID_LOOP: &[u8] = &[
    0xb8, 0x27, 0x00, 0x00, 0x00, // mov eax, 39
    0x0f, 0x05, // syscall
    0x48, 0x01, 0xc3, // add rbx, rax
    0x49, 0xff, 0xcc, // dec r12
    0x75, 0xf1, // jnz loop
    0xb8, 0x3c, 0x00, 0x00, 0x00, // mov eax, 60
    0x0f, 0x05, // syscall
    0x0f, 0x0b, // ud2
];

/// Offsets of xmm0 and xmm1 in the FXSAVE image.
const XMM0: usize = 160;
const XMM1: usize = 176;

/// `mov rax, qword ptr fs:[0]; syscall`
const READ_FS: &[u8] = &[
    0x64, 0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x00, 0x00, // mov rax, fs:[0]
    0x0f, 0x05, // syscall
];

/// `mov rax, rcx; mov rdx, r11; syscall`: shows what `rcx`/`r11` held.
const SHOW_RCX_R11: &[u8] = &[
    0x48, 0x89, 0xc8, // mov rax, rcx
    0x4c, 0x89, 0xda, // mov rdx, r11
    0x0f, 0x05, // syscall
];

/// A table with `programs` ((offset, bytes) pairs) in its code page at
/// [`CODE`] and a stack page below [`STACK_TOP`].
pub(super) fn table_with(programs: &[(u64, &[u8])]) -> Result<UserPageTable, String> {
    let table = UserPageTable::new().ok_or("no memory for a page table")?;
    let mut text = Frame::alloc_zeroed().ok_or("no frame")?;
    let bytes = text.bytes_mut().ok_or("new frame shared")?;
    for &(at, code) in programs {
        bytes[at as usize..at as usize + code.len()].copy_from_slice(code);
    }
    table
        .map(CODE, text, UserFlags::EXEC)
        .map_err(|e| format!("{e:?}"))?;
    let stack = Frame::alloc_zeroed().ok_or("no frame")?;
    table
        .map(STACK_TOP - 4096, stack, UserFlags::WRITE)
        .map_err(|e| format!("{e:?}"))?;
    Ok(table)
}

/// A table with `code` at [`CODE`], a stack page below [`STACK_TOP`] and a
/// zeroed data page at [`DATA`].
fn address_space(code: &[u8]) -> Result<UserPageTable, String> {
    let table = table_with(&[(0, code)])?;
    let data = Frame::alloc_zeroed().ok_or("no frame")?;
    table
        .map(DATA, data, UserFlags::WRITE)
        .map_err(|e| format!("{e:?}"))?;
    Ok(table)
}

/// What `map` returned, with frames as physical addresses (comparable).
fn paddr_of(r: Result<Option<Frame>, MapError>) -> Result<Option<u64>, MapError> {
    r.map(|old| old.map(|f| f.paddr()))
}

/// Runs until something other than an interrupt (those are expected now
/// and then: IPIs, the UART, a timer armed by the executor).
fn run_to_trap(ctx: &mut UserContext, table: &UserPageTable) -> Trap {
    loop {
        match run(ctx, table) {
            Trap::Interrupt { .. } => continue,
            other => return other,
        }
    }
}

ktest!(
    async fn tree_pages_counts_the_tables_a_fork_may_copy() {
        let table = UserPageTable::new().ok_or("no memory")?;
        kassert_eq!(table.tree_pages(), 1, "a new table is its root");
        let map = |va| {
            let f = Frame::alloc_zeroed().ok_or("no frame")?;
            table
                .map(va, f, UserFlags::WRITE)
                .map_err(|_| "map failed")
                .map(drop)
        };
        // Data and stack: a PDPT, a PD and a last-level table each.
        map(DATA)?;
        map(STACK_TOP - 4096)?;
        kassert_eq!(table.tree_pages(), 7);
        // Another page in the same 2 MiB: no new table.
        map(DATA + 4096)?;
        kassert_eq!(table.tree_pages(), 7);
        // The next 2 MiB: one more last-level table.
        map(DATA + (2 << 20))?;
        kassert_eq!(table.tree_pages(), 8);
        // A fork shares the tree: the child's count is the parent's.
        let child = table.fork().ok_or("fork")?;
        kassert_eq!(child.tree_pages(), 8);
        Ok(())
    }
);

ktest!(
    async fn user_page_table_map_translate_unmap() {
        let (free_before, _) = arch::mm::frame::stats();
        {
            let table = UserPageTable::new().ok_or("no memory")?;
            let f = Frame::alloc_zeroed().ok_or("no frame")?;
            let pa = f.paddr();
            kassert_eq!(paddr_of(table.map(DATA, f, UserFlags::WRITE)), Ok(None));
            kassert_eq!(table.translate(DATA + 5), Some((pa + 5, UserFlags::WRITE)));
            kassert_eq!(table.translate(DATA + 4096), None);
            kassert_eq!(table.refcount_at(DATA), Some(1));

            // Replacing returns the old frame.
            let g = Frame::alloc_zeroed().ok_or("no frame")?;
            let old = table
                .map(DATA, g, UserFlags::READ)
                .map_err(|e| format!("{e:?}"))?;
            kassert_eq!(old.as_ref().map(Frame::paddr), Some(pa));
            kassert_eq!(old.map(|f| f.refcount()), Some(1));
            kassert_eq!(table.translate(DATA).map(|t| t.1), Some(UserFlags::READ));

            // Permissions.
            kassert_eq!(table.protect(DATA, UserFlags::WRITE), Ok(()));
            kassert_eq!(table.translate(DATA).map(|t| t.1), Some(UserFlags::WRITE));
            kassert!(table.clear_write(DATA));
            kassert_eq!(table.translate(DATA).map(|t| t.1), Some(UserFlags::READ));
            kassert_eq!(
                table.protect(DATA + 8192, UserFlags::READ),
                Err(MapError::NotMapped)
            );

            // The write invariant: no write access to a shared frame.
            let shared = Frame::alloc_zeroed().ok_or("no frame")?;
            let keep = shared.clone();
            kassert_eq!(
                paddr_of(table.map(DATA + 4096, shared.clone(), UserFlags::WRITE)),
                Err(MapError::Shared)
            );
            drop(shared);
            kassert_eq!(
                paddr_of(table.map(DATA + 4096, keep.clone(), UserFlags::READ)),
                Ok(None)
            );
            kassert_eq!(
                table.protect(DATA + 4096, UserFlags::WRITE),
                Err(MapError::Shared)
            );
            drop(keep);
            kassert_eq!(table.protect(DATA + 4096, UserFlags::WRITE), Ok(()));
            let (clone, before) = table.share_frame(DATA + 4096).ok_or("share")?;
            kassert_eq!(before, UserFlags::WRITE);
            kassert_eq!(clone.refcount(), 2);
            kassert_eq!(table.translate(DATA + 4096).map(|t| t.1.write), Some(false),); // sharing made the page read-only
            drop(clone);

            // Only page-aligned user addresses.
            let f = Frame::alloc_zeroed().ok_or("no frame")?;
            kassert_eq!(
                paddr_of(table.map(USER_END, f, UserFlags::READ)),
                Err(MapError::NotUser)
            );
            let f = Frame::alloc_zeroed().ok_or("no frame")?;
            kassert_eq!(
                paddr_of(table.map(0xffff_8000_0000_0000, f, UserFlags::READ)),
                Err(MapError::NotUser)
            );
            let f = Frame::alloc_zeroed().ok_or("no frame")?;
            kassert_eq!(
                paddr_of(table.map(DATA + 1, f, UserFlags::READ)),
                Err(MapError::Misaligned)
            );

            // Far-apart pages need their own tables; all freed on drop.
            for va in [0x1000, 0x7fff_ffff_e000, 0x1234_5600_0000] {
                let f = Frame::alloc_zeroed().ok_or("no frame")?;
                kassert_eq!(paddr_of(table.map(va, f, UserFlags::WRITE)), Ok(None));
            }
            kassert_eq!(table.pages().len(), 5);
            let gone = table.unmap(0x1000).ok_or("unmap")?;
            kassert_eq!(gone.refcount(), 1);
            kassert_eq!(table.translate(0x1000), None);
            kassert!(table.unmap(0x1000).is_none());
        }
        let (free_after, _) = arch::mm::frame::stats();
        kassert_eq!(free_after, free_before); // a dropped table frees everything
        Ok(())
    }
);

ktest!(
    async fn user_copies_fault_on_bad_addresses() {
        let table = address_space(&[])?;
        let mut buf = [0u8; 16];
        kassert_eq!(
            table.copy_from_user(0x5000_0000, &mut buf),
            Err(Fault::NotMapped(0x5000_0000))
        );
        kassert_eq!(
            table.copy_to_user(0xffff_8000_0000_1000, &buf),
            Err(Fault::NotMapped(0xffff_8000_0000_1000))
        );
        kassert_eq!(
            table.copy_from_user(u64::MAX - 4, &mut buf),
            Err(Fault::NotMapped(u64::MAX - 4))
        );
        kassert_eq!(
            table.copy_from_user(STACK_TOP - 8, &mut buf),
            Err(Fault::NotMapped(STACK_TOP)),
        ); // the copy stops at the first unmapped page
        kassert_eq!(
            table.copy_to_user(USER_END - 8, &buf),
            Err(Fault::NotMapped(USER_END - 8))
        );
        kassert_eq!(table.copy_to_user(CODE, &buf), Err(Fault::ReadOnly(CODE)),); // code is read-only
        // Across a page boundary, both pages mapped.
        let next = Frame::alloc_zeroed().ok_or("no frame")?;
        kassert_eq!(
            paddr_of(table.map(DATA + 4096, next, UserFlags::WRITE)),
            Ok(None)
        );
        let msg = *b"across the page!";
        table
            .copy_to_user(DATA + 4096 - 7, &msg)
            .map_err(|e| format!("{e:?}"))?;
        table
            .copy_from_user(DATA + 4096 - 7, &mut buf)
            .map_err(|e| format!("{e:?}"))?;
        kassert_eq!(buf, msg);
        // After fork both sides are read-only, same contents.
        let child = table.fork().ok_or("fork")?;
        kassert_eq!(table.copy_to_user(DATA, &msg), Err(Fault::ReadOnly(DATA)));
        kassert_eq!(child.copy_to_user(DATA, &msg), Err(Fault::ReadOnly(DATA)));
        let mut from_child = [0u8; 16];
        child
            .copy_from_user(DATA + 4096 - 7, &mut from_child)
            .map_err(|e| format!("{e:?}"))?;
        kassert_eq!(from_child, msg);
        // One reference per page still: the child shares the last-level
        // table, not the pages.
        kassert_eq!(child.refcount_at(DATA), Some(1));
        drop(child);
        kassert_eq!(table.refcount_at(DATA), Some(1));
        kassert_eq!(table.protect(DATA, UserFlags::WRITE), Ok(()));
        kassert_eq!(table.copy_to_user(DATA, &msg), Ok(()));
        // A write fault in a child copies its table, then the page; the
        // parent's next write fault takes its table back: the page the
        // child copied is the parent's alone again, the others are still
        // mapped by the child's copy of the table.
        let child = table.fork().ok_or("fork")?;
        kassert_eq!(
            child.write_fault(DATA, UserFlags::WRITE),
            Ok(WriteFault::Copied)
        );
        kassert_eq!(child.copy_to_user(DATA, b"child"), Ok(()));
        kassert_eq!(table.refcount_at(DATA), Some(1));
        kassert_eq!(
            table.write_fault(DATA + 4096, UserFlags::WRITE),
            Ok(WriteFault::Copied),
            "the child's table copy maps this page too"
        );
        kassert_eq!(
            table.write_fault(DATA, UserFlags::WRITE),
            Ok(WriteFault::Writable)
        );
        let mut mine = [0u8; 5];
        table
            .copy_from_user(DATA, &mut mine)
            .map_err(|e| format!("{e:?}"))?;
        kassert_eq!(&mine, &msg[..5]);
        kassert_eq!(
            child.write_fault(DATA + 8192, UserFlags::WRITE),
            Err(MapError::NotMapped)
        );
        Ok(())
    }
);

ktest!(
    async fn user_syscalls_round_trip_registers() {
        let table = address_space(SYSCALLS)?;
        let mut ctx = UserContext::new(CODE, STACK_TOP);
        let callee = [0x1111, 0x2222, 0x3333, 0x4444, 0x5555, 0x6666];
        [ctx.rbx, ctx.rbp, ctx.r12, ctx.r13, ctx.r14, ctx.r15] = callee;
        kassert_eq!(run_to_trap(&mut ctx, &table), Trap::Syscall);
        kassert_eq!(ctx.rax, 39);
        kassert_eq!(ctx.rip, CODE + 7); // rip is after the syscall
        kassert_eq!(ctx.rcx, ctx.rip);
        kassert_eq!(ctx.r11, ctx.rflags);
        kassert_eq!(ctx.rsp, STACK_TOP);
        kassert_eq!(
            [ctx.rbx, ctx.rbp, ctx.r12, ctx.r13, ctx.r14, ctx.r15],
            callee
        );

        let value = 0x1234_5678_9abc_def0;
        ctx.rax = value;
        kassert_eq!(run_to_trap(&mut ctx, &table), Trap::Syscall);
        kassert_eq!(ctx.rax, 60);
        kassert_eq!(ctx.syscall_args()[0], value); // the return value reached rdi
        kassert_eq!(
            [ctx.rbx, ctx.rbp, ctx.r12, ctx.r13, ctx.r14, ctx.r15],
            callee
        );

        kassert_eq!(
            run_to_trap(&mut ctx, &table),
            Trap::Exception {
                vector: vector::INVALID_OPCODE,
                error_code: 0
            }
        );
        kassert_eq!(ctx.rip, CODE + SYSCALLS_UD2);
        Ok(())
    }
);

ktest!(
    async fn user_iret_path_restores_rcx_r11() {
        let table = address_space(SHOW_RCX_R11)?;
        let mut ctx = UserContext::new(CODE, STACK_TOP);
        // rcx != rip, so `sysretq` cannot restore this context: `iretq`.
        ctx.rcx = 0xc0ff_ee00;
        ctx.r11 = 0x8d5;
        ctx.rflags = 0x203; // CF set
        kassert_eq!(run_to_trap(&mut ctx, &table), Trap::Syscall);
        kassert_eq!(ctx.rax, 0xc0ff_ee00);
        kassert_eq!(ctx.rdx, 0x8d5);
        kassert_eq!(ctx.rflags & 1, 1); // CF survived
        Ok(())
    }
);

ktest!(
    async fn user_exception_saves_every_register() {
        // The exception entry stores the registers straight into the
        // context (`tine_user_exception`): each must come back as it went.
        let table = address_space(WRITE_UNMAPPED)?;
        let mut ctx = UserContext::new(CODE, STACK_TOP - 0x88);
        let values: [u64; 15] = core::array::from_fn(|i| 0x0101_0101_0101_0101 * (i as u64 + 1));
        [
            ctx.rax, ctx.rbx, ctx.rcx, ctx.rdx, ctx.rsi, ctx.rdi, ctx.rbp, ctx.r8, ctx.r9, ctx.r10,
            ctx.r11, ctx.r12, ctx.r13, ctx.r14, ctx.r15,
        ] = values;
        ctx.rflags = 0x203 | 0x80 | 0x10; // CF, SF, AF
        let trap = run_to_trap(&mut ctx, &table);
        kassert_eq!(
            trap,
            Trap::PageFault {
                addr: 0x5000_0000,
                error_code: 0b110
            }
        );
        kassert_eq!(
            [
                ctx.rax, ctx.rbx, ctx.rcx, ctx.rdx, ctx.rsi, ctx.rdi, ctx.rbp, ctx.r8, ctx.r9,
                ctx.r10, ctx.r11, ctx.r12, ctx.r13, ctx.r14, ctx.r15,
            ],
            values
        );
        kassert_eq!(ctx.rip, CODE);
        kassert_eq!(ctx.rsp, STACK_TOP - 0x88);
        kassert_eq!(ctx.rflags & 0x2d7, 0x203 | 0x80 | 0x10);
        Ok(())
    }
);

ktest!(
    async fn user_write_to_unmapped_is_a_page_fault() {
        let table = address_space(WRITE_UNMAPPED)?;
        let mut ctx = UserContext::new(CODE, STACK_TOP);
        match run_to_trap(&mut ctx, &table) {
            Trap::PageFault { addr, error_code } => {
                kassert_eq!(addr, 0x5000_0000);
                kassert_eq!(error_code & 1, 0); // not present
                kassert_eq!(error_code & 2, 2); // write
                kassert_eq!(error_code & 4, 4); // user
            }
            other => return Err(format!("expected a page fault, got {other:?}")),
        }
        kassert_eq!(ctx.rip, CODE); // rip is at the faulting instruction
        // Map the page and run again: the same instruction now completes.
        let page = Frame::alloc_zeroed().ok_or("no frame")?;
        kassert_eq!(
            paddr_of(table.map(0x5000_0000, page, UserFlags::WRITE)),
            Ok(None)
        );
        ctx.rax = 0xfeed;
        match run_to_trap(&mut ctx, &table) {
            // After the store: the next bytes are zero (`add [rax], al`,
            // rax = 0xfeed, unmapped), a read-write fault at 0xfeed.
            Trap::PageFault { addr, .. } => kassert_eq!(addr, 0xfeed),
            other => return Err(format!("expected a second fault, got {other:?}")),
        }
        let mut stored = [0u8; 8];
        table
            .copy_from_user(0x5000_0000, &mut stored)
            .map_err(|e| format!("{e:?}"))?;
        kassert_eq!(u64::from_le_bytes(stored), 0xfeed);
        Ok(())
    }
);

ktest!(
    async fn user_timer_preempts_a_spinning_program() {
        let table = address_space(SPIN)?;
        let mut ctx = UserContext::new(CODE, STACK_TOP);
        for round in 0..2 {
            let t0 = arch::cpu::tsc::now_ns();
            let deadline = t0 + 10_000_000;
            let mut others = 0;
            loop {
                // Armed with interrupts masked (`run_until`): a deadline
                // that passed while this test was not running is taken in
                // user mode at once instead of being lost in the kernel.
                match run_until(&mut ctx, &table, deadline, 0) {
                    Trap::Interrupt {
                        vector: vector::TIMER,
                    } => break,
                    Trap::Interrupt { .. } if others < 10_000 => others += 1,
                    other => return Err(format!("round {round}: {other:?}")),
                }
            }
            let ms = (arch::cpu::tsc::now_ns() - t0) / 1_000_000;
            kassert!(ms < 5_000, "round {round}: the slice took {ms} ms");
            kassert_eq!(ctx.rip, CODE); // interrupted at the jmp
        }
        Ok(())
    }
);

ktest!(
    async fn user_sse_state_is_per_context() {
        let a_table = address_space(SSE)?;
        let b_table = address_space(SSE)?;
        let mut a = UserContext::new(CODE, STACK_TOP);
        let mut b = UserContext::new(CODE, STACK_TOP);
        a.rax = 0x1122_3344_5566_7788;
        a.rdi = DATA;
        b.rax = 0x0bad_0bad_0bad_0bad;
        b.rdi = DATA;
        kassert_eq!(run_to_trap(&mut a, &a_table), Trap::Syscall);
        // Another program clobbers xmm0 in between.
        kassert_eq!(run_to_trap(&mut b, &b_table), Trap::Syscall);
        kassert_eq!(run_to_trap(&mut a, &a_table), Trap::Syscall);
        kassert_eq!(a.rax, 60);
        let mut stored = [0u8; 8];
        a_table
            .copy_from_user(DATA, &mut stored)
            .map_err(|e| format!("{e:?}"))?;
        kassert_eq!(u64::from_le_bytes(stored), 0x1122_3344_5566_7788);
        kassert_eq!(a.fpu().fcw(), 0x37f);
        kassert_eq!(a.fpu().mxcsr() & 0xffbf, 0x1f80);
        Ok(())
    }
);

ktest!(
    async fn user_fs_base_is_visible() {
        let table = address_space(READ_FS)?;
        let value = 0xfeed_face_cafe_beefu64;
        table
            .copy_to_user(DATA + 64, &value.to_le_bytes())
            .map_err(|e| format!("{e:?}"))?;
        let mut ctx = UserContext::new(CODE, STACK_TOP);
        ctx.fs_base = DATA + 64;
        ctx.gs_base = 0x1234_0000;
        kassert_eq!(run_to_trap(&mut ctx, &table), Trap::Syscall);
        kassert_eq!(ctx.rax, value);
        kassert_eq!(ctx.fs_base, DATA + 64);
        kassert_eq!(ctx.gs_base, 0x1234_0000);
        Ok(())
    }
);

ktest!(
    async fn user_invalid_context_is_refused() {
        let table = address_space(SYSCALLS)?;
        let gp = Trap::Exception {
            vector: vector::GENERAL_PROTECTION,
            error_code: 0,
        };
        for (rip, rsp, gs) in [
            (0xffff_ffff_8000_0000, STACK_TOP, 0),
            (0x8000_0000_0000, STACK_TOP, 0),
            (CODE, 0x8000_0000_0000, 0),
            (CODE, STACK_TOP, 0xffff_8000_0000_0000),
        ] {
            let mut ctx = UserContext::new(rip, rsp);
            ctx.gs_base = gs;
            kassert_eq!(run(&mut ctx, &table), gp); // rip {rip:#x} rsp {rsp:#x} gs {gs:#x}
        }
        // Hostile flags are dropped (IOPL 3), reserved MXCSR bits too; NT
        // is the program's to keep, as on Linux.
        let mut ctx = UserContext::new(CODE, STACK_TOP);
        ctx.rflags = 0x3000 | 0x4000;
        let mut fpu = arch::user::FpuState::default();
        fpu.set_mxcsr(0xffff_ffff);
        ctx.set_fpu(fpu);
        kassert_eq!(run_to_trap(&mut ctx, &table), Trap::Syscall);
        kassert_eq!(ctx.rflags & 0x7000, 0x4000);
        kassert_eq!(ctx.rax, 39);
        Ok(())
    }
);

ktest!(
    /// `run_until_answering`: the system calls the closure answers go
    /// straight back to ring 3 with the answer in `rax` (the closure runs
    /// with interrupts masked), the first one it declines comes back as
    /// `Trap::Syscall` with the program's registers intact.
    async fn user_answered_syscalls_go_straight_back() {
        let table = address_space(GETPID_LOOP)?;
        let mut ctx = UserContext::new(CODE, STACK_TOP);
        ctx.r12 = 10;
        let mut answered = 0u64;
        let mut unmasked = 0;
        let trap = loop {
            let deadline = arch::cpu::tsc::now_ns() + 1_000_000_000;
            match arch::user::run_until_answering(
                &mut ctx,
                &table,
                deadline,
                0,
                |nr| {
                    if arch::cpu::irq::enabled() {
                        unmasked += 1;
                    }
                    (nr == 39).then(|| {
                        answered += 1;
                        1000 + answered
                    })
                },
                |_, _| false,
            ) {
                Trap::Interrupt { .. } => continue,
                other => break other,
            }
        };
        kassert_eq!(trap, Trap::Syscall);
        kassert_eq!(ctx.rax, 60);
        kassert_eq!(answered, 10);
        kassert_eq!(unmasked, 0);
        kassert_eq!(ctx.rbx, (1001..=1010).sum::<u64>());
        kassert_eq!(ctx.r12, 0);
        kassert_eq!(ctx.rip, CODE + 22);
        kassert_eq!(
            run_to_trap(&mut ctx, &table),
            Trap::Exception {
                vector: vector::INVALID_OPCODE,
                error_code: 0
            }
        );
        Ok(())
    }
);

ktest!(
    /// Fork's copy of a context (`UserContext::clone`, one copy of the
    /// area) takes the x87/SSE state while it is live in the CPU's
    /// registers (nothing saved it since the program ran), and the two
    /// count on apart.
    async fn user_fpu_clone_takes_the_live_state() {
        let a_table = address_space(FPU_COUNT)?;
        let b_table = address_space(FPU_COUNT)?;
        let mut a = UserContext::new(CODE, STACK_TOP);
        let mut fpu = arch::user::FpuState::default();
        fpu.0[XMM1..XMM1 + 8].copy_from_slice(&5u64.to_le_bytes());
        a.set_fpu(fpu);
        task::spawn_on(0, async move {
            let xmm0 = |c: &UserContext| {
                u64::from_le_bytes(c.fpu().0[XMM0..XMM0 + 8].try_into().expect("8 bytes"))
            };
            run_to_trap(&mut a, &a_table);
            let mut b = a.clone();
            let mut seen = Vec::from([a.rax, xmm0(&b)]);
            run_to_trap(&mut a, &a_table);
            run_to_trap(&mut a, &a_table);
            run_to_trap(&mut b, &b_table);
            seen.extend([a.rax, b.rax, xmm0(&a), xmm0(&b)]);
            seen
        })
        .await
        .into_iter()
        .zip([5, 5, 15, 10, 15, 10])
        .try_for_each(|(got, want)| {
            if got == want {
                Ok(())
            } else {
                Err(format!("{got} instead of {want}"))
            }
        })
    }
);

ktest!(
    /// The FXSAVEs the lazy FPU skips: releasing a state `fpu()` just saved
    /// (no user code ran since) and one whose context is gone. Two
    /// counting programs take turns on one CPU; each count must go on
    /// from where it was.
    async fn user_fpu_state_survives_skipped_saves() {
        let a_table = address_space(FPU_COUNT)?;
        let b_table = address_space(FPU_COUNT)?;
        let with_step = |step: u64| {
            let mut ctx = UserContext::new(CODE, STACK_TOP);
            let mut fpu = arch::user::FpuState::default();
            fpu.0[XMM1..XMM1 + 8].copy_from_slice(&step.to_le_bytes());
            ctx.set_fpu(fpu);
            ctx
        };
        let (mut a, mut b) = (with_step(1), with_step(100));
        task::spawn_on(0, async move {
            let xmm0 = |c: &UserContext| {
                u64::from_le_bytes(c.fpu().0[XMM0..XMM0 + 8].try_into().expect("8 bytes"))
            };
            let mut seen = Vec::new();
            run_to_trap(&mut a, &a_table);
            seen.push(a.rax);
            // Saved here, so the switch to b need not save it again.
            seen.push(xmm0(&a));
            run_to_trap(&mut b, &b_table);
            seen.push(b.rax);
            run_to_trap(&mut a, &a_table);
            seen.push(a.rax);
            // Changed since the last save: the switch must save it.
            run_to_trap(&mut b, &b_table);
            seen.push(b.rax);
            run_to_trap(&mut a, &a_table);
            seen.push(a.rax);
            // A context dropped while its state is live, then another.
            let mut c = with_step(7);
            run_to_trap(&mut c, &a_table);
            seen.push(c.rax);
            drop(c);
            run_to_trap(&mut b, &b_table);
            seen.push(b.rax);
            seen
        })
        .await
        .into_iter()
        .zip([1, 1, 100, 2, 200, 3, 7, 300])
        .try_for_each(|(got, want)| {
            if got == want {
                Ok(())
            } else {
                Err(format!("{got} instead of {want}"))
            }
        })
    }
);

/// `mov qword ptr [0x50000000], rax; syscall`
const WRITE_UNMAPPED_THEN_SYSCALL: &[u8] = &[
    0x48, 0x89, 0x04, 0x25, 0x00, 0x00, 0x00, 0x50, // mov [0x50000000], rax
    0x0f, 0x05, // syscall
];

/// One `run_until_answering` of `ctx` (a second's deadline, no system
/// call answered) that hands every page fault to `resolve`.
fn run_resolving(
    ctx: &mut UserContext,
    table: &UserPageTable,
    resolve: impl FnMut(u64, u64) -> bool,
) -> Trap {
    let deadline = arch::cpu::tsc::now_ns() + 1_000_000_000;
    arch::user::run_until_answering(ctx, table, deadline, 0, |_| None, resolve)
}

/// Resolves a fault at `addr` by mapping a fresh zeroed, writable page
/// there: whether it could.
fn map_zeroed(table: &UserPageTable, addr: u64) -> bool {
    let Some(frame) = Frame::alloc_zeroed() else {
        return false;
    };
    table.map(addr & !0xfff, frame, UserFlags::WRITE).is_ok()
}

ktest!(
    /// `run_until_answering`'s `resolve`: a page fault it resolves (here
    /// by mapping the page) re-runs the faulting instruction without
    /// returning; it runs with interrupts masked and gets CR2 and the
    /// error code.
    async fn user_resolved_faults_go_straight_back() {
        let table = address_space(WRITE_UNMAPPED_THEN_SYSCALL)?;
        let mut ctx = UserContext::new(CODE, STACK_TOP);
        ctx.rax = 0x5eed_f00d;
        let mut faults = Vec::new();
        let mut unmasked = 0;
        let trap = loop {
            let trap = run_resolving(&mut ctx, &table, |addr, error_code| {
                if arch::cpu::irq::enabled() {
                    unmasked += 1;
                }
                faults.push((addr, error_code));
                map_zeroed(&table, addr)
            });
            match trap {
                Trap::Interrupt { .. } => continue,
                other => break other,
            }
        };
        kassert_eq!(trap, Trap::Syscall);
        kassert_eq!(faults, [(0x5000_0000, 6)]);
        kassert_eq!(unmasked, 0);
        let mut stored = [0u8; 8];
        table
            .copy_from_user(0x5000_0000, &mut stored)
            .map_err(|e| format!("{e:?}"))?;
        kassert_eq!(u64::from_le_bytes(stored), 0x5eed_f00d);
        Ok(())
    }
);

ktest!(
    /// A trap from user code that had AC and DF set (both its to keep:
    /// interrupt gates do not clear them) reaches the kernel with both
    /// clear (the IDT stub), and the program keeps them.
    async fn user_trap_with_ac_and_df_set_leaves_them_clear_in_the_kernel() {
        const AC_DF: u64 = 0x4_0000 | 0x400;
        let table = address_space(WRITE_UNMAPPED_THEN_SYSCALL)?;
        let mut ctx = UserContext::new(CODE, STACK_TOP);
        ctx.rflags |= AC_DF;
        let mut seen = Vec::new();
        let trap = loop {
            let trap = run_resolving(&mut ctx, &table, |addr, _| {
                seen.push(arch::cpu::rflags() & AC_DF);
                map_zeroed(&table, addr)
            });
            seen.push(arch::cpu::rflags() & AC_DF);
            match trap {
                Trap::Interrupt { .. } => continue,
                other => break other,
            }
        };
        kassert_eq!(trap, Trap::Syscall);
        kassert!(!seen.is_empty() && seen.iter().all(|&f| f == 0), "{seen:?}");
        kassert_eq!(ctx.rflags & AC_DF, AC_DF);
        Ok(())
    }
);

/// A context, its table and the step that is to run it next.
type Baton = spin::Mutex<Option<(UserContext, UserPageTable, u64)>>;

/// One step of `user_fpu_state_follows_a_context_handed_between_cpus`, on
/// CPU `step % ncpus`: takes the context from `baton` (reading its FPU
/// state first on even steps), runs it to its next system call, hands it
/// on and keeps running for a while with the context's x87/SSE state still
/// in this CPU's registers (released only when this poll ends). Returns
/// the trap, the count the program showed in `rax` and the xmm0 value
/// read before the entry (even steps).
async fn fpu_step(step: u64, baton: Arc<Baton>) -> (Trap, u64, Option<u64>) {
    let (mut ctx, table) = loop {
        {
            let mut slot = baton.lock();
            if slot.as_ref().is_some_and(|b| b.2 == step)
                && let Some((ctx, table, _)) = slot.take()
            {
                break (ctx, table);
            }
        }
        task::yield_now().await;
    };
    let read = step.is_multiple_of(2).then(|| {
        let fpu = ctx.fpu();
        u64::from_le_bytes(fpu.0[XMM0..XMM0 + 8].try_into().expect("8 bytes"))
    });
    let trap = run_to_trap(&mut ctx, &table);
    let count = ctx.rax;
    *baton.lock() = Some((ctx, table, step + 1));
    let until = arch::cpu::tsc::now_ns() + 100_000;
    while arch::cpu::tsc::now_ns() < until {
        core::hint::spin_loop();
    }
    (trap, count, read)
}

ktest!(
    /// A context handed from task to task (and CPU to CPU) while the task
    /// that ran it is still being polled: its x87/SSE state is live in the
    /// old CPU's registers until that poll ends, and the next entry (or
    /// `fpu()`) on another CPU must wait for it to be saved, not load the
    /// stale copy (was the "FPU state held by cpu 1 entered on 2" panic).
    /// Each step's task takes the context while the previous one spins
    /// with it live.
    async fn user_fpu_state_follows_a_context_handed_between_cpus() {
        const STEPS: u64 = 200;
        let n = task::ncpus() as u64;
        let table = address_space(FPU_COUNT)?;
        let mut ctx = UserContext::new(CODE, STACK_TOP);
        let mut fpu = arch::user::FpuState::default();
        fpu.0[XMM1..XMM1 + 8].copy_from_slice(&1u64.to_le_bytes());
        ctx.set_fpu(fpu);
        let baton: Arc<Baton> = Arc::new(spin::Mutex::new(Some((ctx, table, 0))));
        let spawn = |step: u64| {
            task::Builder::new()
                .cpu((step % n) as usize)
                .pinned()
                .spawn(fpu_step(step, baton.clone()))
        };
        // Every step runs (no early return leaves a task waiting for the
        // baton); the results are checked at the end.
        let mut wrong = Vec::new();
        let mut running = spawn(0);
        for step in 0..STEPS {
            let next = (step + 1 < STEPS).then(|| spawn(step + 1));
            let (trap, count, read) = running.await;
            if trap != Trap::Syscall || count != step + 1 || read.is_some_and(|r| r != step) {
                wrong.push((step, trap, count, read));
            }
            match next {
                Some(handle) => running = handle,
                None => break,
            }
        }
        kassert_eq!(wrong, Vec::new());
        let (ctx, _table, _) = baton
            .lock()
            .take()
            .ok_or("the context was not handed back")?;
        let fpu = ctx.fpu();
        kassert_eq!(&fpu.0[XMM0..XMM0 + 8], &STEPS.to_le_bytes());
        kassert_eq!(&fpu.0[XMM1..XMM1 + 8], &1u64.to_le_bytes());
        Ok(())
    }
);

/// Runs [`SYSCALLS`] to its end on whichever CPU polls the task.
fn syscalls_to_the_end() -> Result<usize, String> {
    let table = address_space(SYSCALLS)?;
    let mut ctx = UserContext::new(CODE, STACK_TOP);
    let cpu = arch::cpu::id();
    for _ in 0..100 {
        if run_to_trap(&mut ctx, &table) != Trap::Syscall || ctx.rax != 39 {
            return Err(format!("cpu {cpu}: first trap wrong, rax {}", ctx.rax));
        }
        ctx.rax = cpu as u64;
        if run_to_trap(&mut ctx, &table) != Trap::Syscall || ctx.rdi != cpu as u64 {
            return Err(format!("cpu {cpu}: second trap wrong, rdi {}", ctx.rdi));
        }
        ctx.rip = CODE;
    }
    Ok(cpu)
}

ktest!(
    async fn user_programs_on_every_cpu_at_once() {
        let handles: Vec<_> = (0..task::ncpus())
            .map(|cpu| {
                task::Builder::new()
                    .cpu(cpu)
                    .pinned()
                    .spawn(async { syscalls_to_the_end() })
            })
            .collect();
        for (cpu, h) in handles.into_iter().enumerate() {
            kassert_eq!(h.await, Ok(cpu));
        }
        Ok(())
    }
);

ktest!(
    async fn user_program_migrates_between_cpus() {
        let n = task::ncpus();
        let table = address_space(SYSCALLS)?;
        let ctx = UserContext::new(CODE, STACK_TOP);
        // Step i runs on CPU i % n: first syscall, second, then ud2.
        let mut state = (ctx, table);
        let mut traps = Vec::new();
        for step in 0..3 {
            let (trap, cpu, s) = task::Builder::new()
                .cpu(step % n)
                .pinned()
                .spawn(async move {
                    let (mut ctx, table) = state;
                    if step == 1 {
                        ctx.rax = 777;
                    }
                    let trap = run_to_trap(&mut ctx, &table);
                    (trap, arch::cpu::id(), (ctx, table))
                })
                .await;
            kassert_eq!(cpu, step % n);
            traps.push(trap);
            state = s;
        }
        kassert_eq!(traps[0], Trap::Syscall);
        kassert_eq!(traps[1], Trap::Syscall);
        kassert_eq!(state.0.rdi, 777);
        kassert_eq!(
            traps[2],
            Trap::Exception {
                vector: vector::INVALID_OPCODE,
                error_code: 0
            }
        );
        Ok(())
    }
);
