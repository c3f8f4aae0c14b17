//! # serial — the 16550 UART console (COM1)
//!
//! Tine's console is the first PC serial port, a 16550-compatible UART at
//! I/O port 0x3f8, run at 115200 baud, 8 data bits, no parity, 1 stop bit,
//! FIFOs on. This module is three layers, each usable on its own:
//!
//! - [`Uart`]: the chip. Register offsets and bits are named in [`reg`];
//!   every access goes through an [`arch::io::PortRange`] claimed from
//!   `arch`, so this crate needs no `unsafe`.
//! - Output: [`write_str`] / [`write_fmt`] (and the [`crate::logger`], which
//!   formats a whole line first and then calls [`write_line`]). All output
//!   to COM1 goes through one transmit lock, so a line handed over in one
//!   call is never interleaved with another CPU's.
//! - Input: the receive interrupt (ISA IRQ 4, routed through the IOAPIC by
//!   `arch`) calls [`handle_interrupt`], which drains the receive FIFO into
//!   an [`RxQueue`] (a lock-free bounded queue) and wakes the one reader
//!   task, which awaits bytes through [`Input`] ([`Input::read_byte`] or the
//!   [`Stream`] impl). The shell in `kernel` is that reader.
//!
//! The queue/waker logic ([`RxQueue`]) and the `\n` → `\r\n` conversion
//! ([`crlf`]) do not touch the UART and are tested on the host.
//!
//! ## Bring-up order (what `kernel` calls)
//! 1. [`init`] — early, before the heap: claims and programs COM1. Output
//!    works from here on (receive interrupts still off).
//! 2. `logger::init(level)`.
//! 3. Once the heap is up and `arch` has routed IRQ 4 to a vector whose
//!    handler calls [`handle_interrupt`] (and then sends the EOI):
//!    [`enable_input`], which allocates the receive queue and then sets
//!    IER.ERBFI and MCR.OUT2 on the chip.
//! 4. The shell task takes the [`Input`] handle with [`input`].
//!
//! `arch`'s panic and exception path may write raw bytes to COM1 on its own
//! (without our lock) in an emergency; that can interleave with a line in
//! flight, which is acceptable at that point.

use core::fmt;
use core::future::poll_fn;
use core::pin::Pin;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use core::task::{Context, Poll};

use arch::io::{ClaimError, PortRange};
use crossbeam_queue::ArrayQueue;
use futures_util::Stream;
use futures_util::task::AtomicWaker;

/// I/O base of COM1.
pub const COM1_BASE: u16 = 0x3f8;
/// The console's line speed.
pub const CONSOLE_BAUD: u32 = 115_200;
/// Bytes the receive queue holds before further input is dropped (and
/// counted in [`RxQueue::dropped`]). A pasted screenful fits.
pub const RX_QUEUE_CAPACITY: usize = 4096;

/// 16550 registers: offsets from the base port and their bits.
///
/// Offsets 0 and 1 mean different registers depending on LCR.DLAB and on
/// whether they are read or written, hence the aliases.
pub mod reg {
    /// Receive buffer (read, DLAB = 0).
    pub const RBR: u16 = 0;
    /// Transmit holding register (write, DLAB = 0).
    pub const THR: u16 = 0;
    /// Divisor latch, low byte (DLAB = 1).
    pub const DLL: u16 = 0;
    /// Divisor latch, high byte (DLAB = 1).
    pub const DLM: u16 = 1;
    /// Interrupt enable (DLAB = 0).
    pub const IER: u16 = 1;
    /// Interrupt identification (read).
    pub const IIR: u16 = 2;
    /// FIFO control (write).
    pub const FCR: u16 = 2;
    /// Line control.
    pub const LCR: u16 = 3;
    /// Modem control.
    pub const MCR: u16 = 4;
    /// Line status.
    pub const LSR: u16 = 5;
    /// Modem status.
    pub const MSR: u16 = 6;
    /// Number of ports a 16550 occupies.
    pub const PORT_COUNT: u16 = 8;

    /// IER: interrupt when received data is available (or the FIFO
    /// character timeout fires).
    pub const IER_RX_AVAILABLE: u8 = 1 << 0;

