//! Image helpers shared by `cowftl image` / `cowftl inspect` and the FAT tests: a `std::io`
//! window over an `embedded_storage::Storage` (what the `fatfs` crate formats and reads
//! through), and the one-partition MBR those volumes use.

use std::io::{Read, Seek, SeekFrom, Write};

use embedded_storage::{ReadStorage, Storage};

/// `std::io::{Read, Write, Seek}` over a byte window of an `embedded_storage::Storage`.
pub struct StorageIo<'a, S> {
    storage: &'a mut S,
    base: u64,
    len: u64,
    pos: u64,
}

impl<'a, S: Storage<Error: std::fmt::Debug>> StorageIo<'a, S> {
    /// The window `base .. base + len` of `storage`, positioned at its start.
    pub fn new(storage: &'a mut S, base: u64, len: u64) -> Self {
        StorageIo {
            storage,
            base,
            len,
            pos: 0,
        }
    }
}

fn io_err<E: std::fmt::Debug>(e: E) -> std::io::Error {
    std::io::Error::other(format!("{e:?}"))
}

impl<S: Storage<Error: std::fmt::Debug>> Read for StorageIo<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (self.len.saturating_sub(self.pos) as usize).min(buf.len());
        ReadStorage::read(self.storage, (self.base + self.pos) as u32, &mut buf[..n])
            .map_err(io_err)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl<S: Storage<Error: std::fmt::Debug>> Write for StorageIo<'_, S> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = (self.len.saturating_sub(self.pos) as usize).min(buf.len());
        if n == 0 && !buf.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::WriteZero,
                "end of volume",
            ));
        }
        Storage::write(self.storage, (self.base + self.pos) as u32, &buf[..n]).map_err(io_err)?;
        self.pos += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<S: Storage<Error: std::fmt::Debug>> Seek for StorageIo<'_, S> {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let p = match to {
            SeekFrom::Start(p) => p as i64,
            SeekFrom::Current(d) => self.pos as i64 + d,
            SeekFrom::End(d) => self.len as i64 + d,
        };
        if p < 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "seek before 0",
            ));
        }
        self.pos = p as u64;
        Ok(self.pos)
    }
}

/// An MBR with one FAT16 (type 0x06) partition of `sectors` 512-byte sectors from `start`.
pub fn mbr(start: u32, sectors: u32) -> [u8; 512] {
    mbr_of_type(start, sectors, 0x06)
}

/// An MBR with one partition of type `kind` (0x06 FAT16, 0x0C FAT32 with LBA) of `sectors`
/// 512-byte sectors from `start`.
pub fn mbr_of_type(start: u32, sectors: u32, kind: u8) -> [u8; 512] {
    let mut m = [0u8; 512];
    let e = &mut m[0x1BE..0x1CE];
    e[1..4].copy_from_slice(&[0xFE, 0xFF, 0xFF]); // CHS unused: LBA
    e[4] = kind;
    e[5..8].copy_from_slice(&[0xFE, 0xFF, 0xFF]);
    e[8..12].copy_from_slice(&start.to_le_bytes());
    e[12..16].copy_from_slice(&sectors.to_le_bytes());
    m[510] = 0x55;
    m[511] = 0xAA;
    m
}

/// The partition window (byte offset, byte length) of the MBR's first entry, if it is a FAT
/// partition.
pub fn mbr_partition(sector0: &[u8]) -> Option<(u64, u64)> {
    if sector0.len() < 512 || sector0[510..512] != [0x55, 0xAA] {
        return None;
    }
    let e = &sector0[0x1BE..0x1CE];
    if !matches!(e[4], 0x04 | 0x06 | 0x0B | 0x0C | 0x0E) {
        return None;
    }
    let start = u32::from_le_bytes(e[8..12].try_into().ok()?) as u64;
    let len = u32::from_le_bytes(e[12..16].try_into().ok()?) as u64;
    Some((start * 512, len * 512))
}
