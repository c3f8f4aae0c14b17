//! Interrupts: the IDT and trap entry stubs, exception reports, the local
//! APIC and I/O APIC, IPIs and the per-CPU timer.
