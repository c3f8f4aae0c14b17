//! `cargo xtask gdb`: boot Tine halted under QEMU's gdb stub and debug it.
//!
//! QEMU starts with `-S` (no CPU runs) and a gdb stub on a free local port;
//! gdb loads the kernel ELF (with its symbols), Tine's commands
//! (`gdb/tine.py`: `tine-tasks` prints the task each CPU polls), connects,
//! sets a hardware breakpoint at the kernel's entry (`kernel::init::start`;
//! hardware, because the higher-half kernel is not mapped yet when the CPU
//! comes out of reset) and continues to it. The serial console goes to
//! `target/gdb-serial.log` so the terminal is gdb's; Ctrl-C is gdb's too
//! (QEMU runs in a process group of its own, xtask catches SIGINT and
//! waits). Quitting gdb stops QEMU. `--batch COMMAND` (repeatable) runs gdb non-interactively: the
//! commands after the entry breakpoint, then it kills the machine (the
//! test suite drives `tine-tasks` that way). Docs: `docs/gdb.md`.

use std::fs::File;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::build::{self, Profile};
use crate::qemu::QemuConfig;
use crate::run::{MachineArgs, parse_smp};
use crate::{deps, display_command, initramfs, target_dir};

/// The function gdb stops at first: where `arch` hands the boot CPU to the
/// kernel.
pub const ENTRY: &str = "kernel::init::start";
/// Tine's gdb commands, written next to the kernel when gdb starts.
const SCRIPT: &str = include_str!("gdb/tine.py");

#[derive(Args)]
pub struct GdbArgs {
    /// Number of CPUs (1 to 64).
    #[arg(long, default_value_t = 4, value_parser = parse_smp)]
    smp: u32,
    #[command(flatten)]
    machine: MachineArgs,
    /// Debug the release kernel (the debug one is the default).
    #[arg(long)]
    release: bool,
    /// Run gdb without a prompt: these commands once the entry breakpoint
    /// is reached, then kill the machine and quit. Repeatable.
    #[arg(long, value_name = "COMMAND")]
    batch: Vec<String>,
    /// The kernel command line, after `--`.
    #[arg(last = true, value_name = "KERNEL ARGS")]
    kernel_args: Vec<String>,
}

pub fn main(args: &GdbArgs) -> Result<()> {
    let output = session(args)?;
    if !args.batch.is_empty() {
        print!("{output}");
    }
    Ok(())
}

/// Builds what `args` asks for and runs one gdb session over a halted
/// QEMU; with `--batch`, returns what gdb printed (else gdb has the
/// terminal and this returns "").
fn session(args: &GdbArgs) -> Result<String> {
    deps::ensure_qemu()?;
    deps::ensure_kernel_target()?;
    let initrd = initramfs::build_initramfs(&[])?;
    let kernel = build::build_kernel(Profile::from_release_flag(args.release))?;
    let config = QemuConfig {
        cpu: args.machine.cpu.clone(),
        smp: args.smp,
        mem_mib: args.machine.mem_mib,
        accel: args.machine.accel,
        kernel,
        initrd: Some(initrd),
        append: args.kernel_args.join(" "),
        interactive: false,
    };
    run(&config, &args.batch)
}

