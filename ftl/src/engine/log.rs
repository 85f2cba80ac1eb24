//! The log: the unit table, the block map, the write frontiers and the version counter,
//! and the one operation that changes them, [`Log::append`].
//!
//! Append never programs a word twice: a frontier's slots from `used` on are either known
//! blank (the unit was erased this session) or probed first (read many times; a slot that
//! does not stay blank is given up). Each slot is programmed claim, data, commit; the claim's
//! `skip` voids the slots between the last valid one and this one, which makes this
//! session's reading of a cut program permanent (docs/DESIGN.md, "Recovery").
//!
//! The log never decides what to collect or retire: a failed program is returned to the
//! caller (GC layer), which retires the unit and retries.

use embedded_storage_async::nor_flash::NorFlash;

use super::flash::{FlashIo, Res, META_BUF, PROBE_READS};
use crate::error::Error;
use crate::layout::{encode_commit, encode_seal, Claim, RecordKind, TxnMark, UnitHeader};
use crate::layout::{CLAIM_BYTES, COMMIT_BYTES, FLASH_MAP_VERSION, FORMAT_VERSION, HEADER_BYTES};
use crate::layout::{NO_HOP, NO_VICTIM, VERSION_CEILING};
use crate::map::{BlockMap, MapMode, Mapping};
use crate::table::{VolumeTable, TABLE_SNAPSHOTS};
use crate::units::{UnitState, UnitTable, NO_SLOT};

/// Most records one transaction may hold (they must also fit in one unit).
pub const MAX_TXN_RECORDS: usize = 16;

/// No retire record (entry of `Log::retire_at`).
pub const NO_RECORD: u32 = u32::MAX;

/// The version a reset record stands for, from its `lba` (low 32 bits) and data CRC field
/// (high bits): GC copies carry both verbatim, so a copy keeps the original's meaning.
pub fn reset_version_of(lba: u32, high: u32) -> u64 {
    (u64::from(high) << 32) | u64::from(lba)
}

/// Which frontier an append goes to. Host writes, copies out of host units and copies out
/// of GC units are kept apart: data that survived more collections is colder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Stream {
    Host,
    Gc,
    Cold,
}

impl Stream {
    pub const ALL: [Stream; 3] = [Stream::Host, Stream::Gc, Stream::Cold];
}

/// Where a new slot's data comes from.
#[derive(Clone, Copy)]
pub(crate) enum Source<'a> {
    /// The user's buffer (one block).
    Buffer(&'a [u8]),
    /// Another slot's data, copied as-is (its CRC is carried over, so rot stays detectable).
    Slot { unit: u32, slot: u32 },
    /// No data: trim or retire record.
    None,
    /// A volume table, stamped with the record's version as it is programmed.
    Table(&'a VolumeTable),
}

/// One slot to append.
#[derive(Clone, Copy)]
pub(crate) struct Entry<'a> {
    pub kind: RecordKind,
    pub lba: u32,
    pub src: Source<'a>,
    pub data_crc: u32,
    /// For a GC copy: the (unit, slot) it is copied out of.
    pub moved: Option<(u32, u32)>,
    /// For a GC copy of a record a snapshot sees: the source's version, kept so that mount
    /// can tell which snapshots see the copy (docs/DESIGN.md, "Snapshots"), and the copy's
    /// hop (its source's + 1), which tells the later of two such copies.
    pub origin: Option<(u64, u8)>,
}

impl<'a> Entry<'a> {
    /// A host write of one block of `data`.
    pub fn data(lba: u32, data: &'a [u8]) -> Self {
        Entry {
            kind: RecordKind::Data,
            lba,
            src: Source::Buffer(data),
            data_crc: crate::layout::CRC.checksum(data),
            moved: None,
            origin: None,
        }
    }

    /// A host record without data (trim, revert, reset, retire).
    pub fn record(kind: RecordKind, lba: u32) -> Self {
        debug_assert!(!kind.has_data());
        Entry {
            kind,
            lba,
            src: Source::None,
            data_crc: 0,
            moved: None,
            origin: None,
        }
    }

    /// A host write of a new volume table (`PENDING` entries get the record's version).
    pub fn table(t: &'a VolumeTable) -> Self {
        Entry {
            kind: RecordKind::Table,
            lba: 0,
            src: Source::Table(t),
            data_crc: 0,
            moved: None,
            origin: None,
        }
    }
}

