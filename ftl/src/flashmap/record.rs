//! The two map records of the flash-map mode, byte for byte: a map page (a slice of the block
//! map) and a delta record (one part of a sorted run of map changes). Encoding, decoding and
//! validation; nothing here touches the flash. Each is the data area of an ordinary slot
//! (claim, data, commit), so the slot's data CRC already vouches for every byte: what a
//! decoder checks here is that the fields make sense (docs/MAP-ON-FLASH.md, review rule 11),
//! because a crafted image can carry a valid CRC around absurd fields.
//!
//! Map entries use the RAM map's encoding (`map.rs`): a global slot index, the top bit set
//! for a trim, the next one for a revert, `0xFFFF_FFFF` for unmapped (the erased pattern).
//!
//! A map page, `E = block_size / 4 - 3` entries (125 for 512-byte blocks):
//!
//! ```text
//!  0          8      12       16                               block_size
//!  +----------+------+--------+---------------------+------------+
//!  | covers   | page | entry 0 | entry 1 | ...      | entry E-1  |
//!  +----------+------+--------+---------------------+------------+
//!  covers: u64, the newest version whose change the page includes (a GC copy keeps it);
//!  page: u32, the page number p (it maps blocks p*E .. p*E+E-1); entries: u32 each.
//! ```
//!
//! A delta record, `D = (block_size - 16) / 8` changes (62 for 512-byte blocks):
//!
//! ```text
//!  0          8      12     13      14      16                          block_size
//!  +----------+------+------+-------+-------+-------------------------------+
//!  | covers   | run  | part | parts | count | (lba u32, entry u32) x count  | 0xFF...
//!  +----------+------+------+-------+-------+-------------------------------+
//!  covers: u64, the newest version among the run's changes; run: u32, the run's number;
//!  part: u8, this record's index in the run; parts: u8, the run's record count (<= 16: a
//!  run is written as one transaction); count: u16 <= D; the pairs sorted by lba, strictly.
//! ```
//!
//! A root record, one part of a root: a stream of u32 words (the checkpoint, `mod.rs`, and
//! what the engine adds), `W = (block_size - 16) / 4` words per part (124 for 512 bytes):
//!
//! ```text
//!  0          8      12     13      14      16                              block_size
//!  +----------+------+------+-------+-------+-------------------------------+
//!  | redo     | root | part | parts | words | words part*W .. part*W+words-1 | 0xFF...
//!  +----------+------+------+-------+-------+-------------------------------+
//!  redo: u64, the version mount replays the log from (every change before it is in the
//!  root or in a run it names); root: u32, the root's number (the claim's lba); part < parts
//!  <= 16 (a root is written in one transaction); words: u16, W in every part but the last.
//! ```

/// Bytes before a page's entries.
pub const PAGE_HEAD: usize = 12;
/// Bytes before a delta record's pairs.
pub const DELTA_HEAD: usize = 16;
/// A run is one transaction: at most this many records.
pub const MAX_PARTS: usize = 16;
/// The entry of a block that was never written (the erased pattern).
pub const UNMAPPED: u32 = u32::MAX;
const TRIM_BIT: u32 = 1 << 31;
const REVERT_BIT: u32 = 1 << 30;

/// A map record whose fields do not make sense for this volume (a crafted or foreign image:
/// its data CRC checked out). The engine reports it as `Error::Corrupt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BadRecord;

/// What the records of one volume look like: derived from its geometry, fixed for its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct MapShape {
    /// Bytes per record (the block size).
    pub record_bytes: u32,
    /// Logical blocks the map covers.
    pub blocks: u32,
    /// Slots in the volume (`unit_count * slots_per_unit`): every location is below.
    pub slots: u32,
    /// Entries per page (`E`).
    pub per_page: u32,
    /// Changes per delta record (`D`).
    pub per_delta: u32,
}

impl MapShape {
    /// The shape for `blocks` blocks of `block_size` bytes over `slots` slots; `None` if the
    /// blocks are too small to hold a useful page or delta record (under 256 bytes) or a
    /// location does not fit the entry encoding.
    pub fn new(block_size: u32, blocks: u32, slots: u32) -> Option<Self> {
        // Every page's lba range must fit a u32, and every location the entry encoding.
        let pages_fit = blocks <= u32::MAX - block_size;
        if block_size < 256 || slots >= REVERT_BIT || !pages_fit {
            return None;
        }
        Some(MapShape {
            record_bytes: block_size,
            blocks,
            slots,
            per_page: block_size / 4 - PAGE_HEAD as u32 / 4,
            per_delta: (block_size - DELTA_HEAD as u32) / 8,
        })
    }