    /// FCR: enable both FIFOs.
    pub const FCR_ENABLE: u8 = 1 << 0;
    /// FCR: empty the receive FIFO.
    pub const FCR_CLEAR_RX: u8 = 1 << 1;
    /// FCR: empty the transmit FIFO.
    pub const FCR_CLEAR_TX: u8 = 1 << 2;
    /// FCR: receive interrupt as soon as one byte is in the FIFO (bits 7:6 = 00).
    pub const FCR_TRIGGER_1: u8 = 0b00 << 6;

    /// LCR: 8 data bits (bits 1:0 = 11); no parity and 1 stop bit are the
    /// zero bits around it.
    pub const LCR_8N1: u8 = 0b11;
    /// LCR: divisor latch access — offsets 0/1 become DLL/DLM.
    pub const LCR_DLAB: u8 = 1 << 7;

    /// MCR: data terminal ready.
    pub const MCR_DTR: u8 = 1 << 0;
    /// MCR: request to send.
    pub const MCR_RTS: u8 = 1 << 1;
    /// MCR: auxiliary output 2, which on PCs gates the UART's interrupt
    /// line onto the ISA bus (and so to the PIC/IOAPIC).
    pub const MCR_OUT2: u8 = 1 << 3;

    /// LSR: a received byte is waiting in RBR.
    pub const LSR_DATA_READY: u8 = 1 << 0;
    /// LSR: the transmit holding register (the whole transmit FIFO when
    /// FIFOs are on) is empty.
    pub const LSR_THR_EMPTY: u8 = 1 << 5;

    /// Depth of the 16550A transmit FIFO.
    pub const TX_FIFO_DEPTH: usize = 16;
    /// The divisor latch counts down from this clock: divisor = 115200 / baud.
    pub const BASE_BAUD: u32 = 115_200;
}

/// How many LSR polls a transmit waits for THRE before writing anyway, so
/// that a wedged or absent UART slows output down instead of hanging the
/// CPU with interrupts masked.
const THRE_POLL_LIMIT: u32 = 1 << 16;

/// How many bytes one interrupt drains at most. An absent UART reads as
/// 0xff (DR always set); the bound keeps the handler from looping forever.
const RX_DRAIN_LIMIT: usize = 256;

/// A 16550 UART, owning its eight I/O ports.
///
/// Register access takes `&self`: the receive side ([`Uart::try_receive`])
/// and the transmit side ([`Uart::transmit`]) touch disjoint state (RBR vs
/// THR; both only *read* LSR, and DR/THRE are not cleared by reading it), so
/// they may run concurrently on different CPUs. Transmitters must be
/// serialized by the caller, though — see [`Uart::transmit`].
#[derive(Debug)]
pub struct Uart {
    ports: PortRange,
}

impl Uart {
    /// Claims the eight ports at `base` from `arch`.
    pub fn claim(base: u16) -> Result<Self, ClaimError> {
        PortRange::claim(base, reg::PORT_COUNT).map(|ports| Self { ports })
    }

    /// Programs the line: `baud` (a divisor of 115200), 8N1, FIFOs on and
    /// emptied, receive trigger at one byte, DTR and RTS set, all
    /// interrupts off (OUT2 clear).
    ///
    /// The one-byte trigger level makes every typed key interrupt at once,
    /// instead of relying on the FIFO character timeout: the console is
    /// interactive and slow, so latency matters more than interrupt count.
    pub fn init(&self, baud: u32) {
        let divisor = (baud != 0 && reg::BASE_BAUD.is_multiple_of(baud))
            .then(|| u16::try_from(reg::BASE_BAUD / baud).ok())
            .flatten();
        let Some(divisor) = divisor else {
            panic!("baud {baud} is not 115200 divided by a 16-bit divisor");
        };
        let [divisor_low, divisor_high] = divisor.to_le_bytes();

        self.ports.write8(reg::IER, 0);
        self.ports.write8(reg::LCR, reg::LCR_DLAB);
        self.ports.write8(reg::DLL, divisor_low);
        self.ports.write8(reg::DLM, divisor_high);
        self.ports.write8(reg::LCR, reg::LCR_8N1);
        self.ports.write8(
            reg::FCR,
            reg::FCR_ENABLE | reg::FCR_CLEAR_RX | reg::FCR_CLEAR_TX | reg::FCR_TRIGGER_1,
        );
        self.ports.write8(reg::MCR, reg::MCR_DTR | reg::MCR_RTS);
        // Clear whatever status the firmware left: line status, a stale
        // byte, the pending-interrupt latch and modem status deltas.
        let _ = self.ports.read8(reg::LSR);
        let _ = self.ports.read8(reg::RBR);
        let _ = self.ports.read8(reg::IIR);
        let _ = self.ports.read8(reg::MSR);
    }