/// The log's state. Every other layer reads it; only the log and GC change it.
// `repr(C)`, in this order: the flash layer (the geometry and the driver, the most used)
// at offset 0 and the scalars before the tables, so most fields are reached with short
// offsets (-136 B against the compiler's order, measured); the 8-byte-aligned fields first,
// so no padding is added (the same size_of on both boards).
#[derive(Debug)]
#[repr(C)]
pub(crate) struct Log<F, const U: usize, const B: usize, const S: usize, M: MapMode> {
    pub io: FlashIo<F>,
    /// Next version to issue.
    pub next_version: u64,
    /// Host records committed this session (tells a caller whether its append landed).
    pub host_records: u64,
    /// The live volume table: snapshots, rollback holes, reset version.
    pub table: VolumeTable,
    pub epoch: u32,
    /// Global slot index of the live reset or table record (`NO_RECORD`: none).
    pub meta_at: u32,
    pub host: Option<u32>,
    pub gc: Option<u32>,
    pub cold: Option<u32>,
    /// The unit whose program, erase or verification failed last (the GC layer retires it).
    pub failed: Option<u32>,
    /// More units failed than the reserve has spares: only reads are served.
    pub read_only: bool,
    /// The last transaction ran out of slots in its unit (probes gave some up): its frontier
    /// was sealed, a retry opens another.
    pub txn_overflow: bool,
    pub units: UnitTable<U>,
    pub map: BlockMap<B>,
    /// Per unit: global slot index of the record saying it is retired, or `NO_RECORD`.
    pub retire_at: heapless::Vec<u32, U>,
    /// Per snapshot slot: the block map as of that snapshot (all unmapped while the slot is
    /// free).
    pub snaps: [BlockMap<B>; S],
    /// The map mode's own state (nothing for the RAM map).
    pub mode: M::State,
}

impl<F: NorFlash, const U: usize, const B: usize, const S: usize, M: MapMode> Log<F, U, B, S, M> {
    /// A log with empty tables: `scan::mount`, which every caller runs next, sizes them
    /// (`reset`) before it reads anything.
    // Not reset here, and out of line: the log is then built in place in the caller's slot
    // instead of being copied out (measured: 76 B less than inlined into both callers).
    #[inline(never)]
    pub fn new(io: FlashIo<F>) -> Self {
        let spu = io.geo.slots_per_unit;
        Log {
            io,
            map: BlockMap::new(0, spu),
            units: UnitTable::new(0),
            retire_at: heapless::Vec::new(),
            next_version: 1,
            epoch: 0,
            host: None,
            gc: None,
            cold: None,
            read_only: false,
            failed: None,
            host_records: 0,
            meta_at: NO_RECORD,
            table: VolumeTable::EMPTY,
            snaps: core::array::from_fn(|_| BlockMap::new(0, spu)),
            txn_overflow: false,
            mode: M::empty(),
        }
    }

    /// Pass `r` through, remembering `unit` if it failed (power loss looks the same to the
    /// driver interface; the caller tells them apart by probing the flash).
    fn guard<T>(&mut self, unit: u32, r: Res<T, F>) -> Res<T, F> {
        if matches!(r, Err(Error::Flash(_) | Error::Corrupt)) {
            self.failed = Some(unit);
        }
        r
    }

    /// The flash map lost a change (`FlashState::lost`): the volume must turn read-only.
    pub fn mode_lost(&self) -> bool {
        M::lost(&self.mode)
    }

    /// Forget everything known about the volume (mount starts over).
    pub fn reset(&mut self) {
        let g = &self.io.geo;
        match M::ON_FLASH {
            true => M::start(&mut self.mode, g),
            false => self.map.reset(g.block_count),
        }
        for m in self.snaps.iter_mut() {
            m.reset(g.block_count);
        }
        self.units.reset(g.unit_count);
        self.retire_at.clear();
        // Cannot fail: the geometry rejected unit counts above U.
        let _ = self.retire_at.resize(g.unit_count as usize, NO_RECORD);
        (self.host, self.gc, self.cold) = (None, None, None);
        (self.meta_at, self.table) = (NO_RECORD, VolumeTable::EMPTY);
        self.next_version = 1;
        self.read_only = false;
    }

    /// `units.get(u)` on the log itself: callers pass the log they hold instead of adding
    /// the table's offset at every call site (less code, measured).
    pub fn unit(&self, u: u32) -> &crate::units::UnitInfo {
        self.units.get(u)
    }

    /// `units.get_mut(u)` on the log itself, like `unit`.
    pub fn unit_mut(&mut self, u: u32) -> &mut crate::units::UnitInfo {
        self.units.get_mut(u)
    }

    /// `units.available()` on the log itself, like `unit`.
    pub fn available(&self) -> u32 {
        self.units.available()
    }

    /// `units.retired()` on the log itself, like `unit`.
    pub fn retired(&self) -> u32 {
        self.units.retired()
    }

    pub fn slots(&self) -> u32 {
        self.io.geo.slots_per_unit
    }

