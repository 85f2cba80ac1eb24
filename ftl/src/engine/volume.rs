//! The public volume API: [`Ftl`] with mount, format, read, write, trim, statistics and the
//! invariant check. Everything below it is reached through one call per operation:
//! `scan` (mount, format), `gc` (room for an append, retirement, wear levelling), `log`
//! (the append itself).

use embedded_storage_async::nor_flash::NorFlash;

use super::flash::{FlashIo, Res};
use super::log::{Entry, Log, Stream};
use super::mapwork::MapWork;
use super::{gc, scan};
use crate::error::Error;
use crate::geometry::{Config, Geometry};
use crate::layout::{RecordKind, RecordRead, CRC};
use crate::map::{MapMode, Mapping, RamMap};
use crate::units::UnitState;

pub use crate::types::{Counters, Stats};

/// A copy-on-write flash translation layer over a region of `F`.
///
/// `MAX_UNITS` and `MAX_BLOCKS` bound the RAM (see the crate docs for the formula); the
/// configuration is rejected if the geometry needs more.
pub struct Ftl<
    F: NorFlash,
    const MAX_UNITS: usize,
    const MAX_BLOCKS: usize,
    const MAX_SNAPSHOTS: usize = 0,
    M: MapMode = RamMap,
> {
    pub(crate) log: Log<F, MAX_UNITS, MAX_BLOCKS, MAX_SNAPSHOTS, M>,
    cfg: Config,
    /// Unmapped and reverted blocks read a base image (set by `Overlay`), so a trim of one
    /// must be recorded.
    base_backed: bool,
    /// The space invariant held when the volume was mounted or formatted: debug builds then
    /// assert that every operation keeps it (a crafted image may break it from the start;
    /// that is an image problem, reported by `check_invariants`, not a panic).
    space_held: bool,
}

impl<F: NorFlash, const U: usize, const B: usize, const S: usize, M: MapWork> core::fmt::Debug
    for Ftl<F, U, B, S, M>
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Ftl")
            .field("geometry", &self.log.io.geo)
            .field("epoch", &self.log.epoch)
            .field("next_version", &self.log.next_version)
            .field("host", &self.log.host)
            .field("gc", &self.log.gc)
            .field("stats", &self.stats())
            .finish()
    }
}

impl<F: NorFlash, const U: usize, const B: usize, const S: usize, M: MapWork> Ftl<F, U, B, S, M> {
    /// Derive the geometry for `cfg` on this flash type (no flash access).
    pub fn geometry_for(flash: &F, cfg: &Config) -> Result<Geometry, crate::geometry::ConfigError> {
        // The flash map's capacity is its pages' (`M::adjust`), not `MAX_BLOCKS`.
        let max_blocks = if M::ON_FLASH { usize::MAX } else { B };
        let mut g = Geometry::new(
            cfg,
            flash.capacity(),
            F::READ_SIZE,
            F::WRITE_SIZE,
            F::ERASE_SIZE,
            U,
            max_blocks,
        )?;
        M::adjust(&mut g)?;
        Ok(g)
    }

    fn io(flash: F, cfg: &Config) -> Res<FlashIo<F>, F> {
        let geo = Self::geometry_for(&flash, cfg)?;
        Ok(FlashIo {
            flash,
            geo,
            counters: Counters::default(),
            verify: cfg.verify_writes,
        })
    }

    /// Mount an existing volume. Reads only: nothing is written or erased, whatever state a
    /// power cut left. A blank region is `Blank`, foreign data `NotFormatted`, another
    /// geometry `Incompatible`, another format version `UnsupportedVersion`.
    pub async fn mount(flash: F, cfg: Config) -> Res<Self, F> {
        let mut log = Log::new(Self::io(flash, &cfg)?);
        scan::mount(&mut log).await?;
        Ok(Ftl::new(log, cfg))
    }

    /// Erase the region and create an empty volume (wear counters are carried over).
    pub async fn format(flash: F, cfg: Config) -> Res<Self, F> {
        let log = scan::format(Self::io(flash, &cfg)?).await?;
        Ok(Ftl::new(log, cfg))
    }