    /// Lets the chip raise its interrupt when a byte arrives: IER bit 0,
    /// and MCR.OUT2 so the line actually reaches the PIC/IOAPIC.
    ///
    /// Call only after the IRQ is routed to a handler that calls
    /// [`handle_interrupt`] (or otherwise drains RBR): an undrained receive
    /// interrupt stays asserted.
    pub fn enable_receive_interrupt(&self) {
        let mcr = self.ports.read8(reg::MCR);
        self.ports.write8(reg::MCR, mcr | reg::MCR_OUT2);
        self.ports.write8(reg::IER, reg::IER_RX_AVAILABLE);
    }

    /// Turns the receive interrupt off again (IER = 0, OUT2 clear).
    pub fn disable_receive_interrupt(&self) {
        self.ports.write8(reg::IER, 0);
        let mcr = self.ports.read8(reg::MCR);
        self.ports.write8(reg::MCR, mcr & !reg::MCR_OUT2);
    }

    /// The next received byte, if LSR.DR says one is waiting.
    pub fn try_receive(&self) -> Option<u8> {
        if self.ports.read8(reg::LSR) & reg::LSR_DATA_READY != 0 {
            Some(self.ports.read8(reg::RBR))
        } else {
            None
        }
    }

    /// Sends `bytes` as they are (no newline conversion): waits for LSR.THRE,
    /// which with FIFOs on means the whole transmit FIFO is empty, then
    /// fills the FIFO with up to 16 bytes, and repeats.
    ///
    /// Not serialized: two CPUs transmitting at once interleave bytes. For
    /// COM1 use [`write_str`], [`write_fmt`] or [`write_line`], which hold
    /// the transmit lock.
    pub fn transmit(&self, bytes: &[u8]) {
        for burst in bytes.chunks(reg::TX_FIFO_DEPTH) {
            self.wait_transmit_empty();
            for &byte in burst {
                self.ports.write8(reg::THR, byte);
            }
        }
    }

    fn wait_transmit_empty(&self) {
        for _ in 0..THRE_POLL_LIMIT {
            if self.ports.read8(reg::LSR) & reg::LSR_THR_EMPTY != 0 {
                return;
            }
            core::hint::spin_loop();
        }
    }
}

// ---------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------

/// COM1, once [`init`] has claimed and programmed it.
static COM1: spin::Once<Uart> = spin::Once::new();

/// The transmit lock: whoever holds it is the only one feeding COM1's THR,
/// so a buffer written under it comes out whole.
///
/// Always taken inside `arch::cpu::irq::without`, i.e. with interrupts
/// masked on this CPU for as long as it is held: an interrupt handler on the
/// same CPU that logs would otherwise spin forever on a lock its own CPU
/// holds. Other CPUs simply spin until the current line is out. Nothing is
/// allocated and no other lock is taken while it is held; it guards no data,
/// only the order of bytes on the wire. The receive side never takes it.
/// An NMI handler must not log (it cannot be masked); emergency output goes
/// through `arch`'s raw path instead.
static TX_LOCK: spin::Mutex<()> = spin::Mutex::new(());

/// Longest slice written under one hold of [`TX_LOCK`] by [`write_str`], so
/// that a large write does not keep interrupts masked for long.
const TX_CHUNK: usize = 256;

/// Claims and programs COM1 (115200 8N1, FIFOs on, receive interrupt off).
/// Output works as soon as this returns. Idempotent: later calls do nothing
/// and succeed. Fails if the ports are already claimed by someone else.
pub fn init() -> Result<(), ClaimError> {
    // A racing second caller spins until the first has finished, then
    // returns; only the first claims the ports.
    COM1.try_call_once(|| {
        let uart = Uart::claim(COM1_BASE)?;
        uart.init(CONSOLE_BAUD);
        Ok(uart)
    })
    .map(|_| ())
}