    /// The stream an append really goes to (`Geometry::streams` frontiers).
    fn stream_of(&self, s: Stream) -> Stream {
        match (self.io.geo.streams(), s) {
            (1, _) => Stream::Host,
            (2, Stream::Cold) => Stream::Gc,
            (_, s) => s,
        }
    }

    pub fn frontier(&self, s: Stream) -> Option<u32> {
        match self.stream_of(s) {
            Stream::Host => self.host,
            Stream::Gc => self.gc,
            Stream::Cold => self.cold,
        }
    }

    pub fn set_frontier(&mut self, s: Stream, unit: Option<u32>) {
        if let Some(old) = self.frontier(s) {
            if Some(old) != unit && self.unit(old).state == UnitState::Open {
                self.unit_mut(old).state = UnitState::Sealed;
            }
        }
        match self.stream_of(s) {
            Stream::Host => self.host = unit,
            Stream::Gc => self.gc = unit,
            Stream::Cold => self.cold = unit,
        }
    }

    /// Free slots of `s`'s frontier (exact once the frontier has been probed).
    pub fn room(&self, s: Stream) -> u32 {
        self.frontier(s).map_or(0, |u| {
            let i = self.unit(u);
            self.slots().saturating_sub(i.used as u32)
        })
    }

    /// Make sure the next slot of `unit` is blank before it is programmed: in a unit not
    /// erased this session, read its claim many times (a program cut before any bit landed
    /// reads erased most of the time) and its commit and data once; give up each slot that
    /// is not reliably blank.
    pub async fn probe(&mut self, unit: u32) -> Res<(), F> {
        let n = self.slots();
        loop {
            let info = self.unit(unit);
            let slot = info.used as u32;
            if info.fresh || slot >= n || info.probed == info.used {
                break;
            }
            let mut buf = [0u8; META_BUF];
            let c = self.io.geo.claim_size;
            let addr = self.io.geo.record_addr(unit, slot);
            let stable = self.io.read_stable(addr, &mut buf, c, PROBE_READS).await?;
            let c = c as usize;
            if stable
                && crate::layout::is_erased(&buf[..c])
                && self.rest_is_blank(unit, slot).await?
            {
                self.unit_mut(unit).probed = slot as u8;
            } else {
                self.unit_mut(unit).used += 1;
                self.io.counters.probe_skips += 1;
            }
        }
        if self.unit(unit).used as u32 >= n {
            self.close_full(unit);
        }
        Ok(())
    }

    /// Commit and data of a slot whose claim is blank are blank too, unless the image was
    /// crafted or rotted: one read each, so such a slot is given up rather than programmed
    /// twice.
    async fn rest_is_blank(&mut self, unit: u32, slot: u32) -> Res<bool, F> {
        let g = &self.io.geo;
        let (commit_at, commit) = (g.commit_addr(unit, slot), g.record_size - g.claim_size);
        let (data_at, bs) = (g.data_addr(unit, slot), g.block_size);
        Ok(self.io.is_blank(commit_at, commit).await? && self.io.is_blank(data_at, bs).await?)
    }

    /// A unit with no slot left (or a failed one) stops being a frontier.
    pub fn close_full(&mut self, unit: u32) {
        for s in Stream::ALL {
            if self.frontier(s) == Some(unit) {
                self.set_frontier(s, None);
            }
        }
        if self.unit(unit).state == UnitState::Open {
            self.unit_mut(unit).state = UnitState::Sealed;
        }
    }

    /// Make an available unit the frontier of `s`: erase it if it is not known blank, write
    /// its header. `Err` from the flash means the caller should retire `unit`.
    pub async fn open(&mut self, s: Stream, unit: u32) -> Res<(), F> {
        debug_assert!(self.unit(unit).is_available());
        let usable = match self.unit(unit).state {
            UnitState::Free { verified: true } => true,
            // Free at mount: usable as is if its header is not a weak program (and, with the
            // flash map, its copy 1 is still blank: one programmed or cut since the erase
            // must not be programmed twice).
            UnitState::Free { verified: false } => {
                self.header_is_stable(unit).await? && (!M::ON_FLASH || self.unopened(unit).await?)
            }
            _ => false,
        };
        if !usable {
            self.erase(unit).await?;
        }
        if M::ON_FLASH {
            // Header copy 1 before the unit's first record: a mount reads the record table
            // only of units whose copy 1 is not blank (docs/MAP-ON-FLASH.md, "The bounded
            // mount"). Programmed once per erase: a unit is opened only from `Free`.
            // Dirty until it lands: an open cut or failed here erases the unit first next
            // time (copy 1 is never programmed twice).
            self.unit_mut(unit).state = UnitState::Dirty;
            let r = self.program_header(unit, 1..2).await;
            self.guard(unit, r)?;
        }
        let cold = self.stream_of(s) == Stream::Cold;
        let info = self.unit_mut(unit);
        info.state = UnitState::Open;
        info.cold = cold;
        self.set_frontier(s, Some(unit));
        Ok(())
    }

