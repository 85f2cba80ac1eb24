//! The public volume API: [`Ftl`] with read, write, trim, statistics, and the flash I/O
//! primitives every other layer uses (region-relative addressing, counters, verification).
//!
//! Mount and format live in `mount.rs`, garbage collection and wear levelling in `gc.rs`;
//! they are `impl` blocks on the same type.

use embedded_storage::nor_flash::NorFlash;

use crate::error::Error;
use crate::geometry::{Config, Geometry, CHUNK};
use crate::layout::{HeaderKind, RecordKind, RecordRead, SlotRecord, Stream, UnitHeader, CRC};
use crate::layout::{FORMAT_VERSION, HEADER_BYTES};
use crate::map::{BlockMap, Mapping};
use crate::units::{UnitState, UnitTable, WearSummary};

/// Maximum encoded header/record size after padding (write size <= 128).
pub(crate) const META_BUF: usize = 128;
/// How often a write is retried on a fresh unit after a program failure retired one.
const WRITE_ATTEMPTS: u32 = 3;

/// Counters since mount (they are RAM-only; the wear counters are on flash).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Counters {
    /// Every byte handed to `NorFlash::write` (data, records, headers, copies).
    pub bytes_programmed: u64,
    /// Every byte read from flash.
    pub bytes_read: u64,
    pub erases: u64,
    /// Blocks written or trimmed by the user.
    pub host_writes: u64,
    /// Slots copied by GC, static wear levelling, retirement or mount recovery.
    pub relocations: u64,
    /// Units reclaimed by GC.
    pub gc_victims: u64,
    /// Units emptied by static wear levelling.
    pub wl_moves: u64,
    /// Units retired after a failed program, erase or verification.
    pub retired: u64,
    /// Log tails copied at mount (weak-program protection).
    pub tail_copies: u64,
}

/// A snapshot of the volume's health and activity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Stats {
    pub wear: WearSummary,
    pub counters: Counters,
    pub units: u32,
    /// Free or reclaimable-without-copying units.
    pub free_units: u32,
    pub retired_units: u32,
    /// Blocks whose newest record is data (not trimmed, not unwritten).
    pub mapped_blocks: u32,
    pub read_only: bool,
}

/// One slot to append: what the record says and where its data comes from.
#[derive(Clone, Copy)]
pub(crate) struct Entry<'a> {
    pub kind: RecordKind,
    pub lba: u32,
    pub src: Source<'a>,
    pub data_crc: u32,
    /// Written by the FTL itself (see `SlotRecord::copy`).
    pub copy: bool,
    /// Erase intent carried by this record (see `SlotRecord::erases`).
    pub erases: Option<u16>,
}

/// What a new slot's data comes from.
#[derive(Clone, Copy)]
pub(crate) enum Source<'a> {
    /// The user's buffer (one block).
    Buffer(&'a [u8]),
    /// Another slot's data, copied as-is (its CRC is carried over, so rot stays detectable).
    Slot { unit: u32, slot: u32 },
    /// No data: trim, marker or erase intent.
    None,
}

/// A copy-on-write flash translation layer over a region of `F`.
///
/// `MAX_UNITS` and `MAX_BLOCKS` bound the RAM (see the crate docs for the formula); the
/// configuration is rejected if the geometry needs more.
pub struct Ftl<F: NorFlash, const MAX_UNITS: usize, const MAX_BLOCKS: usize> {
    pub(crate) flash: F,
    pub(crate) geo: Geometry,
    pub(crate) cfg: Config,
    pub(crate) map: BlockMap<MAX_BLOCKS>,
    pub(crate) units: UnitTable<MAX_UNITS>,
    /// Next value of the global sequence counter (versions and header seqs).
    pub(crate) next_seq: u64,
    pub(crate) epoch: u16,
    pub(crate) host: Option<u32>,
    pub(crate) gc: Option<u32>,
    pub(crate) counters: Counters,
    pub(crate) read_only: bool,
    /// First flash error absorbed by retiring a unit during the current call: reported
    /// instead of a consequential `NoSpace`/`ReadOnly` if the call fails.
    pub(crate) fault: Option<Error<F::Error>>,
    /// The unit whose live slots are being moved out: never a destination for them.
    pub(crate) relocating: Option<u32>,
    /// Retired units and the unit holding the record that says so (carried forward by GC).
    pub(crate) retire_log: heapless::Vec<(u16, u16), MAX_UNITS>,
}

