//! What the fuzzer and the stress test check once their children are
//! gone: that the memory came back and the kernel's invariants hold.

use crate::println;
use crate::syscall::{self, nr};
pub use abi::record::MemRecord;

/// Frames (of 4 KiB) that may stay missing after a run: the per-CPU frame
/// caches and what the exits left in flight.
const FRAMES_SLACK: u64 = 512;
/// Heap bytes in use that may stay above the figure before the run.
const HEAP_SLACK: i64 = 1 << 20;

/// The kernel's figures now (all zero if `meminfo` fails).
pub fn meminfo() -> MemRecord {
    let mut buf = [0u8; MemRecord::SIZE];
    match syscall::tine_info(nr::TINE_MEMINFO, &mut buf) {
        Ok(_) => MemRecord::from_bytes(&buf).unwrap_or_default(),
        Err(_) => MemRecord::default(),
    }
}

/// Compares the figures now with `before` (taken before the run) and runs
/// `sysctl debug.check`, printing one line per finding prefixed `who:`.
/// Frames the heap claimed meanwhile (and keeps) count as returned; at
/// most 2 MiB of frames and 1 MiB of heap in use may be missing. Returns
/// whether everything held.
pub fn after_run(who: &str, before: &MemRecord) -> bool {
    // Frames freed by exiting processes go back on their CPU's cache
    // first; give the other CPUs a moment.
    let _ = syscall::nanosleep(200_000_000);
    let after = meminfo();
    let heap_grew_frames = after.heap_claimed.saturating_sub(before.heap_claimed) / 4096;
    let heap_delta = after.heap_allocated as i64 - before.heap_allocated as i64;
    println!(
        "{who}: memory: {} frames free before, {} after (+{} the heap claimed); heap in use {:+} bytes",
        before.frames_free, after.frames_free, heap_grew_frames, heap_delta
    );
    let mut ok = true;
    let free_after = after.frames_free + heap_grew_frames;
    if free_after + FRAMES_SLACK < before.frames_free {
        println!(
            "{who}: FAILED: {} KiB of frames did not come back",
            (before.frames_free - free_after) * 4
        );
        ok = false;
    }
    if heap_delta > HEAP_SLACK {
        println!("{who}: FAILED: the heap holds {heap_delta} bytes more than before");
        ok = false;
    }
    match syscall::debug_check(5) {
        Ok(0) => println!("{who}: debug.check: the kernel's invariants hold"),
        Ok(n) => {
            println!("{who}: FAILED: debug.check found {n} problems (see the console)");
            ok = false;
        }
        Err(e) => {
            println!("{who}: FAILED: sysctl debug.check: {e}");
            ok = false;
        }
    }
    ok
}