    /// Pages needed to cover every block.
    pub fn pages(&self) -> u32 {
        self.blocks.div_ceil(self.per_page)
    }

    /// The page holding `lba`'s entry, and the entry's index in it.
    pub fn page_of(&self, lba: u32) -> (u32, u32) {
        (lba / self.per_page, lba % self.per_page)
    }

    /// True if `e` is an entry this volume could hold: unmapped, or one flag at most on a
    /// slot inside the volume.
    pub fn entry_ok(&self, e: u32) -> bool {
        e == UNMAPPED
            || (e & TRIM_BIT == 0 || e & REVERT_BIT == 0)
                && e & !(TRIM_BIT | REVERT_BIT) < self.slots
    }
}

/// A decoded delta record's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DeltaHead {
    pub covers: u64,
    pub run: u32,
    pub part: u8,
    pub parts: u8,
    pub count: u16,
}

/// Write a page header into `rec` (entries untouched).
pub fn put_page_head(rec: &mut [u8], covers: u64, page: u32) {
    rec[..8].copy_from_slice(&covers.to_le_bytes());
    rec[8..12].copy_from_slice(&page.to_le_bytes());
}

/// A page's header, checked against the page the caller expects and the version of the
/// slot holding it (a record cannot include a change newer than itself).
pub fn page_head(rec: &[u8], page: u32, claim_version: u64) -> Result<u64, BadRecord> {
    let covers = get64(rec, 0).ok_or(BadRecord)?;
    if get32(rec, 8) != Some(page) || covers > claim_version {
        return Err(BadRecord);
    }
    Ok(covers)
}

/// Entry `i` of a page (the caller validated the header and `i < per_page`).
pub fn page_entry(shape: &MapShape, rec: &[u8], i: u32) -> Result<u32, BadRecord> {
    let e = get32(rec, PAGE_HEAD + 4 * i as usize).ok_or(BadRecord)?;
    match shape.entry_ok(e) {
        true => Ok(e),
        false => Err(BadRecord),
    }
}

/// Set entry `i` of a page being built.
pub fn set_page_entry(rec: &mut [u8], i: u32, e: u32) {
    let at = PAGE_HEAD + 4 * i as usize;
    rec[at..at + 4].copy_from_slice(&e.to_le_bytes());
}

/// Encode a delta record: the header and `pairs` (sorted by lba), the rest erased.
pub fn encode_delta(rec: &mut [u8], head: &DeltaHead, pairs: &[(u32, u32)]) {
    debug_assert_eq!(usize::from(head.count), pairs.len());
    debug_assert!(pairs.windows(2).all(|w| w[0].0 < w[1].0));
    let h = head;
    put_head(rec, (h.covers, h.run, h.part, h.parts, h.count));
    for (i, &(lba, e)) in pairs.iter().enumerate() {
        let at = DELTA_HEAD + 8 * i;
        rec[at..at + 4].copy_from_slice(&lba.to_le_bytes());
        rec[at + 4..at + 8].copy_from_slice(&e.to_le_bytes());
    }
}

/// Decode and check a delta record's header: part inside the run, the run within the
/// transaction limit, the count within the record, `covers` not newer than its slot.
pub fn delta_head(
    shape: &MapShape,
    rec: &[u8],
    claim_version: u64,
) -> Result<DeltaHead, BadRecord> {
    let (covers, run, part, parts, count) = get_head(shape, rec, claim_version)?;
    let h = DeltaHead {
        covers,
        run,
        part,
        parts,
        count,
    };
    match u32::from(h.count) <= shape.per_delta && h.count > 0 {
        true => Ok(h),
        false => Err(BadRecord),
    }
}

/// Pair `i` of a delta record whose header checked out (`i < count`); the lba must be
/// above `after` (the previous pair's, or `None` for the first) and inside the volume.
pub fn delta_pair(
    shape: &MapShape,
    rec: &[u8],
    i: u32,
    after: Option<u32>,
) -> Result<(u32, u32), BadRecord> {
    let at = DELTA_HEAD + 8 * i as usize;
    let lba = get32(rec, at).ok_or(BadRecord)?;
    let e = get32(rec, at + 4).ok_or(BadRecord)?;
    let sorted = after.is_none_or(|a| lba > a);
    match sorted && lba < shape.blocks && shape.entry_ok(e) {
        true => Ok((lba, e)),
        false => Err(BadRecord),
    }
}