/// Writes `bytes` to COM1 as one uninterrupted unit, converting `\n` to
/// `\r\n`. The logger uses it for whole lines; keep units short, since
/// interrupts stay masked on this CPU while they go out. Does nothing
/// before [`init`].
pub fn write_line(bytes: &[u8]) {
    let Some(uart) = COM1.get() else { return };
    arch::cpu::irq::without(|| {
        let _tx = TX_LOCK.lock();
        crlf(bytes, |piece| uart.transmit(piece));
    });
}

/// Writes `s` to the console for the shell and other raw output. Each line
/// (up to 256 bytes) is one unit under the transmit lock, so it never
/// interleaves with another CPU's log line, but a long multi-line string may
/// have log lines between its lines.
pub fn write_str(s: &str) {
    for unit in units(s.as_bytes()) {
        write_line(unit);
    }
}

/// `print!`-style output: formats `args` into a 256-byte stack buffer and
/// writes it with [`write_line`] whenever it fills or a line ends.
pub fn write_fmt(args: fmt::Arguments<'_>) {
    let mut writer = ChunkWriter {
        buf: [0; TX_CHUNK],
        len: 0,
    };
    let _ = fmt::write(&mut writer, args);
    writer.flush();
}

/// A [`fmt::Write`] that collects into a stack buffer and hands complete
/// lines (or full buffers) to [`write_line`].
struct ChunkWriter {
    buf: [u8; TX_CHUNK],
    len: usize,
}

impl ChunkWriter {
    fn flush(&mut self) {
        if self.len > 0 {
            write_line(&self.buf[..self.len]);
            self.len = 0;
        }
    }
}

impl fmt::Write for ChunkWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &byte in s.as_bytes() {
            if self.len == self.buf.len() {
                self.flush();
            }
            self.buf[self.len] = byte;
            self.len += 1;
            if byte == b'\n' {
                self.flush();
            }
        }
        Ok(())
    }
}

/// Splits `bytes` after each `\n`, and further into pieces of at most
/// [`TX_CHUNK`] bytes: the units [`write_str`] writes under one lock hold.
fn units(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes
        .split_inclusive(|&b| b == b'\n')
        .flat_map(|line| line.chunks(TX_CHUNK))
}

/// Feeds `bytes` to `sink` with every `\n` turned into `\r\n` (a `\n` that
/// already follows a `\r` is left alone). The sink gets borrowed runs of the
/// input plus the inserted `\r`s, so no copy is made.
pub fn crlf(bytes: &[u8], mut sink: impl FnMut(&[u8])) {
    let mut start = 0;
    for (i, &byte) in bytes.iter().enumerate() {
        if byte == b'\n' && (i == 0 || bytes[i - 1] != b'\r') {
            if start < i {
                sink(&bytes[start..i]);
            }
            sink(b"\r");
            start = i;
        }
    }
    if start < bytes.len() {
        sink(&bytes[start..]);
    }
}

// ---------------------------------------------------------------------------
// Input
// ---------------------------------------------------------------------------

/// Received bytes on their way from the interrupt handler to the one reader
/// task: a lock-free bounded FIFO plus the reader's waker.
///
/// Producer: the UART interrupt handler, [`RxQueue::push`] then
/// [`RxQueue::wake_reader`] (or [`RxQueue::receive`], which does both).
/// Consumer: the task holding the [`Input`] taken from [`RxQueue::reader`].
/// No lock is taken on either side, so the handler can never wait for the
/// reader and the reader never needs interrupts masked.
///
/// The byte storage is allocated by [`RxQueue::allocate`] (it needs the
/// heap); before that every pushed byte counts as dropped, while a reader
/// can already wait.
pub struct RxQueue {
    bytes: spin::Once<ArrayQueue<u8>>,
    reader_waker: AtomicWaker,
    reader_taken: AtomicBool,
    dropped: AtomicU64,
}

impl Default for RxQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl RxQueue {
    /// An empty queue without storage yet (usable in a `static`).
    pub const fn new() -> Self {
        Self {
            bytes: spin::Once::new(),
            reader_waker: AtomicWaker::new(),
            reader_taken: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
        }
    }

