//! Bringing the kernel up, from `arch`'s hand-over to every CPU running
//! its executor.
//!
//! Order on the boot CPU (each step needs the previous ones):
//! 1. console and logger (`drivers::serial`, `drivers::logger`), the
//!    initramfs as `/`, the PID map;
//! 2. traps, local APIC, TSC calibration, timer (`arch::irq::init_bsp`);
//! 3. ACPI MADT: which CPUs and I/O APICs exist, ISA overrides;
//! 4. the I/O APIC, and the UART's IRQ 4 routed to the boot CPU;
//! 5. the executors (`task::init`) and the boot task for the chosen mode;
//! 6. the APs, each of which logs `cpu N online (apic A)` and runs its
//!    executor;
//! 7. the boot CPU's own executor loop.

use alloc::string::String;

use crate::cmdline::{Cmdline, Mode};
use crate::shell::BenchRunner;

/// The vector the UART's receive interrupt is delivered on.
const UART_VECTOR: u8 = arch::irq::vector::DEVICE_BASE + 4;

/// Brings the kernel up and never returns: the boot CPU ends in its
/// executor loop. `bench` runs benchmarks (the image links them).
pub fn start(info: &'static arch::boot::BootInfo, bench: BenchRunner) -> ! {
    crate::syscall::tine::set_bench_runner(bench);
    let _ = drivers::serial::init();
    let cmdline = Cmdline::parse(info.cmdline);
    let _ = drivers::logger::init(cmdline.log.unwrap_or(log::LevelFilter::Info));
    log::info!(
        "Tine {}: {} MiB usable, command line {:?}",
        env!("CARGO_PKG_VERSION"),
        info.memory.usable_bytes() >> 20,
        info.cmdline
    );
    if let Some(word) = cmdline.unknown {
        log::warn!("command line: ignoring {word:?}");
    }

    crate::fs::mount_boot_initrd(info.initrd);
    crate::proc::init_pids(
        cmdline.pid_max.unwrap_or(crate::proc::pid::PID_MAX_DEFAULT),
        arch::cpu::random::u64,
    );

    arch::irq::init_bsp();
    log::info!("tsc {} MHz", arch::cpu::tsc::frequency() / 1_000_000);

    let madt = info
        .rsdp
        .and_then(|rsdp| match drivers::acpi::read_madt(rsdp) {
            Ok(madt) => Some(madt),
            Err(e) => {
                log::warn!("ACPI: {e:?}; running on the boot CPU only");
                None
            }
        });

    if let Some(ioapic) = madt.as_ref().and_then(|m| m.ioapics.first()) {
        let (gsi, active_low, level_triggered) =
            madt.as_ref().map_or((4, false, false), |m| m.isa_irq(4));
        arch::irq::set_handler(UART_VECTOR, |_| drivers::serial::handle_interrupt());
        let routed =
            arch::irq::ioapic::init(ioapic.address as u64, ioapic.gsi_base).and_then(|()| {
                arch::irq::ioapic::route(
                    gsi,
                    UART_VECTOR,
                    arch::irq::lapic::id(),
                    level_triggered,
                    active_low,
                )
            });
        match routed {
            Ok(()) => {
                drivers::serial::enable_input();
            }
            Err(e) => log::warn!("I/O APIC: {e:?}; console input is unavailable"),
        }
    } else {
        log::warn!("no I/O APIC: console input is unavailable");
    }

    let bsp_apic = arch::irq::lapic::id();
    let ap_ids: alloc::vec::Vec<u32> = madt
        .as_ref()
        .map(|m| {
            m.cpu_apic_ids()
                .into_iter()
                .filter(|&id| id != bsp_apic)
                .collect()
        })
        .unwrap_or_default();
    let ncpus = 1 + ap_ids.len().min(arch::smp::MAX_CPUS - 1);

    crate::machine::install();
    crate::task::init(crate::machine::platform(), ncpus);
    if let Some(policy) = cmdline.idle_poll {
        crate::task::scheduler().set_idle_poll(policy);
        log::info!("idle poll: {policy:?}");
    }
    // The vDSO's clock (TSC parameters, the RTC's date) before any exec.
    arch::user::vdso::init(crate::syscall::time::boot_realtime_ns());

    let mode_line = String::from(info.cmdline);
    // Detached: the boot task ends the session itself when it is done.
    let _detached = crate::task::Builder::new()
        .name("boot")
        .cpu(0)
        .pinned()
        .spawn(async move { boot_task(&mode_line, ncpus, bench).await });

    let online = arch::smp::start_aps(&ap_ids, ap_main);
    if online + 1 < ncpus {
        log::error!("only {} of {} CPUs came online", online + 1, ncpus);
    }
    crate::task::run_cpu()
}

/// Each AP's life after `arch` started it (and logged `cpu N online`).
fn ap_main(_cpu: usize) -> ! {
    crate::task::run_cpu()
}