/// Check every pair of a delta record (sorted, in range, valid entries); returns the first
/// and last lba. Run once when a record is first trusted (written, or found at mount), so
/// later searches can rely on the order.
pub fn check_delta(shape: &MapShape, rec: &[u8], h: &DeltaHead) -> Result<(u32, u32), BadRecord> {
    let mut prev = None;
    let mut first = None;
    for i in 0..u32::from(h.count) {
        let (lba, _) = delta_pair(shape, rec, i, prev)?;
        first = first.or(Some(lba));
        prev = Some(lba);
    }
    match (first, prev) {
        (Some(f), Some(l)) => Ok((f, l)),
        _ => Err(BadRecord),
    }
}

/// Binary search a checked delta record for `lba`: its entry if the run changed it.
pub fn delta_find(
    shape: &MapShape,
    rec: &[u8],
    h: &DeltaHead,
    lba: u32,
) -> Result<Option<u32>, BadRecord> {
    let (mut lo, mut hi) = (0u32, u32::from(h.count));
    // Bounded by log2(D) + 1 steps; each pair is range-checked as it is read.
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let (at, e) = delta_pair(shape, rec, mid, None)?;
        match at.cmp(&lba) {
            core::cmp::Ordering::Equal => return Ok(Some(e)),
            core::cmp::Ordering::Less => lo = mid + 1,
            core::cmp::Ordering::Greater => hi = mid,
        }
    }
    Ok(None)
}

/// Bytes before a root record's words.
pub const ROOT_HEAD: usize = 16;

/// A decoded root record's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RootHead {
    pub redo: u64,
    pub root: u32,
    pub part: u8,
    pub parts: u8,
    pub words: u16,
}

impl MapShape {
    /// Words one root record carries (`W`).
    pub fn root_words(&self) -> u32 {
        (self.record_bytes - ROOT_HEAD as u32) / 4
    }

    /// Records a root of `words` words takes; `None` beyond one transaction's 16.
    pub fn root_parts(&self, words: usize) -> Option<u8> {
        let parts = words.div_ceil(self.root_words() as usize).max(1);
        (parts <= MAX_PARTS).then_some(parts as u8)
    }
}

/// Encode part `part` of a root of `total` words into `rec`; `word(i)` gives word `i`.
/// `None` (nothing written) if the root needs more than 16 records, `part` is not one of
/// them or `rec` is shorter than a record.
pub fn encode_root(
    shape: &MapShape,
    rec: &mut [u8],
    (redo, root): (u64, u32),
    part: u8,
    total: usize,
    word: impl Fn(usize) -> u32,
) -> Option<()> {
    let w = shape.root_words() as usize;
    let parts = shape.root_parts(total)?;
    if part >= parts || rec.len() < shape.record_bytes as usize {
        return None;
    }
    let from = usize::from(part) * w;
    let n = total.saturating_sub(from).min(w);
    put_head(rec, (redo, root, part, parts, n as u16));
    for j in 0..n {
        let at = ROOT_HEAD + 4 * j;
        rec[at..at + 4].copy_from_slice(&word(from + j).to_le_bytes());
    }
    Some(())
}

/// Decode and check a root record's header: the part inside the root, the root within one
/// transaction, the word count within the record (full in every part but the last), `redo`
/// not newer than its slot.
pub fn root_head(shape: &MapShape, rec: &[u8], claim_version: u64) -> Result<RootHead, BadRecord> {
    let (redo, root, part, parts, words) = get_head(shape, rec, claim_version)?;
    let h = RootHead {
        redo,
        root,
        part,
        parts,
        words,
    };
    let w = shape.root_words();
    // Widened: `part` is a byte from flash (255 + 1 would overflow a u8).
    let last = u16::from(h.part) + 1 == u16::from(h.parts);
    match (1..=w).contains(&u32::from(h.words)) && (last || u32::from(h.words) == w) {
        true => Ok(h),
        false => Err(BadRecord),
    }
}

/// The parts of one root, in part order, agree: same root, redo and part count, each part
/// once. Returns the root's word count.
pub fn check_root(heads: &[RootHead]) -> Result<usize, BadRecord> {
    let first = heads.first().ok_or(BadRecord)?;
    let agree = heads.iter().enumerate().all(|(i, h)| {
        (h.root, h.redo, h.parts) == (first.root, first.redo, first.parts)
            && usize::from(h.part) == i
    });
    match agree && heads.len() == usize::from(first.parts) {
        true => Ok(heads.iter().map(|h| usize::from(h.words)).sum()),
        false => Err(BadRecord),
    }
}

