//! The bootable Tine image: `arch` boots, then calls `kernel_main`.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

fn kernel_main(_info: &'static arch::boot::BootInfo) -> ! {
    arch::cpu::exit_qemu(arch::ExitCode::Success)
}

arch::entry_point!(kernel_main);
