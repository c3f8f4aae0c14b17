//! Symbolised kernel backtraces: the panic and exception reports end with
//! a `backtrace: 0x... 0x...` line of raw return addresses
//! (`arch::cpu::backtrace`); the kernel carries no symbol table, so this
//! module resolves them (and an exception's `RIP=`) against the kernel
//! ELF's `.symtab` and demangles the names with `rustc-demangle`.
//! [`crate::qemu::boot`] appends the result to every captured run that
//! printed a backtrace, so tests, fuzz and stress runs all show it.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use elf::ElfBytes;
use elf::abi::STT_FUNC;
use elf::endian::AnyEndian;

/// The function symbols of one ELF, sorted by address.
pub struct Symbols {
    /// `(start, size, demangled name)`.
    funcs: Vec<(u64, u64, String)>,
}

impl Symbols {
    /// Reads the function symbols of the ELF at `path`.
    pub fn load(path: &Path) -> Result<Self> {
        let data =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        Self::parse(&data).with_context(|| format!("{}: no usable symbol table", path.display()))
    }

    fn parse(data: &[u8]) -> Result<Self> {
        let file = ElfBytes::<AnyEndian>::minimal_parse(data)?;
        let (table, names) = file.symbol_table()?.context("no .symtab")?;
        let mut funcs: Vec<(u64, u64, String)> = table
            .iter()
            .filter(|s| s.st_symtype() == STT_FUNC && s.st_value != 0)
            .filter_map(|s| {
                let name = names.get(s.st_name as usize).ok()?;
                Some((s.st_value, s.st_size, demangle(name)))
            })
            .collect();
        funcs.sort_by_key(|&(start, ..)| start);
        Ok(Self { funcs })
    }

    /// From a list of `(start, size, name)`, for tests.
    #[cfg(test)]
    fn from_list(list: &[(u64, u64, &str)]) -> Self {
        let mut funcs: Vec<_> = list.iter().map(|&(a, s, n)| (a, s, n.to_owned())).collect();
        funcs.sort_by_key(|&(start, ..)| start);
        Self { funcs }
    }

    /// The function holding `addr` and the offset of `addr` in it.
    pub fn lookup(&self, addr: u64) -> Option<(&str, u64)> {
        let i = self.funcs.partition_point(|&(start, ..)| start <= addr);
        let (start, size, name) = self.funcs.get(i.checked_sub(1)?)?;
        // A symbol of unknown size (0) covers up to the next one.
        (*size == 0 || addr < start + size).then(|| (name.as_str(), addr - start))
    }

    /// `name+0xoff` for a return address: the call is the instruction
    /// before it, so `ret - 1` picks the function (a call that never
    /// returns may be a function's last instruction).
    fn describe_return(&self, ret: u64) -> String {
        match self.lookup(ret.wrapping_sub(1)) {
            Some((name, off)) => format!("{name}+{:#x}", off + 1),
            None => "??".to_owned(),
        }
    }

    fn describe(&self, addr: u64) -> String {
        match self.lookup(addr) {
            Some((name, off)) => format!("{name}+{off:#x}"),
            None => "??".to_owned(),
        }
    }
}

/// A Rust symbol demangled without its hash; other names unchanged.
fn demangle(name: &str) -> String {
    format!("{:#}", rustc_demangle::demangle(name))
}

/// Parses the hexadecimal number at the start of `text` (`0x` optional).
fn hex(text: &str) -> Option<u64> {
    let text = text.strip_prefix("0x").unwrap_or(text);
    let end = text
        .find(|c: char| !c.is_ascii_hexdigit())
        .unwrap_or(text.len());
    u64::from_str_radix(&text[..end], 16).ok()
}

/// The symbolised form of every `RIP=` and `backtrace:` line in `output`,
/// or `None` if it has no backtrace.
pub fn annotate(symbols: &Symbols, output: &str) -> Option<String> {
    let mut text = String::new();
    for line in output.lines() {
        if let Some(rip) = line.split_whitespace().find_map(|w| w.strip_prefix("RIP="))
            && let Some(rip) = hex(rip)
        {
            let _ = writeln!(text, "  at  {rip:#018x} {}", symbols.describe(rip));
        }
        if let Some(addrs) = line.trim_start().strip_prefix("backtrace:") {
            for (i, ret) in addrs.split_whitespace().filter_map(hex).enumerate() {
                let _ = writeln!(
                    text,
                    "  #{i:<2} {ret:#018x} {}",
                    symbols.describe_return(ret)
                );
            }
        }
    }
    output
        .lines()
        .any(|l| l.trim_start().starts_with("backtrace:"))
        .then(|| format!("--- symbolised backtrace ---\n{text}---\n"))
}

/// [`annotate`] against the kernel ELF at `kernel`; a note instead if its
/// symbols cannot be read.
pub fn annotate_boot(kernel: &Path, output: &str) -> Option<String> {
    if !output.contains("backtrace:") {
        return None;
    }
    match Symbols::load(kernel) {
        Ok(symbols) => annotate(&symbols, output),
        Err(e) => Some(format!("(backtrace not symbolised: {e:#})\n")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn symbols() -> Symbols {
        Symbols::from_list(&[
            (0x1000, 0x20, "kernel::init::deliberate_panic"),
            (0x1020, 0x100, "arch::panic::panic"),
            (0x2000, 0, "last"),
        ])
    }

    #[test]
    fn addresses_resolve_to_the_function_holding_them() {
        let s = symbols();
        assert_eq!(
            s.lookup(0x1000),
            Some(("kernel::init::deliberate_panic", 0))
        );
        assert_eq!(
            s.lookup(0x101f),
            Some(("kernel::init::deliberate_panic", 0x1f))
        );
        assert_eq!(s.lookup(0x1020), Some(("arch::panic::panic", 0)));
        assert_eq!(s.lookup(0x1120), None);
        assert_eq!(s.lookup(0xfff), None);
        assert_eq!(s.lookup(0x9000), Some(("last", 0x7000)));
        // A return address just past a function's last call names that
        // function.
        assert_eq!(
            s.describe_return(0x1020),
            "kernel::init::deliberate_panic+0x20"
        );
    }

    #[test]
    fn reports_are_annotated() {
        let out = "KERNEL PANIC on cpu0: boom\nbacktrace: 0x1030 0x1010\n";
        let text = annotate(&symbols(), out).unwrap();
        assert!(
            text.contains("#0  0x0000000000001030 arch::panic::panic+0x10"),
            "{text}"
        );
        assert!(
            text.contains("#1  0x0000000000001010 kernel::init::deliberate_panic+0x10"),
            "{text}"
        );
        let exc = "RIP=0x0000000000001005 CS=0x0008\nbacktrace: 0x1021\n";
        let text = annotate(&symbols(), exc).unwrap();
        assert!(
            text.contains("at  0x0000000000001005 kernel::init::deliberate_panic+0x5"),
            "{text}"
        );
        assert_eq!(annotate(&symbols(), "no report here\n"), None);
    }

    #[test]
    fn rust_names_lose_their_hash() {
        assert_eq!(
            demangle("_ZN6kernel4init16deliberate_panic17h0123456789abcdefE"),
            "kernel::init::deliberate_panic"
        );
        assert_eq!(demangle("memcpy"), "memcpy");
    }
}
