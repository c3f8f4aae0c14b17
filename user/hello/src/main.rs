//! `/bin/hello`: prints its arguments, one per line, and exits 0; with
//! `--panic` as its first argument it panics instead (the runtime then
//! reports the panic on stderr and exits with 127).
#![no_std]
#![no_main]

use tine_rt::{Args, println};

tine_rt::entry!(main);

fn main(args: Args) -> i32 {
    if args.get(1) == Some(b"--panic") {
        panic!("hello: asked to panic");
    }
    println!("hello: {} argument(s)", args.len());
    for (i, arg) in args.iter().enumerate() {
        println!(
            "argv[{i}] = {}",
            core::str::from_utf8(arg).unwrap_or("<not UTF-8>")
        );
    }
    0
}
