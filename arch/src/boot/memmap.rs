//! The physical memory map: usable RAM as sorted, page-aligned, disjoint
//! regions, with the ranges the kernel must keep (its own image, boot
//! modules, the low 1 MiB) carved out.
//!
//! Pure logic, tested on the host. Built from the PVH `hvm_memmap_table`,
//! which on QEMU does not exclude the kernel image (so [`MemoryMap::reserve`]
//! it) and on `-M microvm` ends with a zero-size entry (skipped).

/// Size of a page / frame.
pub const PAGE_SIZE: u64 = 4096;
/// Capacity of a [`MemoryMap`].
pub const MAX_REGIONS: usize = 64;

/// E820/PVH memory type of usable RAM.
pub const TYPE_RAM: u32 = 1;

/// A half-open physical range `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Region {
    pub start: u64,
    pub end: u64,
}

impl Region {
    /// Length in bytes.
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    /// Whether the region is empty.
    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }
}

/// Usable RAM, sorted by address, page-aligned, never overlapping.
#[derive(Clone, Debug)]
pub struct MemoryMap {
    regions: [Region; MAX_REGIONS],
    len: usize,
    /// End of the highest RAM entry seen, before any reservation.
    ram_end: u64,
}

const fn align_up(x: u64, a: u64) -> u64 {
    x.div_ceil(a) * a
}

const fn align_down(x: u64, a: u64) -> u64 {
    x / a * a
}

impl MemoryMap {
    /// A map with no usable memory.
    pub const fn empty() -> Self {
        Self {
            regions: [Region { start: 0, end: 0 }; MAX_REGIONS],
            len: 0,
            ram_end: 0,
        }
    }

    /// Builds the map from `(address, size, type)` entries: keeps RAM,
    /// shrinks each entry inward to page boundaries, skips empty ones,
    /// sorts and merges. Entries beyond [`MAX_REGIONS`] are dropped.
    pub fn from_entries(entries: impl IntoIterator<Item = (u64, u64, u32)>) -> Self {
        let mut map = Self::empty();
        for (addr, size, kind) in entries {
            if kind != TYPE_RAM || size == 0 {
                continue;
            }
            let end = addr.saturating_add(size);
            map.ram_end = map.ram_end.max(end);
            map.add(Region {
                start: align_up(addr, PAGE_SIZE),
                end: align_down(end, PAGE_SIZE),
            });
        }
        map
    }

    /// Adds a usable region, keeping the list sorted and merged.
    fn add(&mut self, r: Region) {
        if r.is_empty() || self.len == MAX_REGIONS {
            return;
        }
        let at = self.regions[..self.len].partition_point(|x| x.start < r.start);
        self.regions.copy_within(at..self.len, at + 1);
        self.regions[at] = r;
        self.len += 1;
        // Merge overlapping or touching neighbours.
        let mut out = 0;
        for i in 0..self.len {
            let cur = self.regions[i];
            if out > 0 && cur.start <= self.regions[out - 1].end {
                let prev = &mut self.regions[out - 1];
                prev.end = prev.end.max(cur.end);
            } else {
                self.regions[out] = cur;
                out += 1;
            }
        }
        self.len = out;
    }

    /// Removes `[start, end)` (widened to whole pages) from the usable
    /// regions, splitting a region when the range falls in its middle.
    pub fn reserve(&mut self, start: u64, end: u64) {
        let (start, end) = (align_down(start, PAGE_SIZE), align_up(end, PAGE_SIZE));
        if start >= end {
            return;
        }
        let mut kept = [Region::default(); MAX_REGIONS];
        let mut n = 0;
        for r in &self.regions[..self.len] {
            for piece in [
                Region {
                    start: r.start,
                    end: r.end.min(start),
                },
                Region {
                    start: r.start.max(end),
                    end: r.end,
                },
            ] {
                if !piece.is_empty() && n < MAX_REGIONS {
                    kept[n] = piece;
                    n += 1;
                }
            }
        }
        self.regions = kept;
        self.len = n;
    }

    /// Takes `size` bytes aligned to `align` from the lowest region that can
    /// hold them entirely below `limit`, and removes them from the map.
    pub fn take(&mut self, size: u64, align: u64, limit: u64) -> Option<u64> {
        let size = align_up(size, PAGE_SIZE);
        let found = self.regions[..self.len].iter().find_map(|r| {
            let start = align_up(r.start, align);
            let end = start.checked_add(size)?;
            (end <= r.end && end <= limit).then_some(start)
        })?;
        self.reserve(found, found + size);
        Some(found)
    }

