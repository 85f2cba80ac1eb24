//! `cowftl image`: build a flash image of an FTL region on the host, optionally holding an
//! MBR + FAT16 volume filled from a host directory, and print how to flash it.
//!
//! The `.bin` holds exactly the region's bytes (units are addressed relative to the region,
//! so the image does not depend on where it is flashed). Flash it at
//! `flash base + region offset`, e.g. `probe-rs download --chip STM32L476RGTx
//! --binary-format bin --base-address 0x08080000 ftl.bin`, and mount it in the firmware with
//! the `Config` the command prints.
//!
//! The FAT volume is formatted by the `fatfs` crate (embedded-sdmmc cannot format) through
//! `embedded_storage::Storage` ([`cowftl::storage::FtlStorage`]); embedded-sdmmc reads FAT16
//! or FAT32 only, so the region must export at least 4085 clusters of 512 bytes (~2.1 MB).

use std::io::Write;
use std::path::{Path, PathBuf};

use cowftl::storage::FtlStorage;
use cowftl::{Config, Ftl};
use cowftl_sim::SimFlash;
use cowftl_testkit::image::{mbr, StorageIo};
use cowftl_testkit::Part;
use embedded_storage::{ReadStorage, Storage};

use crate::common;

/// Host-side capacities: the same as the other subcommands (shares their code instances;
/// a whole W25Q128 needs 1024 units and ~30 k blocks).
pub const IMG_UNITS: usize = crate::common::MAX_UNITS;
pub const IMG_BLOCKS: usize = crate::common::MAX_BLOCKS;
/// First sector of the FAT partition (4 KiB aligned).
pub const PART_START: u32 = 8;

