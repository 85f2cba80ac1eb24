//! Flash access: the only layer that calls the `NorFlash` driver.
//!
//! Owns the driver, the [`Counters`] and the geometry's addressing. Offers reads, programs
//! and erases of whole structures, read-back verification, blank checks, and *stable
//! reads*: a program cut by power loss can leave cells that read differently each time, so
//! where the FTL must know that something will read the same at every later mount (the
//! last record of a unit, the slot it is about to program), it reads it many times.

use embedded_storage_async::nor_flash::NorFlash;

use crate::error::Error;
use crate::geometry::{Geometry, CHUNK};
use crate::layout::{HeaderRead, RecordRead, UnitHeader, CRC};
use crate::layout::{FLASH_MAP_VERSION, FORMAT_VERSION};
use crate::types::Counters;

/// Reads of a unit's last record that must all agree before mount trusts it. A word left
/// unstable by a cut reads back its stored value about half the time (the simulator's and
/// real cells' behaviour), so 32 agreeing reads leave a chance of about 2^-32.
pub const STABLE_READS: u32 = 32;
/// Reads of a claim that must all be blank before it is programmed: a program cut before any
/// bit landed leaves words that read erased most of the time.
pub const PROBE_READS: u32 = 64;
/// Largest padded claim, commit, header or seal (word size <= 128).
pub const META_BUF: usize = 128;
/// A buffer for one padded claim, commit, header or seal.
pub type Meta = [u8; META_BUF];

pub(crate) type Res<T, F> = Result<T, Error<<F as embedded_storage::nor_flash::ErrorType>::Error>>;

/// The flash driver plus addressing and counters.
#[derive(Debug)]
pub(crate) struct FlashIo<F> {
    pub flash: F,
    pub geo: Geometry,
    pub counters: Counters,
    pub verify: bool,
}

impl<F: NorFlash> FlashIo<F> {
    pub async fn read(&mut self, addr: u32, buf: &mut [u8]) -> Res<(), F> {
        self.counters.bytes_read += buf.len() as u64;
        self.flash.read(addr, buf).await.map_err(Error::Flash)
    }

    pub async fn program(&mut self, addr: u32, data: &[u8]) -> Res<(), F> {
        let w = self.geo.write_size;
        debug_assert!(addr % w == 0 && data.len() as u32 % w == 0);
        self.counters.bytes_programmed += data.len() as u64;
        self.flash.write(addr, data).await.map_err(Error::Flash)
    }

    /// Program the first `len` bytes of `buf` (a padded header, claim, commit or seal) and,
    /// when verifying, read them back: a mismatch is `Corrupt` (the caller retires the unit).
    /// Sliced here rather than at every caller.
    pub async fn program_checked(&mut self, addr: u32, buf: &Meta, len: u32) -> Res<(), F> {
        let data = &buf[..len as usize];
        self.program(addr, data).await?;
        if self.verify {
            let mut back = [0u8; META_BUF];
            let back = &mut back[..data.len()];
            self.read(addr, back).await?;
            if !same(back, data) {
                return Err(Error::Corrupt);
            }
        }
        Ok(())
    }

    pub async fn erase(&mut self, unit: u32) -> Res<(), F> {
        let from = self.geo.unit_addr(unit);
        self.counters.erases += 1;
        self.flash
            .erase(from, from + self.geo.unit_size)
            .await
            .map_err(Error::Flash)
    }

    /// Read `len` bytes at `addr` into `buf` `times` times; `true` if every read was
    /// identical (the first one is left in `buf`). Takes the whole buffer and slices it here,
    /// once, rather than at every caller.
    pub async fn read_stable(
        &mut self,
        addr: u32,
        buf: &mut Meta,
        len: u32,
        times: u32,
    ) -> Res<bool, F> {
        // The first read lands in `buf` and the others in `again` (no copy back: less code).
        let buf = &mut buf[..len as usize];
        self.read(addr, buf).await?;
        let mut again = [0u8; META_BUF];
        let again = &mut again[..buf.len()];
        let mut stable = true;
        for _ in 1..times {
            self.read(addr, again).await?;
            stable &= same(again, buf);
        }
        Ok(stable)
    }

    /// True if `len` bytes from `addr` all read 0xFF.
    pub async fn is_blank(&mut self, addr: u32, len: u32) -> Res<bool, F> {
        let mut buf = [0u8; CHUNK];
        let mut off = 0;
        while off < len {
            let n = (CHUNK as u32).min(len - off) as usize;
            self.read(addr + off, &mut buf[..n]).await?;
            if !crate::layout::is_erased(&buf[..n]) {
                return Ok(false);
            }
            off += n as u32;
        }
        Ok(true)
    }