/// Boots `config` halted under gdb: interactive with no `batch` commands,
/// else runs them after the entry breakpoint and returns gdb's output.
pub fn run(config: &QemuConfig, batch: &[String]) -> Result<String> {
    deps::ensure_tool("gdb", "gdb")?;
    let script = target_dir().join("tine-gdb.py");
    std::fs::write(&script, SCRIPT)
        .with_context(|| format!("cannot write {}", script.display()))?;
    let log = target_dir().join("gdb-serial.log");
    let port = free_port()?;
    let mut qemu = config.command();
    // Its own process group: the terminal's Ctrl-C is gdb's (it stops
    // the CPUs through the stub) and must not kill QEMU too.
    qemu.process_group(0);
    qemu.args(["-gdb", &format!("tcp:127.0.0.1:{port}"), "-S"])
        .stdin(Stdio::null())
        .stdout(File::create(&log).with_context(|| format!("cannot create {}", log.display()))?)
        .stderr(Stdio::inherit());
    println!("$ {}", display_command(&qemu));
    println!(
        "(the serial console goes to {}: `tail -f` it in another terminal)",
        log.display()
    );
    if batch.is_empty() {
        // The terminal's Ctrl-C goes to its whole foreground process
        // group: gdb stops the CPUs on it, and xtask must live on to kill
        // QEMU once gdb quits (without a handler, SIGINT killed xtask and
        // left gdb and QEMU behind). There is no handler before this one.
        ctrlc::set_handler(|| {}).context("cannot catch Ctrl-C")?;
    }
    let mut qemu = qemu.spawn().context("cannot start QEMU")?;

    let mut gdb = gdb_command(&config.kernel, &script, port, batch);
    println!("$ {}", display_command(&gdb));
    let result = if batch.is_empty() {
        gdb.status()
            .context("cannot start gdb")
            .map(|status| (status, String::new()))
    } else {
        gdb.stdin(Stdio::null())
            .output()
            .context("cannot start gdb")
            .map(|out| {
                let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
                text.push_str(&String::from_utf8_lossy(&out.stderr));
                (out.status, text)
            })
    };
    // gdb's `kill` (or its exit) normally ends QEMU; make sure.
    let _ = qemu.kill();
    let _ = qemu.wait();
    let (status, text) = result?;
    if !status.success() {
        bail!("gdb failed ({status}):\n{text}");
    }
    Ok(text)
}

/// The test suite's check of the debugger path (`docs/testing.md`): boot
/// `kernel` with `test=boot` under gdb at 2 CPUs, stop at the entry, then
/// at `arch::cpu::exit_qemu` (called by the boot task), where
/// `tine-tasks` must show that task polled on one CPU and every CPU listed.
pub fn check(kernel: Option<&Path>, initrd: Option<&Path>) -> Result<String> {
    let kernel = kernel.context("not run: the kernel did not build")?;
    let initrd = initrd.context("not run: the initramfs did not build")?;
    let config = QemuConfig {
        cpu: None,
        smp: 2,
        mem_mib: 512,
        accel: crate::qemu::Accel::Tcg,
        kernel: kernel.to_path_buf(),
        initrd: Some(initrd.to_path_buf()),
        append: String::from("test=boot"),
        interactive: false,
    };
    let commands = ["hbreak arch::cpu::exit_qemu", "continue", "tine-tasks"].map(String::from);
    let output = run(&config, &commands)?;
    for wanted in [
        &format!("Breakpoint 1, {ENTRY}"),
        "arch::cpu::exit_qemu",
        "polls task#",
        "'boot'",
        "cpu0: ",
        "cpu1: ",
    ] {
        if !output.contains(wanted) {
            bail!("gdb's output lacks {wanted:?}:\n{output}");
        }
    }
    Ok(String::from("entry breakpoint, tine-tasks on 2 CPUs"))
}

/// gdb on `kernel` with Tine's script, connected to the stub on `port` and
/// stopped at [`ENTRY`]; with `batch` commands, non-interactive.
fn gdb_command(kernel: &Path, script: &Path, port: u16, batch: &[String]) -> Command {
    let mut gdb = Command::new("gdb");
    gdb.arg("-q");
    if !batch.is_empty() {
        gdb.arg("-batch");
    }
    gdb.arg("-x").arg(script).arg(kernel);
    let mut ex = |command: &str| {
        gdb.args(["-ex", command]);
    };
    // QEMU opens its stub a moment after it starts: let gdb retry.
    ex("set tcp connect-timeout 30");
    ex(&format!("target remote 127.0.0.1:{port}"));
    ex(&format!("hbreak {ENTRY}"));
    ex("continue");
    for command in batch {
        ex(command);
    }
    if !batch.is_empty() {
        ex("kill");
    }
    gdb
}

/// A local TCP port nobody listens on right now.
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot find a free local port")?;
    Ok(listener.local_addr()?.port())
}
