//! # tine-rt — the runtime of Tine's Rust user programs
//!
//! A `no_std` program links this crate and names its main function with
//! [`entry!`]:
//!
//! ```ignore
//! #![no_std]
//! #![no_main]
//! tine_rt::entry!(main);
//! fn main(args: tine_rt::Args) -> i32 {
//!     tine_rt::println!("hello from pid {}", tine_rt::syscall::getpid());
//!     0
//! }
//! ```
//!
//! What it provides:
//! - [`start`]: `_start`, which hands the initial stack pointer to Rust,
//!   reads argc/argv/envp/auxv from the System V initial stack, calls the
//!   program's main and exits with its status ([`Args`], [`env`]);
//! - [`syscall`]: Linux x86-64 system calls through the `syscall`
//!   instruction, with safe wrappers that return [`syscall::Errno`];
//! - [`io`]: `print!`/`println!` to fd 1 and `eprint!`/`eprintln!` to fd 2,
//!   one `write` per line where the line fits the buffer;
//! - [`tty`]: termios (`TCGETS`/`TCSETS`) and the foreground process
//!   group (`TIOCGPGRP`/`TIOCSPGRP`);
//! - [`heap`]: the global allocator (size classes over anonymous `mmap`),
//!   so programs can use `alloc` (`extern crate alloc;`);
//! - [`memcheck`]: what the fuzzer and the stress test check at the end
//!   of a run (memory back, `sysctl debug.check`);
//! - a panic handler that reports the panic on fd 2 and exits with 127.
//!
//! Tine speaks the Linux ABI, so these programs run unchanged on Linux too
//! (for comparing behaviour).
#![no_std]

pub mod heap;
pub mod io;
pub mod memcheck;
pub mod start;
pub mod syscall;
pub mod tty;

pub use start::{Args, env};

/// Declares the program's main function: `entry!(main)` with
/// `fn main(args: Args) -> i32`; the return value is the exit status.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        #[unsafe(no_mangle)]
        extern "Rust" fn __tine_rt_main(args: $crate::Args) -> i32 {
            let main: fn($crate::Args) -> i32 = $main;
            main(args)
        }
    };
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    eprintln!("panic: {info}");
    syscall::exit_group(127)
}
