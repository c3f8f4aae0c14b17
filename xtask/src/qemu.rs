//! QEMU: typed configuration, the command line it renders, and runs under a
//! timeout.
//!
//! [`QemuConfig`] is the only place a QEMU command line is written.
//! [`boot`] runs one non-interactively (serial on a pipe, captured, the
//! child killed at the deadline); [`boot_interactive`] gives the terminal to
//! QEMU (serial and monitor multiplexed on stdio, so Ctrl-A X quits).
//! [`Outcome`] decodes the exit status through the isa-debug-exit mapping
//! ([`KernelExit`]).

use std::ffi::OsString;
use std::fmt;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::Serialize;

use crate::deps::QEMU;

/// The I/O port of QEMU's `isa-debug-exit` device.
///
/// The kernel ends a run by writing a code (`arch::ExitCode`, mirrored by
/// [`KernelExit`]) to this port; QEMU then exits with host status
/// `(code << 1) | 1`. So every kernel-chosen status is odd and at least 33,
/// and can't be confused with QEMU's own 0 (quit, triple fault with
/// `-no-reboot`) or 1 (QEMU error).
pub const DEBUG_EXIT_IOBASE: u16 = 0xf4;
/// The width of the `isa-debug-exit` port: the kernel writes a 32-bit value.
pub const DEBUG_EXIT_IOSIZE: u16 = 0x04;

/// The code the kernel wrote to [`DEBUG_EXIT_IOBASE`], decoded from QEMU's
/// exit status. The discriminants are the kernel's `arch::ExitCode` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelExit {
    /// 0x10, host status 33: everything asked for ran and passed.
    Success = 0x10,
    /// 0x11, host status 35: a test or benchmark reported failure.
    Failure = 0x11,
    /// 0x12, host status 37: the kernel panicked.
    Panic = 0x12,
    /// 0x13, host status 39: an unexpected CPU exception in kernel mode.
    Exception = 0x13,
}

impl KernelExit {
    const ALL: [Self; 4] = [Self::Success, Self::Failure, Self::Panic, Self::Exception];

    /// The status QEMU exits with when the kernel writes this code.
    pub const fn host_status(self) -> i32 {
        ((self as i32) << 1) | 1
    }

    /// The kernel code behind a QEMU exit status, if it is one.
    pub fn from_host_status(status: i32) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|code| code.host_status() == status)
    }

    fn meaning(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure reported by the kernel",
            Self::Panic => "kernel panic",
            Self::Exception => "kernel exception",
        }
    }
}

/// The accelerator QEMU runs the guest with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Accel {
    /// Multi-threaded TCG (software emulation, one host thread per vCPU).
    Tcg,
    /// KVM with the host's CPU model (only where KVM works well).
    Kvm,
}

/// The `-cpu` model when none is asked for: `qemu64` under TCG (the model
/// Linux runs fastest on there: with `max` it picks paths TCG emulates
/// slowly, and Tine and Linux are compared on the same model, see
/// `docs/benchmarks.md`), the host's under KVM.
pub fn default_cpu(accel: Accel) -> &'static str {
    match accel {
        Accel::Tcg => "qemu64",
        Accel::Kvm => "host",
    }
}

/// One QEMU machine: what varies between boots. Everything else on the
/// command line is fixed by [`QemuConfig::args`].
#[derive(Clone, Debug)]
pub struct QemuConfig {
    pub smp: u32,
    /// The `-cpu` model; `None`: [`default_cpu`] for the accelerator.
    pub cpu: Option<String>,
    pub mem_mib: u32,
    pub accel: Accel,
    /// The kernel ELF, loaded through PVH.
    pub kernel: PathBuf,
    /// Passed to the kernel as a PVH module.
    pub initrd: Option<PathBuf>,
    /// The kernel command line.
    pub append: String,
    /// Serial and QEMU monitor multiplexed on the terminal (Ctrl-A X
    /// quits), instead of serial alone on stdout with no monitor.
    pub interactive: bool,
}