    /// Allocates room for `capacity` bytes. Only the first call allocates.
    pub fn allocate(&self, capacity: usize) {
        self.bytes.call_once(|| ArrayQueue::new(capacity));
    }

    /// Queues one received byte; if the queue is full (or not allocated)
    /// the byte is dropped and counted, and `false` returned. Does not wake
    /// the reader: call [`RxQueue::wake_reader`] after a batch.
    pub fn push(&self, byte: u8) -> bool {
        let queued = self
            .bytes
            .get()
            .is_some_and(|bytes| bytes.push(byte).is_ok());
        if !queued {
            // Relaxed: a statistic; nothing is published through it.
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        queued
    }

    /// Wakes the reader, if it is waiting.
    pub fn wake_reader(&self) {
        self.reader_waker.wake();
    }

    /// What the interrupt handler does with a burst of input: queues every
    /// byte of `bytes`, then wakes the reader once if any was queued.
    /// Returns how many were queued.
    pub fn receive(&self, bytes: impl IntoIterator<Item = u8>) -> usize {
        let queued = bytes.into_iter().filter(|&byte| self.push(byte)).count();
        if queued > 0 {
            self.wake_reader();
        }
        queued
    }

    /// How many received bytes were thrown away because the queue was full.
    pub fn dropped(&self) -> u64 {
        // Relaxed: a statistic (see `push`).
        self.dropped.load(Ordering::Relaxed)
    }

    /// Takes the one reader handle; `None` while another [`Input`] for this
    /// queue exists. One reader, because the queue keeps one waker: two
    /// waiting tasks would keep replacing each other's.
    pub fn reader(&self) -> Option<Input<'_>> {
        // Acquire: pairs with the Release in `Input::drop`, so the previous
        // reader's last use of the waker slot happens before ours.
        if self.reader_taken.swap(true, Ordering::Acquire) {
            None
        } else {
            Some(Input { rx: self })
        }
    }

    fn is_allocated(&self) -> bool {
        self.bytes.is_completed()
    }

    fn try_pop(&self) -> Option<u8> {
        self.bytes.get().and_then(ArrayQueue::pop)
    }

    fn poll_pop(&self, cx: &mut Context<'_>) -> Poll<u8> {
        if let Some(byte) = self.try_pop() {
            return Poll::Ready(byte);
        }
        // Register, then look again: a byte pushed after the first look
        // either is seen by the second, or its push was ordered after our
        // registration and the producer's `wake` (which follows the push)
        // finds our waker. `AtomicWaker::register`/`wake` are AcqRel on
        // their state word, and the queue's push/pop are Release/Acquire on
        // the slot, which gives that order.
        self.reader_waker.register(cx.waker());
        match self.try_pop() {
            Some(byte) => Poll::Ready(byte),
            None => Poll::Pending,
        }
    }
}

/// The reading end of an [`RxQueue`]: an endless async stream of received
/// bytes. There is at most one per queue ([`RxQueue::reader`], [`input`]);
/// dropping it lets another be taken.
pub struct Input<'q> {
    rx: &'q RxQueue,
}

impl Input<'_> {
    /// The next received byte, waiting for the receive interrupt if none is
    /// queued.
    pub async fn read_byte(&mut self) -> u8 {
        poll_fn(|cx| self.rx.poll_pop(cx)).await
    }

    /// The next received byte if one is already queued (the polled path,
    /// for use before interrupts are on or outside a task).
    pub fn try_read_byte(&mut self) -> Option<u8> {
        self.rx.try_pop()
    }

    /// Bytes dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.rx.dropped()
    }
}

impl Stream for Input<'_> {
    type Item = u8;

    /// Never ends: yields `Some(byte)` for each byte received.
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<u8>> {
        self.rx.poll_pop(cx).map(Some)
    }
}

impl Drop for Input<'_> {
    fn drop(&mut self) {
        // Release: pairs with the Acquire in `RxQueue::reader`.
        self.rx.reader_taken.store(false, Ordering::Release);
    }
}

/// COM1's receive queue.
static RX: RxQueue = RxQueue::new();

