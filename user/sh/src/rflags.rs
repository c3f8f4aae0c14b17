//! FreeBSD's `rfork` flags by name, with the values Tine's `rfork` (system
//! call 1000) takes: FreeBSD's, except `RFPPWAIT`, which Tine's user ABI
//! puts at bit 15 (FreeBSD's bit 31 means `RFSPAWN` to user space; see
//! `docs/fork.md`, "RFPPWAIT").
//!
//! The shell's `rfork FLAG... [-- CMD]` parses its flags with [`parse`]:
//! each argument is a name (`RFPROC`, `rfproc`, or without the `RF`:
//! `proc`), several joined with `|` or `,`, a number (`0x14`), or
//! `RFTSIGZMB=SIG` (the exit signal in bits 20..=27, a name or number).
//! The values are `abi::fork`'s, as `u32` words.

use alloc::string::String;

use abi::fork;

pub const RFFDG: u32 = fork::RFFDG.bits();
pub const RFPROC: u32 = fork::RFPROC.bits();
pub const RFMEM: u32 = fork::RFMEM.bits();
pub const RFNOWAIT: u32 = fork::RFNOWAIT.bits();
pub const RFCFDG: u32 = fork::RFCFDG.bits();
pub const RFTHREAD: u32 = fork::RFTHREAD.bits();
pub const RFSIGSHARE: u32 = fork::RFSIGSHARE.bits();
/// Tine's user-visible `RFPPWAIT` (module docs).
pub const RFPPWAIT: u32 = fork::RFPPWAIT_USER.bits();
pub const RFLINUXTHPN: u32 = fork::RFLINUXTHPN.bits();
pub const RFSTOPPED: u32 = fork::RFSTOPPED.bits();
pub const RFHIGHPID: u32 = fork::RFHIGHPID.bits();
pub const RFTSIGZMB: u32 = fork::RFTSIGZMB.bits();
pub const RFTSIGSHIFT: u32 = fork::RFTSIGSHIFT;
pub const RFTSIGMASK: u32 = fork::RFTSIGMASK;
pub const RFPROCDESC: u32 = fork::RFPROCDESC.bits();
pub const RFSPAWN: u32 = fork::RFSPAWN.bits();

/// Every flag by name, in bit order.
pub const NAMES: &[(&str, u32)] = &[
    ("RFFDG", RFFDG),
    ("RFPROC", RFPROC),
    ("RFMEM", RFMEM),
    ("RFNOWAIT", RFNOWAIT),
    ("RFCFDG", RFCFDG),
    ("RFTHREAD", RFTHREAD),
    ("RFSIGSHARE", RFSIGSHARE),
    ("RFPPWAIT", RFPPWAIT),
    ("RFLINUXTHPN", RFLINUXTHPN),
    ("RFSTOPPED", RFSTOPPED),
    ("RFHIGHPID", RFHIGHPID),
    ("RFTSIGZMB", RFTSIGZMB),
    ("RFPROCDESC", RFPROCDESC),
    ("RFSPAWN", RFSPAWN),
];

/// The value of one flag name (`RFPROC`, `rfproc`, `proc`).
pub fn flag(name: &str) -> Option<u32> {
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("RF") {
        upper
    } else {
        alloc::format!("RF{upper}")
    };
    NAMES.iter().find(|&&(n, _)| n == full).map(|&(_, v)| v)
}

fn number(s: &str) -> Option<u32> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// Parses one argument's flags (module docs); `Err` names the bad part.
pub fn parse_arg(arg: &str) -> Result<u32, String> {
    let mut flags = 0;
    for part in arg.split(['|', ',']).filter(|p| !p.is_empty()) {
        if let Some(sig) = part
            .split_once('=')
            .filter(|(n, _)| flag(n) == Some(RFTSIGZMB))
            .map(|(_, s)| s)
        {
            let signum = crate::signal::parse(sig)
                .map(|s| s as u32)
                .or_else(|| number(sig))
                .filter(|&n| n <= RFTSIGMASK)
                .ok_or_else(|| alloc::format!("bad signal '{sig}' (a name or 0..=255)"))?;
            flags |= RFTSIGZMB | (signum << RFTSIGSHIFT);
        } else if let Some(v) = flag(part).or_else(|| number(part)) {
            flags |= v;
        } else {
            return Err(alloc::format!("unknown flag '{part}'"));
        }
    }
    Ok(flags)
}

