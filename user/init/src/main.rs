//! `/bin/init`: the first user program. For now it greets, shows its pid
//! and exits with status 0; it will start the shell once there is one.
#![no_std]
#![no_main]

use tine_rt::{Args, println, syscall};

tine_rt::entry!(main);

fn main(_args: Args) -> i32 {
    println!("init: hello from user space (pid {})", syscall::getpid());
    0
}