    /// Header copy 1 of a flash-map unit reads blank every time: it was never opened since its
    /// erase (or an open was cut before any bit of it landed).
    async fn unopened(&mut self, unit: u32) -> Res<bool, F> {
        let g = self.io.geo;
        let mut buf = [0u8; META_BUF];
        let n = g.header_size;
        let stable = self
            .io
            .read_stable(g.header_addr(unit, 1), &mut buf, n, PROBE_READS)
            .await?;
        Ok(stable && crate::layout::is_erased(&buf[..n as usize]))
    }

    async fn header_is_stable(&mut self, unit: u32) -> Res<bool, F> {
        let (stable, h) = self.io.read_header_stable(unit).await?;
        Ok(stable && matches!(h, crate::layout::HeaderRead::Valid(_)))
    }

    /// Erase `unit`, count the erase in its header, leave it verified free.
    pub async fn erase(&mut self, unit: u32) -> Res<(), F> {
        let r = self.erase_unit(unit).await;
        self.guard(unit, r)
    }

    async fn erase_unit(&mut self, unit: u32) -> Res<(), F> {
        if self.io.geo.no_erase {
            return Err(Error::NoSpace);
        }
        debug_assert!(self.unit(unit).valid == 0);
        let wear = self.unit(unit).wear.saturating_add(1);
        self.unit_mut(unit).wear = wear;
        self.io.erase(unit).await?;
        let g = self.io.geo;
        if self.io.verify && !self.io.is_blank(g.unit_addr(unit), g.unit_size).await? {
            return Err(Error::Corrupt);
        }
        self.write_header(unit).await?;
        let info = self.unit_mut(unit);
        info.state = UnitState::Free { verified: true };
        info.used = 0;
        info.last_valid = NO_SLOT;
        info.set_stamp(0);
        info.fresh = true;
        info.probed = NO_SLOT;
        Ok(())
    }

    /// Program `unit`'s header: both copies, or with the flash map copy 0 only (copy 1 is
    /// programmed when the unit is opened: `Log::open`).
    pub async fn write_header(&mut self, unit: u32) -> Res<(), F> {
        let copies = if M::ON_FLASH { 0..1 } else { 0..2 };
        self.program_header(unit, copies).await
    }

    /// Program header copies `copies` of `unit` (one header, built once).
    async fn program_header(&mut self, unit: u32, copies: core::ops::Range<u32>) -> Res<(), F> {
        let g = self.io.geo;
        let h = UnitHeader {
            version: match M::ON_FLASH {
                true => FLASH_MAP_VERSION,
                false => FORMAT_VERSION,
            },
            block_shift: g.block_size.trailing_zeros() as u8,
            unit_size: g.unit_size,
            unit_count: g.unit_count as u16,
            epoch: self.epoch,
            wear: self.unit(unit).wear,
        };
        let mut buf = [0xFFu8; META_BUF];
        buf[..HEADER_BYTES].copy_from_slice(&h.to_bytes());
        for copy in copies {
            let at = g.header_addr(unit, copy);
            self.io.program_checked(at, &buf, g.header_size).await?;
        }
        Ok(())
    }

    fn take_version(&mut self) -> Res<u64, F> {
        let v = self.next_version;
        if v >= VERSION_CEILING {
            // Unreachable within a part's life (a crafted image gets here): what is on flash
            // stays readable, and mount accepts every version issued before.
            self.read_only = true;
            return Err(Error::ReadOnly);
        }
        self.next_version = v + 1;
        Ok(v)
    }

    /// Append `e` to the frontier of `s` (which must have room after `probe`) and update
    /// the map. Returns the slot's (unit, slot).
    pub async fn append(&mut self, s: Stream, e: &Entry<'_>) -> Res<(u32, u32), F> {
        let unit = self.frontier(s).ok_or(Error::NoSpace)?;
        let e = match e.kind {
            // A host reset stands for its own version: every record issued before it is older.
            RecordKind::Reset if e.moved.is_none() => Entry {
                lba: self.next_version as u32,
                data_crc: (self.next_version >> 32) as u32,
                ..*e
            },
            _ => *e,
        };
        let e = &e;
        let (slot, version) = self.place(s, unit, e, (TxnMark::None, false)).await?;
        debug_assert!(
            e.kind != RecordKind::Reset || reset_version_of(e.lba, e.data_crc) < self.next_version
        );
        self.commit_mapping(e, unit, slot, version);
        if e.moved.is_none() && e.kind != RecordKind::Retire && !(M::ON_FLASH && e.kind.is_map()) {
            self.host_records += 1;
        }
        self.seal_if_full(unit, slot).await?;
        Ok((unit, slot))
    }