impl QemuConfig {
    /// The arguments after `qemu-system-x86_64`.
    pub fn args(&self) -> Vec<OsString> {
        let accel = match self.accel {
            Accel::Tcg => "tcg,thread=multi",
            Accel::Kvm => "kvm",
        };
        let cpu = self.cpu.as_deref().unwrap_or(default_cpu(self.accel));
        let mut args: Vec<OsString> = ["-M", "q35", "-cpu", cpu, "-accel", accel]
            .map(OsString::from)
            .into();
        args.extend(["-smp".into(), self.smp.to_string().into()]);
        args.extend(["-m".into(), self.mem_mib.to_string().into()]);
        args.extend(["-kernel".into(), self.kernel.clone().into()]);
        if let Some(initrd) = &self.initrd {
            args.extend(["-initrd".into(), initrd.clone().into()]);
        }
        args.extend(["-append".into(), OsString::from(&self.append)]);
        args.extend(["-display", "none", "-no-reboot"].map(OsString::from));
        let debug_exit =
            format!("isa-debug-exit,iobase={DEBUG_EXIT_IOBASE:#x},iosize={DEBUG_EXIT_IOSIZE:#04x}");
        args.extend(["-device".into(), debug_exit.into()]);
        let serial: &[&str] = if self.interactive {
            &["-serial", "mon:stdio"]
        } else {
            &["-serial", "stdio", "-monitor", "none"]
        };
        args.extend(serial.iter().map(OsString::from));
        args
    }

    /// The full command: `qemu-system-x86_64` and [`Self::args`].
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(QEMU);
        cmd.args(self.args());
        cmd
    }
}

/// How a QEMU run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The kernel wrote an exit code to the isa-debug-exit port.
    Kernel(KernelExit),
    /// QEMU exited with a status that is not a kernel code.
    Status(i32),
    /// QEMU was killed by a signal it did not get from us.
    Signal,
    /// The run hit its deadline and we killed QEMU.
    TimedOut(Duration),
}

impl Outcome {
    /// Decodes QEMU's exit code (`None`: killed by a signal).
    pub fn from_exit_code(code: Option<i32>) -> Self {
        match code {
            Some(status) => {
                KernelExit::from_host_status(status).map_or(Self::Status(status), Self::Kernel)
            }
            None => Self::Signal,
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Kernel(code) => write!(f, "exit {} ({})", code.host_status(), code.meaning()),
            Self::Status(0) => write!(f, "exit 0 (QEMU quit, or the guest reset)"),
            Self::Status(1) => write!(f, "exit 1 (QEMU error)"),
            Self::Status(status) => write!(f, "exit {status}"),
            Self::Signal => write!(f, "QEMU was killed by a signal"),
            Self::TimedOut(limit) => write!(f, "timed out after {} s", limit.as_secs()),
        }
    }
}

/// A finished non-interactive run.
pub struct Boot {
    pub outcome: Outcome,
    /// Everything QEMU wrote (serial output and QEMU's own errors), with
    /// `\r` removed.
    pub output: String,
    pub elapsed: Duration,
}