/// Word `j` of a root record whose header checked out (`j < words`).
pub fn root_word(rec: &[u8], j: usize) -> Result<u32, BadRecord> {
    get32(rec, ROOT_HEAD + 4 * j).ok_or(BadRecord)
}

/// The 16-byte head delta and root records share: (version u64, number u32, part u8,
/// parts u8, count u16).
type Head = (u64, u32, u8, u8, u16);

/// Erase `rec` and write a head.
fn put_head(rec: &mut [u8], (version, number, part, parts, count): Head) {
    rec.fill(0xFF);
    rec[..8].copy_from_slice(&version.to_le_bytes());
    rec[8..12].copy_from_slice(&number.to_le_bytes());
    (rec[12], rec[13]) = (part, parts);
    rec[14..16].copy_from_slice(&count.to_le_bytes());
}

/// Read a head and check what both kinds require: a whole record, the part inside its
/// group, the group within one transaction, the version not newer than the slot's.
fn get_head(shape: &MapShape, rec: &[u8], claim_version: u64) -> Result<Head, BadRecord> {
    let h = (
        get64(rec, 0).ok_or(BadRecord)?,
        get32(rec, 8).ok_or(BadRecord)?,
        *rec.get(12).ok_or(BadRecord)?,
        *rec.get(13).ok_or(BadRecord)?,
        get16(rec, 14).ok_or(BadRecord)?,
    );
    let fits = rec.len() >= shape.record_bytes as usize;
    let part_ok = h.2 < h.3 && usize::from(h.3) <= MAX_PARTS;
    match fits && part_ok && h.0 <= claim_version {
        true => Ok(h),
        false => Err(BadRecord),
    }
}