/// Allocates COM1's receive queue and turns the chip's receive interrupt on.
///
/// Needs the heap and [`init`]; call it after `arch` has routed IRQ 4 to a
/// handler that calls [`handle_interrupt`]. Returns `false` (and does
/// nothing) if [`init`] has not run.
pub fn enable_input() -> bool {
    let Some(uart) = COM1.get() else {
        return false;
    };
    RX.allocate(RX_QUEUE_CAPACITY);
    uart.enable_receive_interrupt();
    true
}

/// The COM1 receive-interrupt handler's work: reads every byte the UART has
/// (RBR while LSR.DR is set, which also clears the chip's interrupt), queues
/// them and wakes the reader. Lock-free and allocation-free, so it is safe
/// to call from the interrupt handler; the caller sends the EOI afterwards.
/// Harmless if the UART has nothing (a spurious or shared interrupt).
pub fn handle_interrupt() {
    let Some(uart) = COM1.get() else { return };
    RX.receive(core::iter::from_fn(|| uart.try_receive()).take(RX_DRAIN_LIMIT));
}

/// The console's input stream, for the shell. `None` while another task
/// holds it. Bytes arrive once [`enable_input`] has run.
pub fn input() -> Option<Input<'static>> {
    RX.reader()
}

/// Polled input: the next byte from the receive queue, or — before
/// [`enable_input`] — straight from the UART. `None` if nothing has arrived.
///
/// Once input is enabled the UART is read only by [`handle_interrupt`]: two
/// CPUs reading RBR after the same LSR.DR could both take one byte.
pub fn try_read_byte() -> Option<u8> {
    if RX.is_allocated() {
        RX.try_pop()
    } else {
        COM1.get().and_then(Uart::try_receive)
    }
}