impl Boot {
    /// The last `lines` lines of the output, for failure reports.
    pub fn tail(&self, lines: usize) -> String {
        let all: Vec<&str> = self.output.lines().collect();
        if all.is_empty() {
            return "(no output)".to_owned();
        }
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

/// Boots `config` (which must not be interactive) with the serial console
/// captured, killing QEMU after `timeout`. With `echo`, the output is also
/// copied to this terminal as it arrives.
/// A panic or exception report's backtrace is symbolised against
/// `config.kernel` ([`crate::symbolize`]): printed, and appended to the
/// output.
pub fn boot(config: &QemuConfig, timeout: Duration, echo: bool) -> Result<Boot> {
    debug_assert!(!config.interactive);
    let mut boot = capture(config.command(), timeout, echo)?;
    if let Some(text) = crate::symbolize::annotate_boot(&config.kernel, &boot.output) {
        print!("{text}");
        boot.output.push_str(&text);
    }
    Ok(boot)
}

/// Runs `cmd` with its stdout and stderr captured (and echoed with `echo`),
/// terminating it after `timeout`.
fn capture(mut cmd: Command, timeout: Duration, echo: bool) -> Result<Boot> {
    println!("$ {}", crate::display_command(&cmd));
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {}", cmd.get_program().to_string_lossy()))?;
    let output = Arc::new(Mutex::new(Vec::new()));
    let readers = [
        collect(
            child.stdout.take().map(|out| Box::new(out) as _),
            &output,
            echo,
        ),
        collect(
            child.stderr.take().map(|err| Box::new(err) as _),
            &output,
            echo,
        ),
    ];
    let outcome = wait_with_deadline(&mut child, Some(start + timeout))?
        .unwrap_or(Outcome::TimedOut(timeout));
    for reader in readers.into_iter().flatten() {
        // A reader ends at end of file, which the exit of QEMU guarantees.
        reader.join().expect("a serial reader thread panicked");
    }
    let bytes = output.lock().expect("serial buffer poisoned");
    Ok(Boot {
        outcome,
        output: String::from_utf8_lossy(&bytes).replace('\r', ""),
        elapsed: start.elapsed(),
    })
}

/// Boots `config` (which must be interactive) on this terminal, killing
/// QEMU after `timeout` if one is given.
pub fn boot_interactive(config: &QemuConfig, timeout: Option<Duration>) -> Result<Outcome> {
    debug_assert!(config.interactive);
    let mut cmd = config.command();
    println!("$ {}", crate::display_command(&cmd));
    println!("(Ctrl-A X quits QEMU, Ctrl-A H lists the other Ctrl-A keys)");
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot start {QEMU}"))?;
    let deadline = timeout.map(|limit| start + limit);
    let outcome = wait_with_deadline(&mut child, deadline)?;
    Ok(outcome.unwrap_or(Outcome::TimedOut(timeout.unwrap_or_default())))
}

/// Copies everything `source` yields into `sink` (and to stdout with
/// `echo`) on a thread of its own.
fn collect(
    source: Option<Box<dyn Read + Send>>,
    sink: &Arc<Mutex<Vec<u8>>>,
    echo: bool,
) -> Option<thread::JoinHandle<()>> {
    let mut source = source?;
    let sink = Arc::clone(sink);
    Some(thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = source.read(&mut buf) {
            if echo {
                let mut stdout = std::io::stdout().lock();
                // Echoing is a courtesy: a closed terminal must not stop the
                // capture the verdict depends on.
                let _ = stdout.write_all(&buf[..n]).and_then(|()| stdout.flush());
            }
            sink.lock()
                .expect("serial buffer poisoned")
                .extend_from_slice(&buf[..n]);
        }
    }))
}