    /// The usable regions.
    pub fn regions(&self) -> &[Region] {
        &self.regions[..self.len]
    }

    /// Bytes of usable RAM.
    pub fn usable_bytes(&self) -> u64 {
        self.regions().iter().map(Region::len).sum()
    }

    /// End of the highest RAM entry of the original map (what the direct map
    /// must cover), independent of reservations.
    pub fn ram_end(&self) -> u64 {
        self.ram_end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;

    /// QEMU q35 with 8 GiB: RAM below the PCI hole, reserved bits, RAM above 4 GiB.
    fn q35_8g() -> MemoryMap {
        MemoryMap::from_entries([
            (0, 0x9fc00, TYPE_RAM),
            (0x9fc00, 0x400, 2),
            (0xf0000, 0x10000, 2),
            (MIB, 2 * GIB - MIB, TYPE_RAM),
            (0xb000_0000, 0x1000_0000, 2),
            (4 * GIB, 6 * GIB, TYPE_RAM),
        ])
    }

    #[test]
    fn keeps_ram_only_page_aligned() {
        let m = q35_8g();
        assert_eq!(
            m.regions(),
            &[
                Region {
                    start: 0,
                    end: 0x9f000
                },
                Region {
                    start: MIB,
                    end: 2 * GIB
                },
                Region {
                    start: 4 * GIB,
                    end: 10 * GIB
                },
            ]
        );
        assert_eq!(m.ram_end(), 10 * GIB);
    }

    #[test]
    fn skips_zero_size_entries_like_microvm_tail() {
        let m = MemoryMap::from_entries([(0, 128 * MIB, TYPE_RAM), (128 * MIB, 0, TYPE_RAM)]);
        assert_eq!(
            m.regions(),
            &[Region {
                start: 0,
                end: 128 * MIB
            }]
        );
    }

    #[test]
    fn merges_touching_and_overlapping_unsorted_entries() {
        let m = MemoryMap::from_entries([
            (8 * MIB, 8 * MIB, TYPE_RAM),
            (0, 4 * MIB, TYPE_RAM),
            (4 * MIB, 4 * MIB, TYPE_RAM),
            (12 * MIB, 8 * MIB, TYPE_RAM),
        ]);
        assert_eq!(
            m.regions(),
            &[Region {
                start: 0,
                end: 20 * MIB
            }]
        );
    }

    #[test]
    fn reserve_splits_and_widens_to_pages() {
        let mut m = MemoryMap::from_entries([(0, 16 * MIB, TYPE_RAM)]);
        m.reserve(2 * MIB + 10, 3 * MIB - 10);
        assert_eq!(
            m.regions(),
            &[
                Region {
                    start: 0,
                    end: 2 * MIB
                },
                Region {
                    start: 3 * MIB,
                    end: 16 * MIB
                }
            ]
        );
        m.reserve(0, MIB);
        m.reserve(15 * MIB, 100 * MIB);
        assert_eq!(
            m.regions(),
            &[
                Region {
                    start: MIB,
                    end: 2 * MIB
                },
                Region {
                    start: 3 * MIB,
                    end: 15 * MIB
                }
            ]
        );
        assert_eq!(m.usable_bytes(), 13 * MIB);
    }

    #[test]
    fn take_respects_alignment_limit_and_removes() {
        let mut m = q35_8g();
        m.reserve(0, MIB);
        let a = m.take(3 * PAGE_SIZE, 2 * MIB, 4 * GIB).unwrap();
        assert_eq!(a, 2 * MIB);
        assert!(
            m.regions()
                .iter()
                .all(|r| r.end <= a || r.start >= a + 3 * PAGE_SIZE)
        );
        let big = m.take(5 * GIB, PAGE_SIZE, u64::MAX).unwrap();
        assert_eq!(big, 4 * GIB);
        assert!(m.take(2 * GIB, PAGE_SIZE, 4 * GIB).is_none());
    }

    #[test]
    fn empty_map_takes_nothing() {
        let mut m = MemoryMap::empty();
        assert!(m.take(PAGE_SIZE, PAGE_SIZE, u64::MAX).is_none());
        assert_eq!(m.usable_bytes(), 0);
    }
}