/// Console input bytes dropped because the receive queue was full.
pub fn dropped_input_bytes() -> u64 {
    RX.dropped()
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use futures_util::StreamExt;
    use futures_util::task::{ArcWake, noop_waker_ref, waker};
    use std::boxed::Box;
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;
    use std::thread;
    use std::vec::Vec;

    fn converted(input: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        crlf(input, |piece| out.extend_from_slice(piece));
        out
    }

    #[test]
    fn crlf_converts_lone_newlines_only() {
        assert_eq!(converted(b"a\nb\n"), b"a\r\nb\r\n");
        assert_eq!(converted(b"\n\n"), b"\r\n\r\n");
        assert_eq!(converted(b"already\r\n"), b"already\r\n");
        assert_eq!(converted(b"no newline"), b"no newline");
        assert_eq!(converted(b""), b"");
    }

    #[test]
    fn units_split_after_newlines_and_at_chunk_size() {
        let long = [b'x'; TX_CHUNK + 10];
        let collected: Vec<&[u8]> = units(b"ab\ncd\n\nef").collect();
        assert_eq!(collected, [&b"ab\n"[..], b"cd\n", b"\n", b"ef"]);
        let sizes: Vec<usize> = units(&long).map(<[u8]>::len).collect();
        assert_eq!(sizes, [TX_CHUNK, 10]);
    }

    #[test]
    fn uart_on_host_reports_no_input() {
        // On the host port reads return 0: LSR.DR clear, so nothing arrives.
        let uart = Uart::claim(0x2e8).unwrap();
        uart.init(CONSOLE_BAUD);
        assert_eq!(uart.try_receive(), None);
        assert_eq!(Uart::claim(0x2e8).unwrap_err(), ClaimError::Busy);
    }

    /// Counts wake-ups.
    struct WakeCount(AtomicUsize);

    impl ArcWake for WakeCount {
        fn wake_by_ref(arc_self: &Arc<Self>) {
            arc_self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn queue(capacity: usize) -> RxQueue {
        let rx = RxQueue::new();
        rx.allocate(capacity);
        rx
    }

    #[test]
    fn reader_gets_bytes_in_order_and_is_woken() {
        let rx = queue(16);
        let mut input = rx.reader().unwrap();
        let wakes = Arc::new(WakeCount(AtomicUsize::new(0)));
        let waker = waker(wakes.clone());
        let mut cx = Context::from_waker(&waker);

        let mut read = Box::pin(input.read_byte());
        assert_eq!(read.as_mut().poll(&mut cx), Poll::Pending);
        assert_eq!(rx.receive(*b"hi!"), 3);
        assert_eq!(wakes.0.load(Ordering::SeqCst), 1, "one wake per burst");
        assert_eq!(read.as_mut().poll(&mut cx), Poll::Ready(b'h'));
        drop(read);

        let mut rest = Vec::new();
        while let Poll::Ready(Some(byte)) = input.poll_next_unpin(&mut cx) {
            rest.push(byte);
            if rest.len() == 2 {
                break;
            }
        }
        assert_eq!(rest, b"i!");
        assert_eq!(input.try_read_byte(), None);
        assert_eq!(input.poll_next_unpin(&mut cx), Poll::Pending);
        assert_eq!(rx.dropped(), 0);
    }

    #[test]
    fn full_queue_counts_drops() {
        let rx = queue(4);
        assert_eq!(rx.receive(*b"abcdef"), 4);
        assert_eq!(rx.dropped(), 2);
        let mut input = rx.reader().unwrap();
        let got: Vec<u8> = core::iter::from_fn(|| input.try_read_byte()).collect();
        assert_eq!(got, b"abcd");
        assert_eq!(input.dropped(), 2);
    }

    #[test]
    fn bytes_before_allocation_are_dropped_but_reader_is_woken_later() {
        let rx = RxQueue::new();
        assert!(!rx.push(b'x'));
        assert_eq!(rx.dropped(), 1);

        let mut input = rx.reader().unwrap();
        let wakes = Arc::new(WakeCount(AtomicUsize::new(0)));
        let waker = waker(wakes.clone());
        let mut cx = Context::from_waker(&waker);
        assert_eq!(input.poll_next_unpin(&mut cx), Poll::Pending);

        rx.allocate(8);
        rx.receive([b'y']);
        assert_eq!(wakes.0.load(Ordering::SeqCst), 1);
        assert_eq!(input.poll_next_unpin(&mut cx), Poll::Ready(Some(b'y')));
    }

    #[test]
    fn only_one_reader_at_a_time() {
        let rx = queue(4);
        let first = rx.reader().unwrap();
        assert!(rx.reader().is_none());
        drop(first);
        assert!(rx.reader().is_some());
    }

    /// A waker that unparks the waiting thread, for a minimal `block_on`.
    struct Unpark(thread::Thread);

    impl ArcWake for Unpark {
        fn wake_by_ref(arc_self: &Arc<Self>) {
            arc_self.0.unpark();
        }
    }

    fn block_on<F: Future>(future: F) -> F::Output {
        let waker = waker(Arc::new(Unpark(thread::current())));
        let mut cx = Context::from_waker(&waker);
        let mut future = core::pin::pin!(future);
        loop {
            if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
                return out;
            }
            thread::park();
        }
    }

    #[test]
    fn reader_on_another_thread_sees_every_byte_in_order() {
        // The "interrupt handler" runs on its own thread in small bursts,
        // racing the reader's register-then-recheck; a lost wake-up would
        // hang this test.
        const TOTAL: usize = 20_000;
        let rx: &'static RxQueue = Box::leak(Box::new(queue(64)));
        let producer = thread::spawn(move || {
            for burst in (0..TOTAL).collect::<Vec<_>>().chunks(7) {
                for &i in burst {
                    // A full queue drops the byte (and counts it); this
                    // test wants every byte, so it retries instead.
                    while !rx.push(i as u8) {
                        rx.wake_reader();
                        thread::yield_now();
                    }
                }
                rx.wake_reader();
            }
        });
        let mut input = rx.reader().unwrap();
        let got: Vec<u8> = block_on(async {
            let mut got = Vec::with_capacity(TOTAL);
            while got.len() < TOTAL {
                got.push(input.read_byte().await);
            }
            got
        });
        producer.join().unwrap();
        assert!(got.iter().enumerate().all(|(i, &b)| b == i as u8));
    }

    #[test]
    fn try_read_byte_without_uart_or_queue_is_none() {
        // The global queue is not allocated on the host and COM1 not set up.
        assert_eq!(try_read_byte(), None);
        let mut cx = Context::from_waker(noop_waker_ref());
        let mut input = input().unwrap();
        assert_eq!(input.poll_next_unpin(&mut cx), Poll::Pending);
    }
}