    /// Append `entries` (at most `MAX_TXN_RECORDS`) as one transaction: all into the
    /// frontier of `s`, which must have room for all of them; the last record commits them
    /// and only then does the map change. On an error nothing is visible, now or after a
    /// remount, and the next append here voids the records already placed.
    pub async fn append_txn(&mut self, s: Stream, entries: &[Entry<'_>]) -> Res<(), F> {
        debug_assert!(entries.len() <= MAX_TXN_RECORDS);
        if let [e] = entries {
            return self.append(s, e).await.map(|_| ());
        }
        let unit = self.frontier(s).ok_or(Error::NoSpace)?;
        let before = self.unit(unit).last_valid;
        let mut slots = heapless::Vec::<(u32, u64), MAX_TXN_RECORDS>::new();
        for (i, e) in entries.iter().enumerate() {
            let mark = match i + 1 == entries.len() {
                true => TxnMark::End,
                false => TxnMark::Part,
            };
            // With the flash map, a block the transaction already wrote names this unit as
            // the unit of the record it replaces (its pin still names the older one).
            let again = M::ON_FLASH && entries[..i].iter().any(|p| p.lba == e.lba);
            match self.place(s, unit, e, (mark, again)).await {
                Ok((slot, version)) => slots.push((slot, version)).map_err(|_| Error::NoSpace)?,
                Err(err) => {
                    // The placed records stay invisible (no end); void them next time.
                    self.unit_mut(unit).last_valid = before;
                    if matches!(err, Error::NoSpace) {
                        self.txn_overflow = true;
                        self.set_frontier(s, None);
                    }
                    return Err(err);
                }
            }
        }
        for (e, &(slot, version)) in entries.iter().zip(&slots) {
            self.commit_mapping(e, unit, slot, version);
        }
        self.host_records += 1;
        let last = slots.last().map_or(0, |s| s.0);
        self.seal_if_full(unit, last).await
    }

    /// Append `parts` records of `kind` for `lba` as one transaction in the frontier of `s`
    /// (which must have room for all), each block encoded by `encode(state, part, block)` as
    /// it is programmed, so that no more than one block is in RAM. Returns their global slots.
    /// The flash map's roots; on an error nothing is visible, as with `append_txn`.
    pub async fn append_encoded(
        &mut self,
        s: Stream,
        (kind, lba): (RecordKind, u32),
        parts: u8,
        encode: impl Fn(&M::State, u8, &mut [u8]) -> bool,
    ) -> Res<heapless::Vec<u32, MAX_TXN_RECORDS>, F> {
        let unit = self.frontier(s).ok_or(Error::NoSpace)?;
        let before = self.units.get(unit).last_valid;
        let mut at = heapless::Vec::new();
        for part in 0..parts {
            let mut block = [0xFFu8; crate::flashmap::mode::MAX_MAP_BLOCK as usize];
            let block = &mut block[..self.io.geo.block_size as usize];
            if !encode(&self.mode, part, block) {
                return Err(Error::Corrupt);
            }
            let e = Entry {
                kind,
                lba,
                src: Source::Buffer(block),
                data_crc: crate::layout::CRC.checksum(block),
                moved: None,
                origin: None,
            };
            let mark = match part + 1 == parts {
                true => TxnMark::End,
                false => TxnMark::Part,
            };
            match self.place(s, unit, &e, (mark, false)).await {
                Ok((slot, _)) => {
                    let _ = at.push(unit * self.slots() + slot);
                }
                Err(err) => {
                    // The placed records stay invisible (no end); void them next time.
                    self.units.get_mut(unit).last_valid = before;
                    return Err(err);
                }
            }
        }
        let last = at.last().map_or(0, |&g| g % self.slots());
        self.units.get_mut(unit).valid += at.len() as u8;
        self.seal_if_full(unit, last).await?;
        Ok(at)
    }

    /// Program `e` into the next slot of `unit`, the frontier of `s`; the map is left to
    /// the caller. Returns the slot and the record's version.
    async fn place(
        &mut self,
        s: Stream,
        unit: u32,
        e: &Entry<'_>,
        txn: (TxnMark, bool),
    ) -> Res<(u32, u64), F> {
        self.probe(unit).await?;
        let slot = self.unit(unit).used as u32;
        if self.frontier(s) != Some(unit) || slot >= self.slots() {
            return Err(Error::NoSpace);
        }
        let version = match e.origin {
            Some((v, _)) => v,
            None => self.take_version()?,
        };
        // The slot is consumed whatever happens next: a failed program leaves it used.
        self.unit_mut(unit).used += 1;
        let r = self.program_slot(unit, slot, version, e, txn).await;
        self.guard(unit, r)?;
        let info = self.unit_mut(unit);
        info.last_valid = slot as u8;
        info.set_stamp(info.stamp().max(version));
        Ok((slot, version))
    }

    async fn seal_if_full(&mut self, unit: u32, slot: u32) -> Res<(), F> {
        if slot + 1 == self.slots() {
            let r = self.seal(unit, slot).await;
            self.guard(unit, r)?;
        }
        Ok(())
    }

    /// Program claim, data, commit of (unit, slot); verify if configured.
    async fn program_slot(
        &mut self,
        unit: u32,
        slot: u32,
        version: u64,
        e: &Entry<'_>,
        (txn, again): (TxnMark, bool),
    ) -> Res<(), F> {
        let g = self.io.geo;
        let last = self.unit(unit).last_valid;
        let below = if last == NO_SLOT { 0 } else { last as u32 + 1 };
        let claim = Claim {
            kind: e.kind,
            // With the flash map, a record moved out of a retired unit is no copy: a mount
            // applies the copy rule to copies whose source unit is intact, and a retired
            // unit is never erased (the move is counted like a host record replacing the
            // source: its `victim` is the source's unit either way).
            copy: e
                .moved
                .is_some_and(|(v, _)| !M::ON_FLASH || self.unit(v).state != UnitState::Retired),
            txn,
            skip: (slot - below) as u8,
            victim: match e.moved {
                Some((v, _)) => v as u16,
                None if M::ON_FLASH && again => unit as u16,
                None if M::ON_FLASH => self.replaced_unit(e),
                None => NO_VICTIM,
            },
            lba: e.lba,
            version,
            hop: e.origin.map_or(NO_HOP, |(_, hop)| hop),
        };
        let bytes = claim.to_bytes();
        let mut buf = [0xFFu8; META_BUF];
        buf[..CLAIM_BYTES].copy_from_slice(&bytes);
        self.io
            .program_checked(g.record_addr(unit, slot), &buf, g.claim_size)
            .await?;
        let data_crc = self
            .program_data(g.data_addr(unit, slot), e, version)
            .await?;
        // The same buffer, all 0xFF again, holds the padded commit.
        buf[..CLAIM_BYTES].fill(0xFF);
        encode_commit(&bytes, data_crc, &mut buf[..COMMIT_BYTES]);
        let m = g.record_size - g.claim_size;
        self.io
            .program_checked(g.commit_addr(unit, slot), &buf, m)
            .await
    }

    /// Format v4: a host record names, in its claim's `victim` field, the unit of the record
    /// it replaces (the operation's pin), so that a mount replaying it can settle that unit's
    /// count without a lookup (docs/MAP-ON-FLASH.md, "Next: mount"). `NO_VICTIM`: the block
    /// had no record, or the record is the map's or the volume's own.
    fn replaced_unit(&self, e: &Entry<'_>) -> u16 {
        if e.kind.is_map() || e.kind.is_meta() {
            return NO_VICTIM;
        }
        let old = M::known(&self.mode, e.lba).and_then(|m| m.location());
        old.map_or(NO_VICTIM, |(u, _)| u as u16)
    }

    /// Program the slot's data; returns the CRC its commit carries.
    async fn program_data(&mut self, addr: u32, e: &Entry<'_>, version: u64) -> Res<u32, F> {
        // A copy keeps its source's CRC in its record (a rotten source stays detectable,
        // never laundered); verification compares with what was actually read.
        let (written, crc) = match e.src {
            Source::Buffer(d) => {
                self.io.program(addr, d).await?;
                (e.data_crc, e.data_crc)
            }
            Source::Slot { unit, slot } => {
                let from = self.io.geo.data_addr(unit, slot);
                (self.io.stream_block(from, Some(addr)).await?, e.data_crc)
            }
            Source::Table(_) if S == 0 => return Err(Error::SnapshotLimit),
            Source::Table(t) => {
                let bytes = t.stamped(version).to_bytes();
                self.io.program(addr, &bytes).await?;
                let crc = VolumeTable::data_crc(&bytes, self.io.geo.block_size);
                (crc, crc)
            }
            Source::None => return Ok(e.data_crc),
        };
        if self.io.verify && self.io.stream_block(addr, None).await? != written {
            return Err(Error::Corrupt);
        }
        Ok(crc)
    }

    /// Program the seal of a full unit: its last record is stable, mount may trust it.
    // Kept out of line: once per unit, not worth its copy in the append path (-12 B,
    // measured).
    #[inline(never)]
    async fn seal(&mut self, unit: u32, slot: u32) -> Res<(), F> {
        let g = self.io.geo;
        let mut cbuf = [0u8; META_BUF];
        let c = g.claim_size as usize;
        self.io
            .read(g.record_addr(unit, slot), &mut cbuf[..c])
            .await?;
        let mut sbuf = [0xFFu8; META_BUF];
        // The seal covers the claim's 16 bytes, not its padding.
        encode_seal(&cbuf[..CLAIM_BYTES], &mut sbuf);
        self.close_full(unit);
        if !self.io.is_blank(g.seal_addr(unit), g.seal_size).await? {
            // Only a crafted or rotten image gets here: the seal is optional, skip it.
            return Ok(());
        }
        self.io
            .program_checked(g.seal_addr(unit), &sbuf, g.seal_size)
            .await
    }

    /// Point the maps (or the retire table, or the table) at a new record. A host record
    /// replaces the block's current one, which stays live while a snapshot sees it; a GC copy
    /// takes its source's place in every map that points there.
    fn commit_mapping(&mut self, e: &Entry<'_>, unit: u32, slot: u32, version: u64) {
        if M::ON_FLASH && e.kind.is_map() {
            return self.commit_map_record(e, unit, slot);
        }
        let new = match e.kind {
            RecordKind::Trim => Mapping::Trimmed { unit, slot },
            RecordKind::Revert => Mapping::Reverted { unit, slot },
            RecordKind::Reset | RecordKind::Table => {
                return self.commit_meta(e, unit, slot, version)
            }
            RecordKind::Retire => {
                let at = unit * self.slots() + slot;
                let old = core::mem::replace(&mut self.retire_at[e.lba as usize], at);
                self.unit_mut(unit).valid += 1;
                self.drop_location(old);
                return;
            }
            // Data (map records never reach here: a RAM-map volume has none).
            _ => Mapping::Data { unit, slot },
        };
        self.unit_mut(unit).valid += 1;
        if M::ON_FLASH {
            return self.commit_flash_mapping(e, new, version);
        }
        let Some(from) = e.moved else {
            if let Some(old) = self.map.set(e.lba, new).location() {
                self.release(e.lba, old);
            }
            return;
        };
        // `0..S + 1`, not `0..=S`: an inclusive range does not fold away when S is 0.
        for k in 0..S + 1 {
            if self.map_at(k).get(e.lba).location() == Some(from) {
                self.map_at_mut(k).set(e.lba, new);
            }
        }
        self.drop_location(from.0 * self.slots() + from.1);
    }

    /// A flash-map volume's host record or copy landed: the map's buffer takes the change.
    /// A copy replaces its source; a host record the block's old record, which the
    /// operation looked up before (its pin).
    fn commit_flash_mapping(&mut self, e: &Entry<'_>, new: Mapping, version: u64) {
        let known = M::change(&mut self.mode, e.lba, new, version);
        // A host record's block was looked up (pinned) before the append.
        debug_assert!(
            e.moved.is_some() || known.is_some(),
            "a host record without its pin"
        );
        let old = match e.moved {
            Some(from) => Some(from),
            None => known.and_then(|m| m.location()),
        };
        if let Some((u, s)) = old {
            self.drop_location(u * self.slots() + s);
        }
    }

    /// A map page or delta record landed: a copy takes its source's place in the map's
    /// directory or run index; a new one is counted, and the map learns where it is from its
    /// writer (`mapio`).
    fn commit_map_record(&mut self, e: &Entry<'_>, unit: u32, slot: u32) {
        self.units.get_mut(unit).valid += 1;
        if let Some((fu, fs)) = e.moved {
            let (from, to) = (fu * self.slots() + fs, unit * self.slots() + slot);
            M::moved(&mut self.mode, e.kind, e.lba, from, to);
            self.drop_location(from);
        }
    }

    /// A reset or table record landed: it becomes the live one. A host reset (not a GC copy
    /// of one) also unmaps every block, so all read the base image; a host table takes or
    /// drops snapshots, or rolls back to one.
    fn commit_meta(&mut self, e: &Entry<'_>, unit: u32, slot: u32, version: u64) {
        let at = unit * self.slots() + slot;
        let old = core::mem::replace(&mut self.meta_at, at);
        self.unit_mut(unit).valid += 1;
        self.drop_location(old);
        if e.moved.is_some() {
            return;
        }
        let before = self.table;
        match e.src {
            // Only builds that keep snapshots write tables (the branch folds away otherwise).
            Source::Table(t) if S > 0 => {
                self.table = t.stamped(version);
                return self.apply_table(&before, version);
            }
            _ => {}
        }
        self.table = VolumeTable::reset(reset_version_of(e.lba, e.data_crc));
        for lba in 0..self.map.len() {
            if let Some(old) = self.map.set(lba, Mapping::Unmapped).location() {
                self.release(lba, old);
            }
        }
    }

    /// The maps follow a new table: a rollback (a hole ending at this table's `version`)
    /// points the block map at its snapshot's, a new snapshot starts as the block map, a
    /// dropped one forgets its map; records no map points at any more are garbage.
    fn apply_table(&mut self, before: &VolumeTable, version: u64) {
        let t = self.table;
        let target = t.holes.iter().find(|h| h.1 == version && h.0 != 0);
        let restore = target.and_then(|h| (0..S).find(|&k| t.snaps[k] == h.0));
        for lba in 0..self.map.len() {
            let mut held = heapless::Vec::<(u32, u32), { TABLE_SNAPSHOTS + 1 }>::new();
            self.for_each_location(lba, |loc| {
                let _ = held.push(loc);
            });
            if let Some(k) = restore {
                self.map.set(lba, self.snaps[k].get(lba));
            }
            for k in 0..S {
                if before.snaps[k] != t.snaps[k] {
                    let now = if t.snaps[k] == 0 {
                        Mapping::Unmapped
                    } else {
                        self.map.get(lba)
                    };
                    self.snaps[k].set(lba, now);
                }
            }
            for &loc in &held {
                if !self.references(lba, loc) {
                    self.drop_location(loc.0 * self.slots() + loc.1);
                }
            }
        }
    }

    /// Map `k`: 0 is the block map, `k` the map of snapshot `k - 1`.
    // Always inlined: the callers' loops over `0..S + 1` then fold to the block map when S
    // is 0 (-28 B, measured).
    #[inline(always)]
    pub fn map_at(&self, k: usize) -> &BlockMap<B> {
        match k.checked_sub(1) {
            Some(i) => &self.snaps[i],
            None => &self.map,
        }
    }

    pub fn map_at_mut(&mut self, k: usize) -> &mut BlockMap<B> {
        match k.checked_sub(1) {
            Some(i) => &mut self.snaps[i],
            None => &mut self.map,
        }
    }

    /// Call `f` once for every distinct (unit, slot) some map (the block map or a
    /// snapshot's) points `lba` at. (Plain loops: with no snapshot slots they fold away.)
    pub fn for_each_location(&self, lba: u32, mut f: impl FnMut((u32, u32))) {
        for k in 0..S + 1 {
            let Some(loc) = self.map_at(k).get(lba).location() else {
                continue;
            };
            if (0..k).all(|j| self.map_at(j).get(lba).location() != Some(loc)) {
                f(loc);
            }
        }
    }

    /// Does some map point `lba` at `loc`?
    pub fn references(&self, lba: u32, loc: (u32, u32)) -> bool {
        (0..S + 1).any(|k| self.map_at(k).get(lba).location() == Some(loc))
    }

    /// The block's old record: garbage unless a snapshot still sees it.
    fn release(&mut self, lba: u32, loc: (u32, u32)) {
        if !self.references(lba, loc) {
            self.drop_location(loc.0 * self.slots() + loc.1);
        }
    }

    /// A record stopped being live: its unit has one valid slot less.
    pub fn drop_location(&mut self, global: u32) {
        if global == NO_RECORD {
            return;
        }
        let u = global / self.slots();
        let info = self.unit_mut(u);
        // The flash map's counts come from its root on flash: a crafted image can make them
        // low, and that is an image problem (GC reports it), not a panic.
        debug_assert!(info.valid > 0 || M::ON_FLASH);
        info.valid = info.valid.saturating_sub(1);
    }

    /// Global slots of the volume's own live records: the retire records, and the table or
    /// reset record.
    pub fn volume_records(&self) -> impl Iterator<Item = u32> + '_ {
        let meta = core::iter::once(self.meta_at);
        let at = self.retire_at.iter().copied().chain(meta);
        at.filter(|&at| at != NO_RECORD)
    }

    /// True if (unit, slot), holding a record of `kind` for `lba`, is that block's current
    /// record or one a snapshot sees (or that retired unit's record, or the live table).
    pub fn is_live(&self, unit: u32, slot: u32, lba: u32, kind: RecordKind) -> bool {
        let at = unit * self.slots() + slot;
        match kind {
            RecordKind::Retire => self.retire_at.get(lba as usize) == Some(&at),
            RecordKind::Reset | RecordKind::Table => self.meta_at == at,
            // The map's flag bits tell the kinds apart: same location, same kind.
            _ => self.references(lba, (unit, slot)),
        }
    }
}
