//! Expect-style sessions on Tine's serial shell: the whole-system test a
//! person would do by hand. Boot, wait for init's greeting and the prompt,
//! type commands, check what comes back, `poweroff`.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::qemu::{Accel, KernelExit, Outcome, QemuConfig};

/// How long one expected reply may take (a debug kernel under TCG).
const REPLY_TIMEOUT: Duration = Duration::from_secs(60);

/// One QEMU boot with the serial console on pipes.
struct Session {
    child: Child,
    stdin: ChildStdin,
    output: Arc<Mutex<String>>,
    /// How much of `output` earlier expectations consumed.
    seen: usize,
    /// The prompt that ends a command's reply (`tine> ` for the kernel's
    /// shell).
    prompt: &'static str,
    reader: Option<JoinHandle<()>>,
}

impl Session {
    fn start(config: &QemuConfig) -> Result<Self> {
        let mut cmd = config.command();
        println!("$ {}", crate::display_command(&cmd));
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("cannot start qemu-system-x86_64")?;
        let stdin = child.stdin.take().context("no stdin pipe")?;
        let mut stdout = child.stdout.take().context("no stdout pipe")?;
        let output = Arc::new(Mutex::new(String::new()));
        let sink = output.clone();
        let reader = thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let text = String::from_utf8_lossy(&buf[..n]).replace('\r', "");
                sink.lock().expect("serial buffer poisoned").push_str(&text);
            }
        });
        Ok(Self {
            child,
            stdin,
            output,
            seen: 0,
            prompt: "tine> ",
            reader: Some(reader),
        })
    }

    /// Waits until `pattern` appears after what earlier calls consumed;
    /// returns the text up to and including it.
    fn expect(&mut self, pattern: &str) -> Result<String> {
        let deadline = Instant::now() + REPLY_TIMEOUT;
        loop {
            {
                let out = self.output.lock().expect("serial buffer poisoned");
                if let Some(at) = out[self.seen..].find(pattern) {
                    let end = self.seen + at + pattern.len();
                    let text = out[self.seen..end].to_owned();
                    self.seen = end;
                    return Ok(text);
                }
            }
            if Instant::now() > deadline {
                bail!("no {pattern:?} within {} s", REPLY_TIMEOUT.as_secs());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!("QEMU exited ({status}) before {pattern:?} appeared");
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Types `line` and Enter.
    fn send_line(&mut self, line: &str) -> Result<()> {
        self.stdin.write_all(line.as_bytes())?;
        self.stdin.write_all(b"\r")?;
        self.stdin.flush()?;
        Ok(())
    }

    /// Types raw bytes (control keys).
    fn send_raw(&mut self, bytes: &[u8]) -> Result<()> {
        self.stdin.write_all(bytes)?;
        self.stdin.flush()?;
        Ok(())
    }

    /// What arrived after the last expectation (not consumed).
    fn output_since_seen(&self) -> String {
        let out = self.output.lock().expect("serial buffer poisoned");
        out[self.seen..].to_owned()
    }

    /// Types `command`, waits for the next prompt, and returns the reply.
    fn command(&mut self, command: &str) -> Result<String> {
        println!("{}{command}", self.prompt);
        self.send_line(command)?;
        self.expect(self.prompt)
    }

    /// Waits for QEMU to exit (after `poweroff`) and returns how.
    fn finish(mut self) -> Result<Outcome> {
        let deadline = Instant::now() + REPLY_TIMEOUT;
        let outcome = loop {
            if let Some(status) = self.child.try_wait()? {
                break Outcome::from_exit_code(status.code());
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                break Outcome::TimedOut(REPLY_TIMEOUT);
            }
            thread::sleep(Duration::from_millis(20));
        };
        if let Some(reader) = self.reader.take() {
            reader.join().expect("the serial reader panicked");
        }
        Ok(outcome)
    }

    /// The last lines of everything received, for failure reports.
    fn tail(&self) -> String {
        let out = self.output.lock().expect("serial buffer poisoned");
        let lines: Vec<&str> = out.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // A failed session must not leave QEMU running.
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Checks that `reply` to `command` contains `wanted`.
fn want(command: &str, reply: &str, wanted: &str) -> Result<()> {
    if !reply.contains(wanted) {
        bail!("'{command}' did not print {wanted:?}; it printed:\n{reply}");
    }
    Ok(())
}

/// The session: init greets at boot, user programs run (a C one too, and one dies of
/// SIGSEGV without hurting the kernel), `fork 3` forks three children that
/// are all reaped, tasks spread over the CPUs, a sysctl is set, a bad
/// command is refused, `poweroff` exits with status 33.
pub fn session(kernel: Option<&Path>, initrd: Option<&Path>, smp: u32) -> Result<String> {
    let kernel = kernel.context("not run: the kernel did not build")?;
    let initrd = initrd.context("not run: the initramfs did not build")?;
    let config = QemuConfig {
        smp,
        cpu: None,
        mem_mib: 512,
        accel: Accel::Tcg,
        kernel: kernel.to_path_buf(),
        initrd: Some(initrd.to_path_buf()),
        append: String::from("kshell"),
        interactive: false,
    };
    let start = Instant::now();
    let mut s = Session::start(&config)?;
    let script = |s: &mut Session| -> Result<()> {
        s.expect("init: hello from user space")?;
        s.expect("tine> ")?;
        let reply = s.command("run /bin/hello one two")?;
        want("run /bin/hello one two", &reply, "argument(s)")?;
        want("run /bin/hello one two", &reply, "exited with status 0]")?;
        let reply = s.command("run /bin/musl-hello c")?;
        want("run /bin/musl-hello c", &reply, "hello from musl (pid ")?;
        want("run /bin/musl-hello c", &reply, ") c\n")?;
        let reply = s.command("run /bin/hello --segv")?;
        want("run /bin/hello --segv", &reply, "exited with status 11]")?;
        let reply = s.command("fork 3")?;
        for wanted in [
            "child 3: pid",
            "parent: reaped 3 children",
            "exited with status 0]",
        ] {
            want("fork 3", &reply, wanted)?;
        }
        let reply = s.command(&format!("spawn {}", 2 * smp))?;
        want("spawn", &reply, &format!("task {} ran on cpu", 2 * smp - 1))?;
        let reply = s.command("sysctl kern.randompid=50")?;
        want("sysctl", &reply, "kern.randompid: 100")?;
        let reply = s.command("frobnicate")?;
        want("frobnicate", &reply, "unknown command")?;
        println!("tine> poweroff");
        s.send_line("poweroff")?;
        Ok(())
    };
    if let Err(e) = script(&mut s) {
        println!("--- last 30 lines of output ---\n{}\n---", s.tail());
        return Err(e);
    }
    match s.finish()? {
        Outcome::Kernel(KernelExit::Success) => Ok(format!(
            "8 commands answered in {:.1} s",
            start.elapsed().as_secs_f64()
        )),
        other => bail!("after poweroff: expected exit 33, got {other}"),
    }
}

/// The user shell's prompt ends so (`/ $ `, `/tmp $ `).
const USER_PROMPT: &str = " $ ";

/// The user-shell session: the kernel boots straight into `/bin/init`,
/// which starts `/bin/sh`; `fork 3` forks three children that are all
/// reaped, `ps` lists init and the shell, a pipeline runs through
/// `/bin/cat`, an unknown command is `command not found` with status 127,
/// `bench` lists the benchmarks for an unknown name, `threads 3` shows
/// `ps -T` with a line per thread of the process, `ps` shows blocked
/// processes as `S`, a killed background
/// job is reported exactly once, ^C interrupts a sleeping program (the shell reports
/// `[signal 2]` and survives), ^D ends the shell and init starts a new
/// one, `poweroff` exits with status 33.
pub fn user_session(kernel: Option<&Path>, initrd: Option<&Path>, smp: u32) -> Result<String> {
    let kernel = kernel.context("not run: the kernel did not build")?;
    let initrd = initrd.context("not run: the initramfs did not build")?;
    let config = QemuConfig {
        smp,
        cpu: None,
        mem_mib: 512,
        accel: Accel::Tcg,
        kernel: kernel.to_path_buf(),
        initrd: Some(initrd.to_path_buf()),
        append: String::new(),
        interactive: false,
    };
    let start = Instant::now();
    let mut s = Session::start(&config)?;
    s.prompt = USER_PROMPT;
    let script = |s: &mut Session| -> Result<()> {
        s.expect("init: hello from user space")?;
        s.expect("Tine sh.")?;
        s.expect(USER_PROMPT)?;
        let reply = s.command("fork 3")?;
        for wanted in ["child 3: pid", "reaped child 3", "reaped 3 children"] {
            want("fork 3", &reply, wanted)?;
        }
        let reply = s.command("ps")?;
        for wanted in ["PID  PPID  PGID", " init", " sh"] {
            want("ps", &reply, wanted)?;
        }
        let reply = s.command("threads 3")?;
        check_ps_threads(&reply, 4)?;
        let reply = s.command("echo piped through cat | cat | cat")?;
        want("pipeline", &reply, "piped through cat")?;
        let reply = s.command("ls")?;
        want("ls", &reply, "sh: ls: command not found")?;
        let reply = s.command("echo status $?")?;
        want("echo status $?", &reply, "status 127")?;
        let reply = s.command("bench zzz")?;
        want(
            "bench zzz",
            &reply,
            "no benchmark is named or starts with 'zzz'",
        )?;
        want("bench zzz", &reply, "fork1_exit_reap")?;
        // A killed background job is reported once, whether the prompt or
        // `jobs` sees it end first.
        let reply = s.command("sleep 5000 &")?;
        want("sleep 5000 &", &reply, "[1] ")?;
        // Blocked in nanosleep, init in wait4, the shell reading: parked
        // tasks are `S`, as Linux's ps says (only `ps` itself is running).
        let reply = s.command("ps")?;
        for name in ["sleep", "init"] {
            let line = reply
                .lines()
                .find(|l| l.trim_end().ends_with(&format!(" {name}")))
                .with_context(|| format!("ps lists no {name}:\n{reply}"))?;
            if line.split_whitespace().nth(3) != Some("S") {
                bail!("ps shows {name} not as S (blocked):\n{reply}");
            }
        }
        let mut reports = s.command("kill %1")?;
        let deadline = Instant::now() + REPLY_TIMEOUT;
        while !reports.contains("signal 15") {
            if Instant::now() > deadline {
                bail!("the killed job was never reported:\n{reports}");
            }
            reports += &s.command("jobs")?;
        }
        reports += &s.command("jobs")?;
        if reports.matches("signal 15").count() != 1 {
            bail!("the killed job was reported more than once:\n{reports}");
        }
        // ^C until the sleeping job dies: a ^C typed before the job owns
        // the terminal goes to the shell's group, which ignores it.
        println!("{USER_PROMPT}sleep 60, then ^C");
        s.send_line("sleep 60")?;
        let deadline = Instant::now() + REPLY_TIMEOUT;
        loop {
            thread::sleep(Duration::from_millis(500));
            s.send_raw(b"\x03")?;
            if s.output_since_seen().contains("[signal 2]") {
                break;
            }
            if Instant::now() > deadline {
                bail!("^C did not interrupt sleep");
            }
        }
        s.expect("[signal 2]")?;
        // A ^C typed after the job died gave the shell a fresh prompt;
        // match the echo's output line, not the next prompt.
        println!("{USER_PROMPT}echo still here");
        s.send_line("echo still here")?;
        s.expect("\nstill here")?;
        s.expect(USER_PROMPT)?;
        // ^D on an empty line ends the shell; init starts a new one.
        println!("{USER_PROMPT}^D");
        s.send_raw(b"\x04")?;
        s.expect("init: the shell ended")?;
        s.expect("Tine sh.")?;
        s.expect(USER_PROMPT)?;
        let reply = s.command("echo new shell")?;
        want("echo in the new shell", &reply, "\nnew shell")?;
        println!("{USER_PROMPT}poweroff");
        s.send_line("poweroff")?;
        Ok(())
    };
    if let Err(e) = script(&mut s) {
        println!("--- last 30 lines of output ---\n{}\n---", s.tail());
        return Err(e);
    }
    match s.finish()? {
        Outcome::Kernel(KernelExit::Success) => Ok(format!(
            "15 commands, a ^C and a ^D answered in {:.1} s",
            start.elapsed().as_secs_f64()
        )),
        other => bail!("after poweroff: expected exit 33, got {other}"),
    }
}

/// Checks the `ps -T` that the user shell's `threads` builtin shows:
/// `threads` (the process) has `n` lines, one per thread, with distinct
/// SPIDs (TIDs), the first SPID its PID, and `n` in the THR column.
fn check_ps_threads(reply: &str, n: usize) -> Result<()> {
    want("threads", reply, "  PID  SPID S CPU THR COMMAND")?;
    let rows: Vec<Vec<&str>> = reply
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.len() == 6 && f[5] == "threads")
        .collect();
    let tids: std::collections::BTreeSet<&str> = rows.iter().map(|f| f[1]).collect();
    let ok = rows.len() == n
        && tids.len() == n
        && rows.first().is_some_and(|f| f[0] == f[1])
        && rows
            .iter()
            .all(|f| f[0] == rows[0][0] && f[4] == n.to_string());
    if !ok {
        bail!("ps -T does not show the {n} threads of one process:\n{reply}");
    }
    Ok(())
}