/// Waits for `child` to exit; `None` if `deadline` passed first, in which
/// case the child has been terminated.
fn wait_with_deadline(child: &mut Child, deadline: Option<Instant>) -> Result<Option<Outcome>> {
    let Some(deadline) = deadline else {
        let status = child.wait().context("waiting for QEMU")?;
        return Ok(Some(Outcome::from_exit_code(status.code())));
    };
    loop {
        if let Some(status) = child.try_wait().context("waiting for QEMU")? {
            return Ok(Some(Outcome::from_exit_code(status.code())));
        }
        if Instant::now() >= deadline {
            terminate(child)?;
            return Ok(None);
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Stops `child`: SIGTERM first, so QEMU can restore the terminal it may
/// have put in raw mode, then SIGKILL if it is still there after a grace
/// period.
fn terminate(child: &mut Child) -> Result<()> {
    // The TERM is best effort; the KILL below is the guarantee.
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let grace = Instant::now() + Duration::from_secs(3);
    while Instant::now() < grace {
        if child.try_wait().context("waiting for QEMU")?.is_some() {
            return Ok(());
        }
        thread::sleep(Duration::from_millis(20));
    }
    child.kill().context("killing QEMU")?;
    child.wait().context("waiting for QEMU")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> QemuConfig {
        QemuConfig {
            smp: 4,
            cpu: None,
            mem_mib: 512,
            accel: Accel::Tcg,
            kernel: PathBuf::from("target/x86_64-unknown-none/debug/tine"),
            initrd: None,
            append: "test=boot".to_owned(),
            interactive: false,
        }
    }

    fn rendered(config: &QemuConfig) -> String {
        crate::display_command(&config.command())
    }

    #[test]
    fn renders_a_non_interactive_tcg_run() {
        assert_eq!(
            rendered(&config()),
            "qemu-system-x86_64 -M q35 -cpu qemu64 -accel tcg,thread=multi -smp 4 -m 512 \
             -kernel target/x86_64-unknown-none/debug/tine -append test=boot \
             -display none -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
             -serial stdio -monitor none"
        );
    }

    #[test]
    fn interactive_runs_multiplex_the_monitor_on_stdio() {
        let line = rendered(&QemuConfig {
            interactive: true,
            ..config()
        });
        assert!(line.ends_with(" -serial mon:stdio"), "{line}");
        assert!(!line.contains("-monitor"), "{line}");
    }

    #[test]
    fn kvm_uses_the_host_cpu() {
        let line = rendered(&QemuConfig {
            accel: Accel::Kvm,
            ..config()
        });
        assert!(line.contains(" -cpu host -accel kvm "), "{line}");
        assert!(!line.contains("tcg") && !line.contains("qemu64"), "{line}");
    }

    #[test]
    fn a_cpu_model_can_be_chosen() {
        let line = rendered(&QemuConfig {
            cpu: Some("max".to_owned()),
            ..config()
        });
        assert!(
            line.contains(" -cpu max -accel tcg,thread=multi "),
            "{line}"
        );
    }

    #[test]
    fn initrd_and_empty_or_spaced_command_lines() {
        let line = rendered(&QemuConfig {
            initrd: Some(PathBuf::from("target/initrd.cpio")),
            append: "bench=fork,spawn test".to_owned(),
            ..config()
        });
        assert!(line.contains(" -append 'bench=fork,spawn test' "), "{line}");
        assert!(line.contains(" -initrd target/initrd.cpio "), "{line}");
        let line = rendered(&QemuConfig {
            append: String::new(),
            ..config()
        });
        assert!(line.contains(" -append '' "), "{line}");
    }

    #[test]
    fn kernel_codes_map_to_odd_host_statuses() {
        assert_eq!(KernelExit::Success.host_status(), 33);
        assert_eq!(KernelExit::Failure.host_status(), 35);
        assert_eq!(KernelExit::Panic.host_status(), 37);
        assert_eq!(KernelExit::Exception.host_status(), 39);
    }

    #[test]
    fn exit_statuses_decode_to_outcomes() {
        use KernelExit::*;
        assert_eq!(Outcome::from_exit_code(Some(33)), Outcome::Kernel(Success));
        assert_eq!(Outcome::from_exit_code(Some(35)), Outcome::Kernel(Failure));
        assert_eq!(Outcome::from_exit_code(Some(37)), Outcome::Kernel(Panic));
        assert_eq!(
            Outcome::from_exit_code(Some(39)),
            Outcome::Kernel(Exception)
        );
        assert_eq!(Outcome::from_exit_code(Some(0)), Outcome::Status(0));
        assert_eq!(Outcome::from_exit_code(Some(1)), Outcome::Status(1));
        assert_eq!(Outcome::from_exit_code(Some(41)), Outcome::Status(41));
        assert_eq!(Outcome::from_exit_code(None), Outcome::Signal);
    }

    fn shell(script: &str) -> Command {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", script]);
        cmd
    }

    #[test]
    fn capture_collects_stdout_and_stderr_and_decodes_the_exit() {
        let boot = capture(
            shell("echo serial; echo qemu >&2; exit 33"),
            Duration::from_secs(30),
            false,
        )
        .unwrap();
        assert_eq!(boot.outcome, Outcome::Kernel(KernelExit::Success));
        assert!(boot.output.contains("serial\n"), "{:?}", boot.output);
        assert!(boot.output.contains("qemu\n"), "{:?}", boot.output);
    }

    #[test]
    fn capture_kills_a_run_at_its_deadline_and_keeps_its_output() {
        let limit = Duration::from_millis(300);
        let boot = capture(shell("echo booting; exec sleep 60"), limit, false).unwrap();
        assert_eq!(boot.outcome, Outcome::TimedOut(limit));
        assert_eq!(boot.output, "booting\n");
        assert!(boot.elapsed < Duration::from_secs(10), "{:?}", boot.elapsed);
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        let boot = Boot {
            outcome: Outcome::Status(0),
            output: "a\nb\nc\n".to_owned(),
            elapsed: Duration::ZERO,
        };
        assert_eq!(boot.tail(2), "b\nc");
        assert_eq!(boot.tail(10), "a\nb\nc");
        let silent = Boot {
            output: String::new(),
            ..boot
        };
        assert_eq!(silent.tail(2), "(no output)");
    }
}