    /// Mount, or format if the region is blank. Never formats over foreign data.
    pub async fn mount_or_format(flash: F, cfg: Config) -> Res<Self, F> {
        let mut log = Log::new(Self::io(flash, &cfg)?);
        match scan::mount(&mut log).await {
            Ok(()) => Ok(Ftl::new(log, cfg)),
            Err(Error::Blank) => Ok(Ftl::new(scan::format(log.io).await?, cfg)),
            Err(e) => Err(e),
        }
    }

    fn new(log: Log<F, U, B, S, M>, cfg: Config) -> Self {
        const {
            assert!(
                S <= crate::table::TABLE_SNAPSHOTS,
                "MAX_SNAPSHOTS is at most 8"
            );
            assert!(!M::ON_FLASH || S == 0, "the flash map keeps no snapshots");
        };
        let mut ftl = Ftl {
            log,
            cfg,
            base_backed: false,
            space_held: false,
        };
        // Only debug builds read it (`debug_check`): release builds skip the check.
        ftl.space_held = cfg!(debug_assertions) && ftl.check_space().is_ok();
        ftl.debug_check();
        ftl
    }

    /// Exported logical blocks.
    pub fn block_count(&self) -> u32 {
        self.log.io.geo.block_count
    }

    /// Logical block size in bytes.
    pub fn block_size(&self) -> u32 {
        self.log.io.geo.block_size
    }

    /// The derived layout.
    pub fn geometry(&self) -> &Geometry {
        &self.log.io.geo
    }

    /// The configuration this volume was mounted with.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// True once spare units are exhausted: writes and trims return `ReadOnly`.
    pub fn is_read_only(&self) -> bool {
        self.log.read_only
    }

