//! The flag-set macro the fork flags (and the kernel's own `fr_flags2`)
//! are made with.
//!
//! Why not the `bitflags` crate: these sets are FreeBSD's and Linux's C
//! flags, used as module-level constants spelled as the C headers spell
//! them (`RFFDG | RFPROC`, `CLONE_VM`), with aliases that share a bit
//! (`RFSPAWN`/`RFPPWAIT`, `CLONE_PID`/`CLONE_PIDFD`) and a table of names
//! the shell parses (`from_name`, `NAMED`) in which the alias that prints
//! is chosen by order. `bitflags` 2 puts the flags inside the type
//! (`RfFlags::RFFDG`), prints every alias of a set bit, and would need a
//! second table for the shell; the macro is ~100 lines with the same
//! `const` set operations (`union`, `contains`, `from_bits_retain`, ...).

/// Defines a set of `u32` flag bits: a newtype with `const` set
/// operations, `|`, `&`, `!`, and a `Debug` that prints the names it knows
/// (the module docs say why this is not `bitflags`). `$names` is a
/// `&[(&str, $name)]` in scope at the call.
#[macro_export]
macro_rules! flag_set {
    ($(#[$meta:meta])* $name:ident, $names:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct $name(u32);

        impl $name {
            /// No bits.
            pub const EMPTY: Self = Self(0);

            /// These bits, known or not (validation decides what to do
            /// with unknown ones).
            pub const fn from_bits_retain(bits: u32) -> Self {
                Self(bits)
            }

            /// The raw bits.
            pub const fn bits(self) -> u32 {
                self.0
            }

            /// Every bit of `other` is set.
            pub const fn contains(self, other: Self) -> bool {
                self.0 & other.0 == other.0
            }

            /// Some bit of `other` is set.
            pub const fn intersects(self, other: Self) -> bool {
                self.0 & other.0 != 0
            }

            /// The bits of both.
            pub const fn union(self, other: Self) -> Self {
                Self(self.0 | other.0)
            }

            /// The bits of `self` that are not in `other`.
            pub const fn difference(self, other: Self) -> Self {
                Self(self.0 & !other.0)
            }

            /// No bit set.
            pub const fn is_empty(self) -> bool {
                self.0 == 0
            }

            /// The flag called `name` (as the C headers spell it), for the
            /// shell's symbolic flag arguments.
            pub fn from_name(name: &str) -> Option<Self> {
                $names
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|&(_, flag)| flag)
            }

            /// Every named flag, with its name.
            pub const NAMED: &'static [(&'static str, Self)] = $names;
        }

        impl ::core::ops::BitOr for $name {
            type Output = Self;
            fn bitor(self, rhs: Self) -> Self {
                Self(self.0 | rhs.0)
            }
        }

        impl ::core::ops::BitAnd for $name {
            type Output = Self;
            fn bitand(self, rhs: Self) -> Self {
                Self(self.0 & rhs.0)
            }
        }

        impl ::core::ops::Not for $name {
            type Output = Self;
            fn not(self) -> Self {
                Self(!self.0)
            }
        }

        impl ::core::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                let mut rest = self.0;
                let mut first = true;
                for &(name, flag) in $names {
                    if flag.0 != 0 && rest & flag.0 == flag.0 {
                        if !first {
                            f.write_str("|")?;
                        }
                        f.write_str(name)?;
                        rest &= !flag.0;
                        first = false;
                    }
                }
                if rest != 0 || first {
                    if !first {
                        f.write_str("|")?;
                    }
                    write!(f, "{rest:#x}")?;
                }
                Ok(())
            }
        }
    };
}