fn get16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn get32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn get64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape() -> MapShape {
        MapShape::new(512, 1000, 4096).unwrap()
    }

    #[test]
    fn shape_follows_the_block_size() {
        let s = shape();
        assert_eq!((s.per_page, s.per_delta, s.pages()), (125, 62, 8));
        assert_eq!(s.page_of(251), (2, 1));
        assert!(MapShape::new(128, 10, 10).is_none());
        assert!(MapShape::new(512, 10, REVERT_BIT).is_none());
        assert!(s.entry_ok(UNMAPPED) && s.entry_ok(4095) && s.entry_ok(4095 | TRIM_BIT));
        assert!(!s.entry_ok(4096) && !s.entry_ok(TRIM_BIT | REVERT_BIT | 3));
    }

    #[test]
    fn delta_round_trip_and_search() {
        let s = shape();
        let pairs = [(3, 7), (10, 8 | TRIM_BIT), (999, UNMAPPED)];
        let h = DeltaHead {
            covers: 40,
            run: 5,
            part: 1,
            parts: 2,
            count: 3,
        };
        let mut rec = [0u8; 512];
        encode_delta(&mut rec, &h, &pairs);
        assert_eq!(delta_head(&s, &rec, 41), Ok(h));
        assert_eq!(check_delta(&s, &rec, &h), Ok((3, 999)));
        for &(lba, e) in &pairs {
            assert_eq!(delta_find(&s, &rec, &h, lba), Ok(Some(e)));
        }
        assert_eq!(delta_find(&s, &rec, &h, 4), Ok(None));
        // covers newer than the slot holding it: crafted.
        assert_eq!(delta_head(&s, &rec, 39), Err(BadRecord));
    }

    #[test]
    fn crafted_delta_fields_are_refused() {
        let s = shape();
        let mut rec = [0u8; 512];
        let ok = DeltaHead {
            covers: 1,
            run: 0,
            part: 0,
            parts: 1,
            count: 2,
        };
        for bad in [
            DeltaHead { part: 1, ..ok },
            DeltaHead {
                parts: 17,
                part: 16,
                ..ok
            },
            DeltaHead { count: 63, ..ok },
            DeltaHead { count: 0, ..ok },
        ] {
            encode_delta(&mut rec, &DeltaHead { count: 2, ..bad }, &[(1, 1), (2, 2)]);
            rec[14..16].copy_from_slice(&bad.count.to_le_bytes());
            assert_eq!(delta_head(&s, &rec, 9), Err(BadRecord), "{bad:?}");
        }
        for pairs in [
            [(2u32, 1u32), (1, 1)],
            [(1, 1), (1, 1)],
            [(1, 1), (1000, 1)],
            [(1, 1), (2, 4096)],
        ] {
            // Written field by field: the encoder asserts sorted pairs.
            encode_delta(&mut rec, &ok, &[(0, 0), (1, 0)]);
            for (i, (lba, e)) in pairs.iter().enumerate() {
                rec[16 + 8 * i..20 + 8 * i].copy_from_slice(&lba.to_le_bytes());
                rec[20 + 8 * i..24 + 8 * i].copy_from_slice(&e.to_le_bytes());
            }
            assert_eq!(check_delta(&s, &rec, &ok), Err(BadRecord), "{pairs:?}");
        }
        assert_eq!(delta_head(&s, &rec[..10], 9), Err(BadRecord));
    }

    #[test]
    fn root_parts_round_trip_and_refusals() {
        let s = shape();
        assert_eq!(s.root_words(), 124);
        assert_eq!(
            (s.root_parts(1), s.root_parts(124), s.root_parts(125)),
            (Some(1), Some(1), Some(2))
        );
        assert_eq!(s.root_parts(16 * 124 + 1), None);
        let total = 300;
        let parts = s.root_parts(total).unwrap();
        let mut recs = [[0u8; 512]; 3];
        for (p, rec) in recs.iter_mut().enumerate() {
            encode_root(&s, rec, (77, 5), p as u8, total, |i| i as u32 * 3).unwrap();
        }
        let heads: [RootHead; 3] = core::array::from_fn(|p| root_head(&s, &recs[p], 80).unwrap());
        assert_eq!(parts, 3);
        assert_eq!(check_root(&heads), Ok(total));
        assert_eq!(heads[2].words, 300 - 248);
        assert_eq!(root_word(&recs[1], 5), Ok((124 + 5) * 3));
        // redo newer than the slot, a part out of place, a short middle part, parts over 16.
        assert_eq!(root_head(&s, &recs[0], 76), Err(BadRecord));
        assert_eq!(check_root(&[heads[1], heads[0], heads[2]]), Err(BadRecord));
        assert_eq!(check_root(&heads[..2]), Err(BadRecord));
        assert_eq!(
            check_root(&[
                heads[0],
                RootHead {
                    root: 6,
                    ..heads[1]
                },
                heads[2]
            ]),
            Err(BadRecord)
        );
        let mut bad = recs[1];
        bad[14..16].copy_from_slice(&100u16.to_le_bytes());
        assert_eq!(root_head(&s, &bad, 80), Err(BadRecord));
        bad = recs[0];
        (bad[12], bad[13]) = (16, 17);
        assert_eq!(root_head(&s, &bad, 80), Err(BadRecord));
        bad[14..16].copy_from_slice(&0u16.to_le_bytes());
        assert_eq!(root_head(&s, &bad, 80), Err(BadRecord));
        // A part of 255 (its + 1 must not overflow), short slices, a root over 16 records.
        (bad[12], bad[13]) = (255, 255);
        bad[14..16].copy_from_slice(&1u16.to_le_bytes());
        assert_eq!(root_head(&s, &bad, 80), Err(BadRecord));
        assert_eq!(root_head(&s, &recs[0][..15], 80), Err(BadRecord));
        assert_eq!(delta_head(&s, &recs[0][..15], 80), Err(BadRecord));
        assert_eq!(encode_root(&s, &mut bad, (1, 1), 0, 17 * 124, |_| 0), None);
        assert_eq!(encode_root(&s, &mut bad, (1, 1), 3, 300, |_| 0), None);
        assert!(MapShape::new(512, u32::MAX - 100, 4096).is_none());
    }

    #[test]
    fn page_round_trip_and_refusals() {
        let s = shape();
        let mut rec = [0xFFu8; 512];
        put_page_head(&mut rec, 77, 3);
        set_page_entry(&mut rec, 124, 9 | REVERT_BIT);
        assert_eq!(page_head(&rec, 3, 77), Ok(77));
        assert_eq!(page_entry(&s, &rec, 124), Ok(9 | REVERT_BIT));
        assert_eq!(page_entry(&s, &rec, 0), Ok(UNMAPPED));
        assert_eq!(page_head(&rec, 4, 77), Err(BadRecord));
        assert_eq!(page_head(&rec, 3, 76), Err(BadRecord));
        set_page_entry(&mut rec, 5, 5000);
        assert_eq!(page_entry(&s, &rec, 5), Err(BadRecord));
        assert_eq!(page_entry(&s, &rec, 200), Err(BadRecord));
    }
}