    /// Erase count of each unit (index = unit number), for wear histograms.
    pub fn unit_wear(&self) -> impl Iterator<Item = u32> + '_ {
        self.log.units.iter().map(|(_, u)| u.wear)
    }

    /// Where block `lba`'s newest record lives (for tools and diagnostics). With the flash
    /// map, only what RAM knows (a buffered change; `Unmapped` otherwise): [`Self::lookup`]
    /// reads the map's records.
    pub fn mapping(&self, lba: u32) -> Mapping {
        match M::ON_FLASH {
            true => M::known(&self.log.mode, lba).unwrap_or(Mapping::Unmapped),
            false => self.log.map.get(lba),
        }
    }

    /// Where block `lba`'s newest record lives, reading the flash map's records if needed
    /// (the RAM map answers at once).
    pub async fn lookup(&mut self, lba: u32) -> Res<Mapping, F> {
        self.check_args(lba, self.block_size() as usize)?;
        M::lookup(&mut self.log, lba).await
    }

    /// State, wear, valid and used slots of each unit.
    pub fn units(&self) -> impl Iterator<Item = crate::units::UnitInfo> + '_ {
        self.log.units.iter().map(|(_, u)| *u)
    }

    /// The activity counters alone (what `stats()` carries, without its scans).
    pub fn counters(&self) -> Counters {
        self.log.io.counters
    }

    pub fn stats(&self) -> Stats {
        let mapped = self.log.map.iter();
        Stats {
            wear: self.log.units.wear_summary(),
            counters: self.log.io.counters,
            units: self.log.io.geo.unit_count,
            free_units: self.log.available(),
            retired_units: self.log.retired(),
            // The flash map would have to read every page: 0 there.
            mapped_blocks: mapped
                .filter(|(_, m)| matches!(m, Mapping::Data { .. }))
                .count() as u32,
            read_only: self.log.read_only,
        }
    }

    /// Give the flash back (the volume stays consistent on flash: there is no unmount step).
    pub fn release(self) -> F {
        self.log.io.flash
    }

    /// Borrow the flash (e.g. to read driver statistics).
    pub fn flash(&self) -> &F {
        &self.log.io.flash
    }

    /// Read logical block `lba` into `buf` (exactly one block). Unwritten and trimmed blocks
    /// read as zeros without touching the flash. Returns `Corrupt` rather than data that
    /// fails its CRC.
    pub async fn read(&mut self, lba: u32, buf: &mut [u8]) -> Res<(), F> {
        self.check_args(lba, buf.len())?;
        let m = match M::ON_FLASH {
            true => M::lookup(&mut self.log, lba).await?,
            false => self.log.map.get(lba),
        };
        self.read_mapping(lba, m, buf).await
    }

    /// Read the block `m` points at (the block map's entry or a snapshot's).
    pub(crate) async fn read_mapping(
        &mut self,
        lba: u32,
        m: Mapping,
        buf: &mut [u8],
    ) -> Res<(), F> {
        let Mapping::Data { unit, slot } = m else {
            buf.fill(0);
            return Ok(());
        };
        let r = match self.log.io.read_record(unit, slot).await? {
            RecordRead::Valid(r) if r.claim.kind == RecordKind::Data && r.claim.lba == lba => r,
            _ => return Err(Error::Corrupt),
        };
        self.log
            .io
            .read(self.log.io.geo.data_addr(unit, slot), buf)
            .await?;
        if CRC.checksum(buf) != r.data_crc {
            return Err(Error::Corrupt);
        }
        Ok(())
    }

    /// Write logical block `lba` (exactly one block). When this returns `Ok` the block is
    /// durable; if power is cut during the call the block holds the old or the new data.
    pub async fn write(&mut self, lba: u32, data: &[u8]) -> Res<(), F> {
        self.check_args(lba, data.len())?;
        self.check_writable()?;
        self.host_commit(&[Entry::data(lba, data)]).await
    }

    /// Trim logical block `lba`: it reads as zeros afterwards and its old data becomes
    /// garbage.
    pub async fn trim(&mut self, lba: u32) -> Res<(), F> {
        self.check_args(lba, self.block_size() as usize)?;
        self.check_writable()?;
        let zeros = match M::ON_FLASH {
            true => {
                let m = M::lookup(&mut self.log, lba).await?;
                self.zeros_in(m)
            }
            false => self.reads_zeros(lba),
        };
        if zeros {
            // Unwritten or already trimmed: reads as zeros, nothing to record.
            return Ok(());
        }
        self.host_commit(&[Entry::record(RecordKind::Trim, lba)])
            .await
    }

    /// Forget block `lba`'s contents: it reads the base image again (through
    /// [`Overlay`](crate::overlay::Overlay); zeros on a volume without one, like a trim). One
    /// record; atomic.
    pub async fn revert(&mut self, lba: u32) -> Res<(), F> {
        self.check_args(lba, self.block_size() as usize)?;
        self.check_writable()?;
        let m = match M::ON_FLASH {
            true => M::lookup(&mut self.log, lba).await?,
            false => self.log.map.get(lba),
        };
        if m.reads_base() {
            return Ok(());
        }
        self.host_commit(&[Entry::record(RecordKind::Revert, lba)])
            .await
    }

    /// Every block reads the base image again (a factory reset through
    /// [`Overlay`](crate::overlay::Overlay); on a volume without a base every block reads
    /// zeros). One record, whatever the volume holds: atomic, and O(1) flash work (GC reclaims
    /// the old records later, like any garbage).
    pub async fn revert_all(&mut self) -> Res<(), F> {
        if M::ON_FLASH {
            return Err(Error::Unsupported);
        }
        self.check_writable()?;
        if self.snapshots().next().is_some() {
            // Snapshots see records a reset would hide; a reset record cannot say which.
            return Err(Error::SnapshotsHeld);
        }
        // The record's own version goes into it when it is appended (`Log::append`).
        self.host_commit(&[Entry::record(RecordKind::Reset, 0)])
            .await
    }

    /// Does `lba` read as zeros now (trimmed, or unmapped without a base image)?
    /// With the flash map, a block RAM does not know reads as data (a trim of it is
    /// recorded: harmless if it did read zeros).
    pub(crate) fn reads_zeros(&self, lba: u32) -> bool {
        let m = match M::ON_FLASH {
            true => M::known(&self.log.mode, lba).unwrap_or(Mapping::Data { unit: 0, slot: 0 }),
            false => self.log.map.get(lba),
        };
        self.zeros_in(m)
    }

    /// Does a block mapped by `m` read as zeros?
    fn zeros_in(&self, m: Mapping) -> bool {
        match m {
            Mapping::Data { .. } => false,
            Mapping::Trimmed { .. } => true,
            // Unmapped or reverted: the base image, or zeros without one.
            _ => !self.base_backed,
        }
    }

    /// The mapping of `lba` after checking the block number and buffer length.
    #[allow(dead_code)] // the blocking adapters' (no async adapters yet)
    pub(crate) fn mapping_checked(&self, lba: u32, len: usize) -> Res<Mapping, F> {
        self.check_args(lba, len)?;
        Ok(self.log.map.get(lba))
    }

    #[allow(dead_code)] // the blocking adapters' (no async adapters yet)
    pub(crate) fn set_base_backed(&mut self, on: bool) {
        self.base_backed = on;
    }

    /// Most blocks one [`Transaction`](crate::Transaction) may write or trim on this
    /// volume (`Config::max_transaction_blocks`, limited to a unit's slots minus one).
    pub fn max_transaction_blocks(&self) -> u32 {
        self.log.io.geo.txn_blocks
    }

    pub(crate) fn check_args(&self, lba: u32, len: usize) -> Res<(), F> {
        if lba >= self.block_count() {
            return Err(Error::OutOfRange);
        }
        if len != self.block_size() as usize {
            return Err(Error::BufferSize);
        }
        Ok(())
    }

    pub(crate) fn check_writable(&self) -> Res<(), F> {
        if self.log.read_only {
            return Err(Error::ReadOnly);
        }
        Ok(())
    }

    /// One host append of one record, or of a transaction's records all in one unit, with
    /// GC first when needed. A unit that fails is retired (its data moved, the retirement
    /// recorded) and the append retried elsewhere; a flash that fails every operation
    /// (power going down) ends the call with its error. An append that landed before a
    /// later step (seal, wear levelling) failed on a bad unit is a success.
    pub(crate) async fn host_commit(&mut self, entries: &[Entry<'_>]) -> Res<(), F> {
        let r = self.host_commit_pinned(entries).await;
        if M::ON_FLASH {
            M::unpin(&mut self.log);
            if self.log.mode_lost() {
                self.log.read_only = true;
            }
        }
        r
    }

    async fn host_commit_pinned(&mut self, entries: &[Entry<'_>]) -> Res<(), F> {
        debug_assert!(!entries.is_empty() && entries.len() as u32 <= self.max_transaction_blocks());
        self.check_snapshot_room(entries)?;
        let before = self.log.host_records;
        let need = entries.iter().filter(|e| !e.kind.is_meta()).count() as u32;
        let mut first_fault = None;
        for _ in 0..self.log.io.geo.unit_count + 2 {
            let err = match self.append_once(entries).await {
                Ok(()) => return self.acknowledge(need),
                Err(err) => err,
            };
            if core::mem::take(&mut self.log.txn_overflow) {
                continue;
            }
            if M::ON_FLASH && M::retry(&self.log.mode) {
                continue;
            }
            let Some(unit) = self.log.failed.take() else {
                return Err(first_fault.unwrap_or(err));
            };
            if !self.flash_alive().await {
                return Err(err);
            }
            gc::retire(&mut self.log, unit);
            if self.log.read_only {
                // Best effort: record the last retirement too, so a remount is read-only
                // without failing on this unit first (also when the append itself landed
                // and a later step, GC or wear levelling, met the failure).
                let _ = gc::tidy_retired(&mut self.log).await;
            }
            if self.log.host_records != before {
                return self.acknowledge(need);
            }
            if self.log.read_only {
                return Err(Error::ReadOnly);
            }
            first_fault.get_or_insert(err);
        }
        Err(first_fault.unwrap_or(Error::NoSpace))
    }

    /// One attempt: tidy retired units, make room, append, level wear, collect ahead.
    async fn append_once(&mut self, entries: &[Entry<'_>]) -> Res<(), F> {
        let log = &mut self.log;
        gc::tidy_retired(log).await?;
        if M::ON_FLASH {
            M::between_ops(log).await?;
            for e in entries {
                M::pin(log, e.lba).await?;
            }
        }
        let to = gc::host_stream(log, entries);
        let s = gc::room_for_host(log, entries.len() as u32, to).await?;
        log.append_txn(s, entries).await?;
        gc::level_wear(log, self.cfg.static_wl_threshold).await?;
        if self.cfg.gc_ahead {
            gc::collect_ahead(log).await?;
        }
        Ok(())
    }

    /// Records that only snapshots hold count against the capacity (docs/DESIGN.md,
    /// "Snapshots"): a host record that leaves its block's old record live (a snapshot sees
    /// it), or maps an unmapped block, needs one more live record than before.
    fn check_snapshot_room(&self, entries: &[Entry<'_>]) -> Res<(), F> {
        let log = &self.log;
        if S == 0 || log.table.snaps.iter().all(|&v| v == 0) {
            return Ok(());
        }
        // A block staged twice in one transaction ends with one new record: count it once.
        let first = |i: usize, e: &Entry<'_>| !entries[..i].iter().any(|p| p.lba == e.lba);
        let entries = entries.iter().enumerate().filter(|&(i, e)| first(i, e));
        let grows = entries
            .map(|(_, e)| e)
            .filter(|e| !e.kind.is_meta())
            .filter(|e| {
                let cur = log.map.get(e.lba).location();
                cur.is_none_or(|loc| {
                    log.snaps
                        .iter()
                        .any(|m| m.get(e.lba).location() == Some(loc))
                })
            });
        let meta = log.volume_records().count() as u32;
        let live = log
            .units
            .iter()
            .map(|(_, u)| u32::from(u.valid))
            .sum::<u32>()
            - meta;
        if live + grows.count() as u32 > self.block_count() {
            return Err(Error::SnapshotFull);
        }
        Ok(())
    }

    fn acknowledge(&mut self, blocks: u32) -> Res<(), F> {
        self.log.io.counters.host_writes += u64::from(blocks);
        self.debug_check();
        Ok(())
    }

    /// After a failed program or erase: if the flash cannot even be read, power is going
    /// down (or the bus is dead) and no unit is to blame.
    async fn flash_alive(&mut self) -> bool {
        let mut probe = [0u8; 1];
        let at = self.log.io.geo.region_offset;
        self.log.io.read(at, &mut probe).await.is_ok()
    }

    fn debug_check(&self) {
        #[cfg(debug_assertions)]
        {
            let r = self.check_structure();
            let r = r.and_then(|_| match self.space_held {
                true => self.check_space(),
                false => Ok(()),
            });
            if let Err(e) = r {
                panic!("cowftl invariant violated: {e}");
            }
        }
    }

    /// Check the invariants of docs/DESIGN.md on the RAM state: the structural ones (valid
    /// counts, frontiers, versions) and the space invariant (capacity and an available unit
    /// for GC). Debug builds assert them after every mount, write and trim; tests call this.
    /// `Err` names the broken one.
    pub fn check_invariants(&self) -> Result<(), &'static str> {
        self.check_structure()?;
        self.check_space()
    }

    /// [`Self::check_invariants`], and with the flash map the valid counts too, which it
    /// cannot recount without reading: a lookup of every block, plus the map's own records;
    /// no count may be below its unit's live records. Returns how many counted slots are
    /// not live (0 unless a cut in the erase gap left counts high: GC finds that garbage
    /// when it collects the unit).
    /// For tests (it reads a page or delta record per block).
    pub async fn check_map(&mut self) -> Res<Result<u32, &'static str>, F> {
        if let Err(e) = self.check_invariants() {
            return Ok(Err(e));
        }
        if !M::ON_FLASH {
            return Ok(Ok(0));
        }
        let live = gc::recount(&mut self.log).await?;
        // A count may be high (a cut in the erase gap: GC finds the garbage when it collects
        // the unit), never low: GC would stop moving a victim's records early and erase
        // live data (docs/DESIGN.md, "The flash map's counts").
        let low = |(u, info): (u32, &crate::units::UnitInfo)| {
            live.get(u as usize)
                .is_some_and(|&l| l > u16::from(info.valid))
        };
        if self.log.units.iter().any(low) {
            return Ok(Err("a unit's valid count is below its live records"));
        }
        let high = self.log.units.iter().map(|(u, info)| {
            let l = live.get(u as usize).copied().unwrap_or(0);
            u32::from(info.valid).saturating_sub(u32::from(l))
        });
        Ok(Ok(high.sum()))
    }

    fn check_structure(&self) -> Result<(), &'static str> {
        let log = &self.log;
        let n = log.io.geo.slots_per_unit;
        let live = self.live_counts();
        for (u, info) in log.units.iter() {
            if info.used as u32 > n {
                return Err("a unit uses more slots than it has");
            }
            // The flash map's counts cannot be recounted without reading every page.
            if !M::ON_FLASH && live.get(u as usize) != Some(&u16::from(info.valid)) {
                return Err("a unit's valid count disagrees with the map");
            }
            let frontier = [log.host, log.gc, log.cold].contains(&Some(u));
            if frontier != (info.state == UnitState::Open) {
                return Err("open units and write frontiers disagree");
            }
            if info.stamp() >= log.next_version {
                return Err("a record is newer than the version counter");
            }
        }
        Ok(())
    }

    /// The space invariant: GC always has a victim and a unit to copy into.
    fn check_space(&self) -> Result<(), &'static str> {
        let log = &self.log;
        let g = &log.io.geo;
        if log.read_only || g.no_erase {
            return Ok(());
        }
        let usable = g.unit_count - log.retired();
        if g.block_count >= (usable - 1) * g.slots_per_unit {
            return Err("capacity leaves no unit for GC (space invariant)");
        }
        if log.available() == 0 && !(M::ON_FLASH && self.round_can_finish()) {
            return Err("no unit is available to GC (space invariant)");
        }
        Ok(())
    }

    /// Flash map: a copy frontier has room for every live record of some sealed unit. A GC
    /// round cut after some copies leaves them live (a flash-map mount replays them; the RAM
    /// map's copy rule makes them lose), in the unit the round took; the next round finishes
    /// it there (`gc::pick_victim` prefers a victim that fits), which gives a unit back.
    fn round_can_finish(&self) -> bool {
        let log = &self.log;
        let room = [Stream::Gc, Stream::Cold].map(|s| log.room(s));
        let room = room[0].max(room[1]);
        log.units
            .iter()
            .any(|(_, u)| u.state == UnitState::Sealed && u32::from(u.valid) <= room)
    }

    /// Per unit, the records the map, the retire table or the reset point at.
    fn live_counts(&self) -> heapless::Vec<u16, U> {
        let log = &self.log;
        let mut live = self.meta_counts();
        for lba in 0..log.map.len() {
            log.for_each_location(lba, |(u, _)| count(&mut live, u));
        }
        live
    }

    /// Per unit, the retire records and the reset or table record it holds.
    fn meta_counts(&self) -> heapless::Vec<u16, U> {
        let log = &self.log;
        let n = log.io.geo.slots_per_unit;
        let mut live = heapless::Vec::new();
        let _ = live.resize(log.io.geo.unit_count as usize, 0u16);
        for at in log.volume_records() {
            count(&mut live, at / n);
        }
        live
    }
}

/// One more live record in unit `u`.
fn count<const U: usize>(live: &mut heapless::Vec<u16, U>, u: u32) {
    if let Some(c) = live.get_mut(u as usize) {
        *c = c.saturating_add(1);
    }
}