impl<F: NorFlash, const U: usize, const B: usize> core::fmt::Debug for Ftl<F, U, B> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Ftl")
            .field("geometry", &self.geo)
            .field("epoch", &self.epoch)
            .field("next_seq", &self.next_seq)
            .field("host", &self.host)
            .field("gc", &self.gc)
            .field("stats", &self.stats())
            .finish()
    }
}

pub(crate) type Res<T, F> = Result<T, Error<<F as embedded_storage::nor_flash::ErrorType>::Error>>;

impl<F: NorFlash, const U: usize, const B: usize> Ftl<F, U, B> {
    /// Derive the geometry for `cfg` on this flash type (no flash access).
    pub fn geometry_for(flash: &F, cfg: &Config) -> Result<Geometry, crate::ConfigError> {
        Geometry::new(
            cfg,
            flash.capacity(),
            F::READ_SIZE,
            F::WRITE_SIZE,
            F::ERASE_SIZE,
            U,
            B,
        )
    }

    pub(crate) fn empty(flash: F, cfg: Config, geo: Geometry) -> Self {
        Ftl {
            flash,
            geo,
            cfg,
            map: BlockMap::new(geo.block_count, geo.slots_per_unit),
            units: UnitTable::new(geo.unit_count),
            next_seq: 1,
            epoch: 0,
            host: None,
            gc: None,
            counters: Counters::default(),
            read_only: false,
            fault: None,
            relocating: None,
            retire_log: heapless::Vec::new(),
        }
    }

    /// Exported logical blocks.
    pub fn block_count(&self) -> u32 {
        self.geo.block_count
    }

    /// Logical block size in bytes.
    pub fn block_size(&self) -> u32 {
        self.geo.block_size
    }

    /// The derived layout.
    pub fn geometry(&self) -> &Geometry {
        &self.geo
    }