/// The first task: waits for every CPU, then does what the command line
/// asked.
async fn boot_task(cmdline: &str, ncpus: usize, bench: BenchRunner) {
    let t0 = arch::cpu::tsc::now_ns();
    while arch::cpu::count() < ncpus && arch::cpu::tsc::now_ns() - t0 < 2_000_000_000 {
        crate::task::sleep(core::time::Duration::from_millis(1)).await;
    }
    log::info!("{} of {} CPUs online", arch::cpu::count(), ncpus);
    EXPECTED_CPUS.store(ncpus, core::sync::atomic::Ordering::Relaxed);
    // The console tty takes the serial input (docs/files.md).
    drop(
        crate::task::Builder::new()
            .name("tty")
            .spawn(crate::fs::tty::run_input()),
    );
    let cmdline = Cmdline::parse(cmdline);
    match cmdline.mode {
        Mode::Shell if cmdline.kshell => {
            // The first user process, only greeting (its user shell would
            // read the console too), then the kernel's own shell, which
            // reads the console tty in raw mode.
            if crate::fs::root().is_ok() {
                crate::shell::execute("run /bin/init --greet", bench).await;
            }
            crate::shell::run(bench).await
        }
        Mode::Shell => run_init().await,
        Mode::Test(filter) => {
            let (_, failed) = crate::ktest::run(filter, drivers::serial::write_fmt).await;
            arch::cpu::exit_qemu(if failed == 0 {
                arch::ExitCode::Success
            } else {
                arch::ExitCode::Failure
            })
        }
        Mode::UserTest(filter) => {
            let (passed, failed) =
                crate::exec::utest::run(filter, drivers::serial::write_fmt).await;
            arch::cpu::exit_qemu(if failed == 0 && passed > 0 {
                arch::ExitCode::Success
            } else {
                arch::ExitCode::Failure
            })
        }
        Mode::Bench(names) => {
            let failed = bench(String::from(names)).await;
            arch::cpu::exit_qemu(if failed == 0 {
                arch::ExitCode::Success
            } else {
                arch::ExitCode::Failure
            })
        }
        Mode::Run(spec) => {
            let status = run_one(spec).await;
            arch::cpu::exit_qemu(if status == Some(0) {
                arch::ExitCode::Success
            } else {
                arch::ExitCode::Failure
            })
        }
        Mode::Crash(how) => {
            log::info!("crash={how}: taking a deliberate kernel fault");
            match how {
                "pagefault" => {
                    let _ = arch::cpu::debug::touch_unmapped();
                }
                "panic" => deliberate_panic(),
                _ => log::error!("crash={how}: unknown; try crash=pagefault or crash=panic"),
            }
            arch::cpu::exit_qemu(arch::ExitCode::Failure)
        }
    }
}

/// `crash=panic`: a kernel panic from a function of its own, so the
/// test of the panic report can look for this name in the symbolised
/// backtrace.
#[inline(never)]
fn deliberate_panic() -> ! {
    panic!("crash=panic: a deliberate kernel panic")
}

/// `run=PATH,ARG,...`: starts the program with those words as argv, waits
/// for it and logs its wait status, which it returns (`None` if it could
/// not start). `cargo xtask bench` runs the user-space benchmark this way.
async fn run_one(spec: &str) -> Option<i32> {
    use crate::proc::process;
    let argv: alloc::vec::Vec<&[u8]> = spec.split(',').map(str::as_bytes).collect();
    let path = spec.split(',').next().unwrap_or(spec);
    let pid = match process::spawn_process(path, &argv, &[b"HOME=/", b"TERM=vt100"]) {
        Ok(pid) => pid,
        Err(e) => {
            log::error!("run={spec}: {path}: {e}");
            return None;
        }
    };
    match process::wait(pid).await {
        Ok(status) => {
            log::info!("run: {path} (pid {pid}) exited with status {status}");
            for cpu in 0..crate::task::ncpus() {
                let s = crate::task::stats(cpu);
                log::info!(
                    "cpu {cpu}: {} polls, {} IPIs; idle: {} polls caught work, {} expired, {} halts unpolled; idle average {} ns polling, {} ns halting",
                    s.polls,
                    s.ipis,
                    s.polls_caught,
                    s.polls_expired,
                    s.halts_unpolled,
                    s.poll_avg_ns,
                    s.halt_avg_ns
                );
            }
            Some(status)
        }
        Err(e) => {
            log::error!("run: wait for {pid}: {e}");
            None
        }
    }
}

/// Runs `/bin/init` as PID 1 with fds 0, 1, 2 on `/dev/console`, the
/// only reader of the console; logs its end (the machine then idles).
async fn run_init() {
    use crate::proc::process;
    let pid =
        match process::spawn_process("/bin/init", &[b"/bin/init"], &[b"HOME=/", b"TERM=vt100"]) {
            Ok(pid) => pid,
            Err(e) => {
                log::error!("cannot start /bin/init: {e}; boot with `kshell` for the kernel shell");
                return;
            }
        };
    match process::wait(pid).await {
        Ok(status) => log::warn!("init (pid {pid}) exited with status {status}"),
        Err(e) => log::error!("waiting for init: {e}"),
    }
}

/// How many CPUs the firmware described (for the boot tests).
pub static EXPECTED_CPUS: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(1);

crate::ktest!(
    async fn all_cpus_online_boot() {
        let expected = EXPECTED_CPUS.load(core::sync::atomic::Ordering::Relaxed);
        crate::kassert_eq!(arch::cpu::count(), expected);
        crate::kassert_eq!(crate::task::ncpus(), expected);
        Ok(())
    }
);