    /// `unit`'s header: copy 0 if it is valid and of a version cowftl writes (v3, or v4 with
    /// the flash map: the mount refuses the other), else the better of the two (such a
    /// version first, then the newer epoch); `Blank` only if both are. Both copies are written
    /// together (a v4 unit's copy 1 when it is opened), so they differ only after rot or on a
    /// crafted image. Copy 1 is read only if copy 0 does not do.
    pub async fn read_header(&mut self, unit: u32) -> Res<HeaderRead, F> {
        let ours = |h: &HeaderRead| matches!(h, HeaderRead::Valid(h) if h.version == FORMAT_VERSION || h.version == FLASH_MAP_VERSION);
        let first = self.read_header_copy(unit, 0).await?;
        if ours(&first) {
            return Ok(first);
        }
        let second = self.read_header_copy(unit, 1).await?;
        // `first` is not of this version here: `second` wins if it is, or by a newer epoch.
        // One of the two reads as it is (no header rebuilt from its fields).
        let take_second = match (&first, &second) {
            (HeaderRead::Valid(a), HeaderRead::Valid(b)) => ours(&second) || b.epoch > a.epoch,
            (HeaderRead::Valid(_), _) | (HeaderRead::Blank, HeaderRead::Blank) => false,
            (_, HeaderRead::Valid(_)) => true,
            _ => return Ok(HeaderRead::Invalid),
        };
        Ok(if take_second { second } else { first })
    }

    /// Header copy 0 of `unit`, read `STABLE_READS` times: whether every read agreed (a cut
    /// erase or header program leaves words that read differently now and then), and the
    /// first read (meaningful only if they did).
    pub async fn read_header_stable(&mut self, unit: u32) -> Res<(bool, HeaderRead), F> {
        self.read_header_times(unit, 0, STABLE_READS).await
    }

    /// Header copy `copy` of `unit`, read once.
    // Always inlined into `read_header`, its one caller (-40 B, measured).
    #[inline(always)]
    async fn read_header_copy(&mut self, unit: u32, copy: u32) -> Res<HeaderRead, F> {
        // One read always agrees with itself.
        Ok(self.read_header_times(unit, copy, 1).await?.1)
    }

    /// Header copy `copy` of `unit`, read `times` times: whether every read agreed, and the
    /// first read decoded. (One function for the single and the repeated read, and a flag
    /// beside the header rather than an `Option` around it: less code, measured.)
    async fn read_header_times(
        &mut self,
        unit: u32,
        copy: u32,
        times: u32,
    ) -> Res<(bool, HeaderRead), F> {
        let mut buf = [0u8; META_BUF];
        let (addr, n) = (self.geo.header_addr(unit, copy), self.geo.header_size);
        let stable = self.read_stable(addr, &mut buf, n, times).await?;
        Ok((stable, UnitHeader::decode(&buf[..n as usize])))
    }

    /// One read of a slot's record (claim and commit).
    pub async fn read_record(&mut self, unit: u32, slot: u32) -> Res<RecordRead, F> {
        let mut buf = [0u8; 2 * META_BUF];
        let (c, n) = (self.geo.claim_size as usize, self.geo.record_size as usize);
        self.read(self.geo.record_addr(unit, slot), &mut buf[..n])
            .await?;
        Ok(RecordRead::decode(&buf[..c], &buf[c..n]))
    }

    /// CRC of the block at `src`; with `dst`, program each chunk there as it goes (a copy).
    pub async fn stream_block(&mut self, src: u32, dst: Option<u32>) -> Res<u32, F> {
        let mut buf = [0u8; CHUNK];
        let mut digest = CRC.digest();
        let bs = self.geo.block_size;
        let mut off = 0;
        while off < bs {
            let n = (CHUNK as u32).min(bs - off) as usize;
            self.read(src + off, &mut buf[..n]).await?;
            digest.update(&buf[..n]);
            if let Some(dst) = dst {
                self.program(dst + off, &buf[..n]).await?;
            }
            off += n as u32;
        }
        Ok(digest.finalize())
    }
}

/// `a == b` for byte slices, as a plain loop: the slice comparison pulls in `memcmp`, which
/// a small firmware image does not otherwise need.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}