/// Parse a number given in decimal, `0x` hex, or with a `K`/`M` suffix (KiB/MiB).
pub fn parse_size(s: &str) -> Result<u32, String> {
    let t = s.trim();
    let (num, mul) = match t.chars().last() {
        Some('K') | Some('k') => (&t[..t.len() - 1], 1024),
        Some('M') | Some('m') => (&t[..t.len() - 1], 1024 * 1024),
        _ => (t, 1),
    };
    let v = if let Some(h) = num.strip_prefix("0x").or_else(|| num.strip_prefix("0X")) {
        u64::from_str_radix(&h.replace('_', ""), 16)
    } else {
        num.replace('_', "").parse::<u64>()
    }
    .map_err(|e| format!("bad number {s:?}: {e}"))?;
    u32::try_from(v * mul).map_err(|_| format!("{s:?} does not fit in 32 bits"))
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Chip the image is for (the F411's region must lie in its uniform 128 KiB sectors 5..7,
    /// offset >= 0x20000; the W25Q128 is external SPI NOR, not memory-mapped).
    #[arg(long, value_parser = common::part_arg(&common::IMAGE_CHIPS), default_value = "stm32l476")]
    pub chip: Part,
    /// Region offset inside the chip's flash (decimal, 0x hex, or K/M suffix).
    #[arg(long, value_parser = parse_size, default_value = "512K")]
    pub region_offset: u32,
    /// Region length (default: from the offset to the end of the chip).
    #[arg(long, value_parser = parse_size)]
    pub region_len: Option<u32>,
    /// Logical block size of the FTL.
    #[arg(long, default_value_t = 512)]
    pub block_size: u32,
    /// Erase-unit size (default: the FTL picks one).
    #[arg(long, value_parser = parse_size)]
    pub unit_size: Option<u32>,
    /// Reserve units (GC + spares), default 4.
    #[arg(long)]
    pub reserve: Option<u32>,
    /// Put an MBR + FAT16 volume in the FTL (formatted by the fatfs crate).
    #[arg(long)]
    pub fat: bool,
    /// Fill the FAT volume with this host directory's files and subdirectories (implies --fat).
    #[arg(long)]
    pub from_dir: Option<PathBuf>,
    /// FAT volume label (up to 11 characters).
    #[arg(long, default_value = "COWFTL")]
    pub label: String,
    /// Output file.
    #[arg(short, long, default_value = "cowftl.bin")]
    pub output: PathBuf,
}

/// FTL configuration of the image (the firmware must mount with the same values, with
/// `region_offset` set to where the region lies in its flash).
pub fn image_config(a: &Args, region_len: u32) -> Config {
    let mut cfg = Config::new(0, region_len);
    cfg.block_size = a.block_size;
    cfg.unit_size = a.unit_size;
    if let Some(r) = a.reserve {
        cfg.reserve_units = r;
    }
    cfg
}

fn copy_dir<IO: fatfs::ReadWriteSeek>(
    host: &Path,
    dir: &fatfs::Dir<'_, IO>,
    files: &mut u32,
    bytes: &mut u64,
) -> Result<(), String> {
    let mut entries: Vec<_> = std::fs::read_dir(host)
        .map_err(|e| format!("{}: {e}", host.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", host.display()))?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let ty = e.file_type().map_err(|e| e.to_string())?;
        if ty.is_dir() {
            let sub = dir
                .create_dir(&name)
                .map_err(|e| format!("mkdir {name}: {e}"))?;
            copy_dir(&e.path(), &sub, files, bytes)?;
        } else if ty.is_file() {
            let data = std::fs::read(e.path()).map_err(|e| e.to_string())?;
            let mut f = dir
                .create_file(&name)
                .map_err(|e| format!("create {name}: {e}"))?;
            f.truncate().map_err(|e| e.to_string())?;
            f.write_all(&data)
                .map_err(|e| format!("write {name}: {e} (volume full?)"))?;
            *files += 1;
            *bytes += data.len() as u64;
        }
    }
    Ok(())
}

/// Format the FTL on a simulated chip of `region_len` bytes; returns the flash and geometry.
fn format<const R: usize, const W: usize, const E: usize>(
    a: &Args,
    region_len: u32,
) -> Result<(SimFlash<R, W, E>, cowftl::Geometry), String> {
    let spec = a.chip.spec(region_len as usize);
    let mut flash = SimFlash::<R, W, E>::try_new(spec, 1).map_err(|e| e.to_string())?;
    let cfg = image_config(a, region_len);
    let ftl = Ftl::<_, IMG_UNITS, IMG_BLOCKS>::format(&mut flash, cfg)
        .map_err(|e| format!("FTL format: {e}"))?;
    let g = *ftl.geometry();
    drop(ftl);
    println!(
        "FTL: {} units of {} B, {} slots/unit, {} blocks of {} B exported ({} bytes, {:.1}% of the region)",
        g.unit_count,
        g.unit_size,
        g.slots_per_unit,
        g.block_count,
        g.block_size,
        g.capacity_bytes(),
        100.0 * g.capacity_bytes() as f64 / region_len as f64
    );
    Ok((flash, g))
}

/// FAT16 needs >= 4085 clusters: 512-byte clusters plus ~1% metadata and the MBR gap.
fn fat_fits(capacity: u64) -> Result<u32, String> {
    let sectors = (capacity / 512) as u32 - PART_START;
    if sectors < 4085 + 4085 / 100 + 80 {
        return Err(format!(
            "the region exports {capacity} bytes: too small for FAT16 (embedded-sdmmc has no \
             FAT12; about 2.1 MB of exported space is needed). Use a larger region or the \
             W25Q128 chip."
        ));
    }
    Ok(sectors)
}

/// Write the MBR + FAT16 volume (and the host directory's files) into the FTL on `flash`.
/// Only instantiated for the SPI NOR: the internal flashes are too small for FAT16.
fn fill_fat(a: &Args, flash: &mut cowftl_sim::W25q128Flash, cfg: Config) -> Result<(), String> {
    let ftl = Ftl::<_, IMG_UNITS, IMG_BLOCKS>::mount(flash, cfg)
        .map_err(|e| format!("FTL mount: {e}"))?;
    let mut st = FtlStorage::<_, IMG_UNITS, IMG_BLOCKS>::new(ftl).map_err(|e| e.to_string())?;
    let sectors = fat_fits(st.capacity() as u64)?;
    st.write(0, &mbr(PART_START, sectors))
        .map_err(|e| format!("MBR: {e}"))?;
    let mut label = [b' '; 11];
    for (d, s) in label.iter_mut().zip(a.label.to_ascii_uppercase().bytes()) {
        *d = s;
    }
    let base = PART_START as u64 * 512;
    let len = sectors as u64 * 512;
    fatfs::format_volume(
        StorageIo::new(&mut st, base, len),
        fatfs::FormatVolumeOptions::new()
            .fat_type(fatfs::FatType::Fat16)
            .bytes_per_cluster(512)
            .volume_label(label),
    )
    .map_err(|e| format!("FAT format: {e}"))?;
    if let Some(dir) = &a.from_dir {
        let fs =
            fatfs::FileSystem::new(StorageIo::new(&mut st, base, len), fatfs::FsOptions::new())
                .map_err(|e| format!("FAT mount: {e}"))?;
        let (mut files, mut bytes) = (0, 0);
        copy_dir(dir, &fs.root_dir(), &mut files, &mut bytes)?;
        let s = fs.stats().map_err(|e| e.to_string())?;
        println!(
            "FAT16: {files} files, {bytes} bytes from {}; {} of {} clusters free",
            dir.display(),
            s.free_clusters(),
            s.total_clusters()
        );
        fs.unmount().map_err(|e| format!("FAT unmount: {e}"))?;
    } else {
        println!("FAT16: empty volume, partition at sector {PART_START}, {sectors} sectors");
    }
    Ok(())
}

fn build<const R: usize, const W: usize, const E: usize>(
    a: &Args,
    region_len: u32,
) -> Result<(Vec<u8>, cowftl::Geometry), String> {
    let (flash, g) = format::<R, W, E>(a, region_len)?;
    if a.fat || a.from_dir.is_some() {
        fat_fits(g.capacity_bytes())?;
        return Err("FAT images are built for the W25Q128 only".into());
    }
    Ok((flash.image().to_vec(), g))
}

fn build_w25q(a: &Args, region_len: u32) -> Result<(Vec<u8>, cowftl::Geometry), String> {
    let (mut flash, g) = format::<1, 1, 4096>(a, region_len)?;
    if a.fat || a.from_dir.is_some() {
        fill_fat(a, &mut flash, image_config(a, region_len))?;
    }
    Ok((flash.image().to_vec(), g))
}

pub fn run(a: Args) -> Result<(), String> {
    let region_len = check_region(&a)?;
    let (image, geo) = match a.chip {
        Part::Stm32l476 => build::<1, 8, 2048>(&a, region_len)?,
        Part::Stm32f411 => build::<1, 4, 131072>(&a, region_len)?,
        Part::Stm32h743 => build::<1, 32, 131072>(&a, region_len)?,
        Part::W25q128 => build_w25q(&a, region_len)?,
        p => return Err(format!("{} is not a real chip", p.name())),
    };
    std::fs::write(&a.output, &image).map_err(|e| format!("{}: {e}", a.output.display()))?;
    println!("wrote {}: {} bytes", a.output.display(), image.len());
    print_instructions(&a, region_len, &geo);
    Ok(())
}

/// The region inside the chip: checked against the chip and its erase unit; its length.
fn check_region(a: &Args) -> Result<u32, String> {
    let chip = a.chip;
    let size = chip.chip_size().ok_or("not a real chip")? as u32;
    if a.region_offset >= size {
        return Err(format!(
            "region offset {:#x} is beyond the chip ({size:#x} bytes)",
            a.region_offset
        ));
    }
    let region_len = a.region_len.unwrap_or(size - a.region_offset);
    if a.region_offset as u64 + region_len as u64 > size as u64 {
        return Err(format!(
            "region {:#x}+{region_len:#x} runs past the end of the chip ({size:#x} bytes)",
            a.region_offset
        ));
    }
    let erase = chip.erase_size() as u32;
    if a.region_offset % erase != 0 || region_len % erase != 0 || region_len == 0 {
        return Err(format!(
            "region offset and length must be non-zero multiples of the {erase}-byte erase unit"
        ));
    }
    if chip == Part::Stm32f411 && a.region_offset < 0x20000 {
        return Err(
            "on the STM32F411 the region must lie in the 128 KiB sectors (offset >= 0x20000)"
                .into(),
        );
    }
    Ok(region_len)
}

/// The firmware's `Config`, and how to flash and check the image.
fn print_instructions(a: &Args, region_len: u32, geo: &cowftl::Geometry) {
    let out = a.output.display();
    let cfg = image_config(a, region_len);
    println!(
        "firmware config: Config {{ block_size: {}, unit_size: Some({}), reserve_units: {}, ..Config::new({:#x}, {:#x}) }}",
        cfg.block_size, geo.unit_size, cfg.reserve_units, a.region_offset, region_len
    );
    match a.chip.flash_base() {
        Some(base) => {
            let addr = base + a.region_offset;
            println!("base address: {addr:#010x}");
            println!(
                "flash with: probe-rs download --chip {} --binary-format bin --base-address {addr:#010x} {out}",
                a.chip.probe_rs_chip()
            );
        }
        None => println!(
            "external SPI NOR (not memory-mapped): write {out} at flash offset {:#x} with your SPI programmer",
            a.region_offset
        ),
    }
    println!("check with: cowftl inspect --chip {} {out}", a.chip.name());
}