/// Parses every argument and joins them.
pub fn parse<'a>(args: impl IntoIterator<Item = &'a str>) -> Result<u32, String> {
    args.into_iter()
        .try_fold(0, |acc, a| parse_arg(a).map(|f| acc | f))
}

/// `flags` as names joined by `|` (signal bits as `RFTSIGZMB=N`, unknown
/// bits in hex); `0` for none.
pub fn describe(flags: u32) -> String {
    let mut s = String::new();
    let mut rest = flags;
    for &(name, v) in NAMES {
        if flags & v != 0 {
            if !s.is_empty() {
                s.push('|');
            }
            s.push_str(name);
            if v == RFTSIGZMB {
                s.push_str(&alloc::format!("={}", (flags >> RFTSIGSHIFT) & RFTSIGMASK));
            }
            rest &= !v;
        }
    }
    rest &= !(RFTSIGMASK << RFTSIGSHIFT);
    if flags & RFTSIGZMB == 0 && flags & (RFTSIGMASK << RFTSIGSHIFT) != 0 {
        rest |= flags & (RFTSIGMASK << RFTSIGSHIFT);
    }
    if rest != 0 {
        if !s.is_empty() {
            s.push('|');
        }
        s.push_str(&alloc::format!("{rest:#x}"));
    }
    if s.is_empty() {
        s.push('0');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freebsd_values() {
        assert_eq!(RFPROC, 0x10);
        assert_eq!(RFFDG, 0x4);
        assert_eq!(RFMEM, 0x20);
        assert_eq!(RFCFDG, 0x1000);
        assert_eq!(RFPROCDESC, 0x1000_0000);
        assert_eq!(RFSPAWN, 0x8000_0000);
        assert_eq!(RFTSIGZMB, 0x8_0000);
        // No two names share a bit.
        let all = NAMES.iter().fold(0u32, |acc, &(_, v)| {
            assert_eq!(acc & v, 0);
            acc | v
        });
        assert_eq!(all.count_ones() as usize, NAMES.len());
    }

    #[test]
    fn names_in_every_spelling() {
        assert_eq!(flag("RFPROC"), Some(RFPROC));
        assert_eq!(flag("rfproc"), Some(RFPROC));
        assert_eq!(flag("proc"), Some(RFPROC));
        assert_eq!(flag("RFNOPE"), None);
        assert_eq!(parse(["RFPROC", "RFFDG"]), Ok(RFPROC | RFFDG));
        assert_eq!(
            parse(["RFPROC|RFMEM,RFPPWAIT"]),
            Ok(RFPROC | RFMEM | RFPPWAIT)
        );
        assert_eq!(parse(["0x14"]), Ok(0x14));
        assert_eq!(parse(["16"]), Ok(RFPROC));
        assert_eq!(parse([]), Ok(0));
    }

    #[test]
    fn exit_signals() {
        assert_eq!(
            parse(["RFPROC", "RFTSIGZMB=USR1"]),
            Ok(RFPROC | RFTSIGZMB | (10 << RFTSIGSHIFT))
        );
        assert_eq!(parse(["tsigzmb=9"]), Ok(RFTSIGZMB | (9 << RFTSIGSHIFT)));
        assert_eq!(
            parse(["RFTSIGZMB=200"]),
            Ok(RFTSIGZMB | (200 << RFTSIGSHIFT))
        );
        assert!(parse(["RFTSIGZMB=BOGUS"]).is_err());
    }

    #[test]
    fn errors_name_the_bad_part() {
        assert_eq!(
            parse(["RFPROC|RFBOGUS"]),
            Err("unknown flag 'RFBOGUS'".into())
        );
    }

    #[test]
    fn describe_round_trips() {
        assert_eq!(describe(RFPROC | RFFDG), "RFFDG|RFPROC");
        assert_eq!(describe(0), "0");
        assert_eq!(
            describe(RFPROC | RFTSIGZMB | (10 << RFTSIGSHIFT)),
            "RFPROC|RFTSIGZMB=10"
        );
        assert_eq!(describe(RFPROC | 1), "RFPROC|0x1");
        assert_eq!(describe(5 << RFTSIGSHIFT), "0x500000");
        for &(name, v) in NAMES {
            assert_eq!(parse([name]), Ok(v));
            assert_eq!(parse([describe(v).as_str()]), Ok(v));
        }
    }
}