    /// The configuration this volume was mounted with.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// True once spare units are exhausted: writes and trims return `ReadOnly`.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// Erase count of each unit (index = unit number), for wear histograms.
    pub fn unit_wear(&self) -> impl Iterator<Item = u32> + '_ {
        self.units.iter().map(|(_, u)| u.wear)
    }

    /// Where block `lba`'s newest record lives (for tools and diagnostics).
    pub fn mapping(&self, lba: u32) -> Mapping {
        self.map.get(lba)
    }

    /// State, wear, valid and used slots of each unit.
    pub fn units(&self) -> impl Iterator<Item = crate::UnitInfo> + '_ {
        self.units.iter().map(|(_, u)| *u)
    }

    pub fn stats(&self) -> Stats {
        Stats {
            wear: self.units.wear_summary(),
            counters: self.counters,
            units: self.geo.unit_count,
            free_units: self.units.available(!self.geo.no_erase),
            retired_units: self.units.retired(),
            mapped_blocks: self
                .map
                .iter()
                .filter(|(_, m)| matches!(m, Mapping::Data { .. }))
                .count() as u32,
            read_only: self.read_only,
        }
    }

    /// Give the flash back (the volume stays consistent on flash: there is no unmount step).
    pub fn release(self) -> F {
        self.flash
    }

    /// Borrow the flash (e.g. to read driver statistics).
    pub fn flash(&self) -> &F {
        &self.flash
    }

    /// Read logical block `lba` into `buf` (exactly one block). Unwritten and trimmed blocks
    /// read as zeros. Returns `Corrupt` rather than data that fails its CRC.
    pub fn read(&mut self, lba: u32, buf: &mut [u8]) -> Res<(), F> {
        if lba >= self.geo.block_count {
            return Err(Error::OutOfRange);
        }
        if buf.len() != self.geo.block_size as usize {
            return Err(Error::BufferSize);
        }
        let (unit, slot) = match self.map.get(lba) {
            Mapping::Unmapped | Mapping::Trimmed { .. } => {
                buf.fill(0);
                return Ok(());
            }
            Mapping::Data { unit, slot } => (unit, slot),
        };
        let rec = match self.read_record(unit, slot)? {
            RecordRead::Valid(r) if r.kind == RecordKind::Data && r.lba == lba => r,
            _ => return Err(Error::Corrupt),
        };
        self.read_raw(self.geo.data_addr(unit, slot), buf)?;
        if CRC.checksum(buf) != rec.data_crc {
            return Err(Error::Corrupt);
        }
        Ok(())
    }

    /// Write logical block `lba` (exactly one block). When this returns `Ok` the block is
    /// durable; if power is cut during the call the block holds the old or the new data.
    pub fn write(&mut self, lba: u32, data: &[u8]) -> Res<(), F> {
        self.check_writable(lba)?;
        if data.len() != self.geo.block_size as usize {
            return Err(Error::BufferSize);
        }
        let crc = CRC.checksum(data);
        let e = Entry {
            kind: RecordKind::Data,
            lba,
            src: Source::Buffer(data),
            data_crc: crc,
            copy: false,
            erases: None,
        };
        let r = self
            .collect_if_stuck()
            .and_then(|_| self.append(Stream::Host, e));
        self.finish(r)?;
        self.counters.host_writes += 1;
        Ok(())
    }

    /// Power cuts in the middle of GC rounds can leave no unit available: collect before a
    /// host write takes more room, while the frontiers still have the room to do it.
    fn collect_if_stuck(&mut self) -> Res<(), F> {
        if self.geo.no_erase || self.units.available(true) > 0 {
            return Ok(());
        }
        match self.ensure_available(1) {
            Ok(()) | Err(Error::NoSpace) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Trim logical block `lba`: it reads as zeros afterwards and its old data becomes garbage.
    pub fn trim(&mut self, lba: u32) -> Res<(), F> {
        self.check_writable(lba)?;
        if self.map.get(lba) == Mapping::Unmapped {
            // Never written since format: already reads as zeros, nothing to record.
            return Ok(());
        }
        if matches!(self.map.get(lba), Mapping::Trimmed { .. }) {
            return Ok(());
        }
        let e = Entry {
            kind: RecordKind::Trim,
            lba,
            src: Source::None,
            data_crc: 0,
            copy: false,
            erases: None,
        };
        let r = self
            .collect_if_stuck()
            .and_then(|_| self.append(Stream::Host, e));
        self.finish(r)?;
        self.counters.host_writes += 1;
        Ok(())
    }

    /// End of a public call: a failure that only followed from absorbed flash errors
    /// reports the first of those errors.
    pub(crate) fn finish<T>(&mut self, r: Res<T, F>) -> Res<T, F> {
        let fault = self.fault.take();
        match (r, fault) {
            (Err(Error::NoSpace | Error::ReadOnly), Some(f)) => Err(f),
            // A unit was retired on the way. A flash that fails every operation (power
            // going down, a dead bus) must not look like a bad unit absorbed: probe it.
            (Ok(v), Some(_)) => {
                let mut probe = [0u8; 1];
                self.read_raw(self.geo.region_offset, &mut probe)?;
                Ok(v)
            }
            (r, _) => r,
        }
    }

    /// Remember a flash error that was absorbed by retiring a unit.
    pub(crate) fn note_fault(&mut self, e: Error<F::Error>) {
        if self.fault.is_none() {
            self.fault = Some(e);
        }
    }

    fn check_writable(&self, lba: u32) -> Res<(), F> {
        if lba >= self.geo.block_count {
            return Err(Error::OutOfRange);
        }
        if self.read_only {
            return Err(Error::ReadOnly);
        }
        Ok(())
    }

    /// Append one slot (data then record) to `stream`'s frontier and point the map at it.
    /// A program failure retires the unit (relocating its live data) and retries elsewhere.
    pub(crate) fn append(&mut self, stream: Stream, e: Entry<'_>) -> Res<(u32, u32), F> {
        for _ in 0..WRITE_ATTEMPTS {
            let (unit, stream) = self.frontier_with_room(stream)?;
            let slot = self.take_slot(unit, stream);
            match self.program_slot(unit, slot, e) {
                Ok(()) => {
                    self.commit_mapping(e.kind, e.lba, unit, slot);
                    return Ok((unit, slot));
                }
                Err(e) => {
                    self.note_fault(e);
                    self.retire(unit)?;
                }
            }
        }
        Err(Error::NoSpace)
    }

    /// Consume the next slot of `unit`; seal the unit when it is full.
    pub(crate) fn take_slot(&mut self, unit: u32, stream: Stream) -> u32 {
        let spu = self.geo.slots_per_unit;
        let info = self.units.get_mut(unit);
        debug_assert!(info.state == UnitState::Open && (info.used as u32) < spu);
        let slot = info.used as u32;
        info.used += 1;
        if info.used as u32 == spu {
            info.state = UnitState::Sealed;
            self.set_frontier(stream, None);
        }
        slot
    }

    fn commit_mapping(&mut self, kind: RecordKind, lba: u32, unit: u32, slot: u32) {
        let new = match kind {
            RecordKind::Data => Mapping::Data { unit, slot },
            RecordKind::Trim => Mapping::Trimmed { unit, slot },
            RecordKind::Marker | RecordKind::EraseIntent | RecordKind::Retire => return,
        };
        let old = self.map.set(lba, new);
        self.units.get_mut(unit).valid += 1;
        if let Some((ou, _)) = old.location() {
            let o = self.units.get_mut(ou);
            debug_assert!(o.valid > 0);
            o.valid = o.valid.saturating_sub(1);
        }
    }

    pub(crate) fn frontier(&self, stream: Stream) -> Option<u32> {
        match self.stream_of(stream) {
            Stream::Host => self.host,
            Stream::Gc => self.gc,
        }
    }

    /// The stream a write really goes to: everything shares the host frontier in
    /// single-stream mode.
    pub(crate) fn stream_of(&self, stream: Stream) -> Stream {
        if self.geo.single_stream {
            Stream::Host
        } else {
            stream
        }
    }

    pub(crate) fn set_frontier(&mut self, stream: Stream, unit: Option<u32>) {
        match self.stream_of(stream) {
            Stream::Host => self.host = unit,
            Stream::Gc => self.gc = unit,
        }
    }

    /// True if `stream`'s frontier is open with a free slot.
    pub(crate) fn has_room(&self, stream: Stream) -> bool {
        self.room(stream) > 0
    }

    /// Free slots left in `stream`'s frontier (0 if none is open).
    pub(crate) fn room(&self, stream: Stream) -> u16 {
        self.frontier(stream).map_or(0, |u| {
            let info = self.units.get(u);
            if info.state == UnitState::Open {
                (self.geo.slots_per_unit as u16).saturating_sub(info.used)
            } else {
                0
            }
        })
    }

    /// The stream's open unit, opening a new one (after GC, for host writes) when needed.
    /// Returns the unit and the stream whose frontier it is: when no unit is left (power
    /// cuts in the middle of GC rounds can leave none), GC copies go to the host frontier.
    fn frontier_with_room(&mut self, stream: Stream) -> Res<(u32, Stream), F> {
        if let Some(u) = self.frontier(stream) {
            let info = self.units.get(u);
            if info.state == UnitState::Open && (info.used as u32) < self.geo.slots_per_unit {
                return Ok((u, stream));
            }
            self.set_frontier(stream, None);
        }
        if stream == Stream::Gc {
            return match self.open_unit(stream) {
                Err(Error::NoSpace) if self.has_room(Stream::Host) => {
                    Ok((self.frontier(Stream::Host).unwrap_or(0), Stream::Host))
                }
                r => r.map(|u| (u, stream)),
            };
        }
        if stream == Stream::Host && !self.geo.no_erase {
            // Keep one unit back so GC can always open its frontier.
            match self.ensure_available(self.gc_headroom()) {
                // The extra unit is a margin, not a requirement.
                Err(Error::NoSpace) if self.units.available(true) >= 2 => {}
                r => r?,
            }
            // In single-stream mode GC may have opened the shared frontier meanwhile.
            if let Some(u) = self.frontier(stream) {
                let info = self.units.get(u);
                if info.state == UnitState::Open && (info.used as u32) < self.geo.slots_per_unit {
                    return Ok((u, stream));
                }
            }
        }
        self.open_unit(stream).map(|u| (u, stream))
    }

    /// Units to keep available before a new host frontier is opened: one for the GC
    /// frontier plus one, and while a spare unit is left one more, so that a power cut in
    /// the middle of a GC round (which takes a unit before it gives one back) still leaves
    /// recovery a unit to finish it with.
    pub(crate) fn gc_headroom(&self) -> u32 {
        let spares_left = self.geo.spare_units().saturating_sub(self.units.retired());
        2 + u32::from(spares_left > 0)
    }

    /// Program data (if any) then the record of (unit, slot), and verify both if configured.
    pub(crate) fn program_slot(&mut self, unit: u32, slot: u32, e: Entry<'_>) -> Res<(), F> {
        let Entry {
            kind,
            lba,
            src,
            data_crc,
            copy,
            erases,
        } = e;
        let data_addr = self.geo.data_addr(unit, slot);
        let written_crc = match src {
            Source::Buffer(data) => {
                self.program_raw(data_addr, data)?;
                Some(data_crc)
            }
            Source::Slot { unit: su, slot: ss } => Some(self.copy_data(su, ss, data_addr)?),
            Source::None => None,
        };
        let rec = SlotRecord {
            kind,
            copy,
            erases,
            lba,
            version: self.take_seq(),
            data_crc,
        };
        let mut buf = [0xFFu8; META_BUF];
        let n = self.geo.record_size as usize;
        rec.encode(&mut buf[..n]);
        self.program_raw(self.geo.record_addr(unit, slot), &buf[..n])?;
        if self.cfg.verify_writes {
            // Pair assertion: what we wrote must decode to exactly what we meant.
            if self.read_record(unit, slot)? != RecordRead::Valid(rec) {
                return Err(Error::Corrupt);
            }
            if let Some(crc) = written_crc {
                if self.crc_of(data_addr)? != crc {
                    return Err(Error::Corrupt);
                }
            }
        }
        Ok(())
    }

    /// Copy one block of data between slots in chunks; returns the CRC of what was written.
    fn copy_data(&mut self, unit: u32, slot: u32, dst: u32) -> Res<u32, F> {
        self.stream_block(self.geo.data_addr(unit, slot), Some(dst))
    }

    /// CRC of the block stored at `addr`.
    pub(crate) fn crc_of(&mut self, addr: u32) -> Res<u32, F> {
        self.stream_block(addr, None)
    }

    /// Read one block at `src` in chunks, CRC it, and program each chunk at `dst` if given.
    fn stream_block(&mut self, src: u32, dst: Option<u32>) -> Res<u32, F> {
        let mut buf = [0u8; CHUNK];
        let mut digest = CRC.digest();
        let bs = self.geo.block_size;
        let mut off = 0;
        while off < bs {
            let n = (CHUNK as u32).min(bs - off) as usize;
            self.read_raw(src + off, &mut buf[..n])?;
            digest.update(&buf[..n]);
            if let Some(dst) = dst {
                self.program_raw(dst + off, &buf[..n])?;
            }
            off += n as u32;
        }
        Ok(digest.finalize())
    }

    pub(crate) fn take_seq(&mut self) -> u64 {
        let s = self.next_seq;
        self.next_seq += 1;
        s
    }

    pub(crate) fn read_record(&mut self, unit: u32, slot: u32) -> Res<RecordRead, F> {
        let mut buf = [0u8; META_BUF];
        let n = self.geo.record_size as usize;
        self.read_raw(self.geo.record_addr(unit, slot), &mut buf[..n])?;
        Ok(SlotRecord::decode(&buf[..n]))
    }

    pub(crate) fn read_seal(&mut self, unit: u32) -> Res<RecordRead, F> {
        let mut buf = [0u8; META_BUF];
        let n = self.geo.record_size as usize;
        self.read_raw(self.geo.seal_addr(unit), &mut buf[..n])?;
        Ok(SlotRecord::decode(&buf[..n]))
    }

    pub(crate) fn read_header(
        &mut self,
        unit: u32,
        which: u32,
    ) -> Res<crate::layout::HeaderRead, F> {
        let mut buf = [0u8; META_BUF];
        let n = self.geo.header_size as usize;
        self.read_raw(self.geo.header_addr(unit, which), &mut buf[..n])?;
        Ok(UnitHeader::decode(&buf[..n]))
    }

    /// Program header A (after erase) or B (on open) of `unit` and verify it.
    pub(crate) fn write_header(&mut self, unit: u32, kind: HeaderKind, stream: u8) -> Res<(), F> {
        let h = UnitHeader {
            version: FORMAT_VERSION,
            kind,
            block_shift: self.geo.block_size.trailing_zeros() as u8,
            stream,
            unit_size: self.geo.unit_size,
            unit_count: self.geo.unit_count as u16,
            epoch: self.epoch,
            seq: self.take_seq(),
            wear: self.units.get(unit).wear,
        };
        let mut buf = [0xFFu8; META_BUF];
        let n = self.geo.header_size as usize;
        debug_assert!(n >= HEADER_BYTES);
        h.encode(&mut buf[..n]);
        let which = if kind == HeaderKind::Erased { 0 } else { 1 };
        self.program_raw(self.geo.header_addr(unit, which), &buf[..n])?;
        if self.cfg.verify_writes
            && self.read_header(unit, which)? != crate::layout::HeaderRead::Valid(h)
        {
            return Err(Error::Corrupt);
        }
        Ok(())
    }

    /// True if `len` bytes from `addr` all read 0xFF.
    pub(crate) fn is_blank(&mut self, addr: u32, len: u32) -> Res<bool, F> {
        let mut buf = [0u8; CHUNK];
        let mut off = 0;
        while off < len {
            let n = (CHUNK as u32).min(len - off) as usize;
            self.read_raw(addr + off, &mut buf[..n])?;
            if !crate::layout::is_erased(&buf[..n]) {
                return Ok(false);
            }
            off += n as u32;
        }
        Ok(true)
    }

    pub(crate) fn read_raw(&mut self, addr: u32, buf: &mut [u8]) -> Res<(), F> {
        self.counters.bytes_read += buf.len() as u64;
        self.flash.read(addr, buf).map_err(Error::Flash)
    }

    pub(crate) fn program_raw(&mut self, addr: u32, data: &[u8]) -> Res<(), F> {
        debug_assert!(
            addr % self.geo.write_size == 0 && data.len() as u32 % self.geo.write_size == 0
        );
        self.counters.bytes_programmed += data.len() as u64;
        self.flash.write(addr, data).map_err(Error::Flash)
    }

    pub(crate) fn erase_raw(&mut self, unit: u32) -> Res<(), F> {
        let from = self.geo.unit_addr(unit);
        self.counters.erases += 1;
        self.flash
            .erase(from, from + self.geo.unit_size)
            .map_err(Error::Flash)
    }
}
