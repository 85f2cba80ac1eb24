// The FAT tests of `fat.rs`, included once per map mode and FAT type (`U`, `B`, `Map`,
// `FLASH` and `FAT` come from the including module).

use std::io::Read;

use cowftl::blockdev::FtlBlockDevice;
use cowftl::storage::FtlStorage;
use cowftl::{Config, Ftl};
use cowftl_sim::{presets, PartSpec, W25q128Flash};
use cowftl_testkit::image::{mbr_of_type, mbr_partition, StorageIo};
use cowftl_testkit::pattern;
use embedded_sdmmc::{Mode, TimeSource, Timestamp, VolumeIdx, VolumeManager};
use embedded_storage::Storage;

use crate::support::Shared;

/// Partition start (sectors): 4 KiB aligned.
const PART_START: u32 = 8;

type Flash = Shared<1, 1, 4096>;
type NorFtl = Ftl<Flash, U, B, 0, Map>;
type Dev = FtlBlockDevice<Flash, U, B, 512, 0, Map>;
type St = FtlStorage<Flash, U, B, 512, 0, Map>;
type Vm = VolumeManager<Dev, Clock, 4, 4, 1>;

fn spec() -> PartSpec {
    PartSpec {
        one_program_per_word: true,
        ..presets::w25q128(FLASH)
    }
}

fn cfg() -> Config {
    Config::new(0, FLASH as u32)
}

struct Clock;
impl TimeSource for Clock {
    fn get_timestamp(&self) -> Timestamp {
        Timestamp::from_calendar(2026, 11, 24, 12, 0, 0).unwrap()
    }
}

/// Write an MBR with one FAT partition from `start` to the end of the device: type 0x06
/// (FAT16) or 0x0C (FAT32, LBA).
fn write_mbr<S: Storage<Error: std::fmt::Debug>>(storage: &mut S, start: u32) -> u32 {
    let sectors = (storage.capacity() / 512) as u32 - start;
    let kind = match FAT {
        fatfs::FatType::Fat32 => 0x0C,
        _ => 0x06,
    };
    storage.write(0, &mbr_of_type(start, sectors, kind)).unwrap();
    sectors
}

/// Partition window (byte offset, byte length) from the MBR's first entry.
fn partition<S: Storage<Error: std::fmt::Debug>>(storage: &mut S) -> (u64, u64) {
    let mut sector0 = [0u8; 512];
    storage.read(0, &mut sector0).unwrap();
    mbr_partition(&sector0).expect("an MBR with a FAT partition")
}

/// Format the FTL, write the MBR and let `fatfs` format the partition as `FAT`.
fn make_volume(flash: &Flash) {
    let ftl = NorFtl::format(flash.clone(), cfg()).unwrap();
    let mut st = St::new(ftl).unwrap();
    let sectors = write_mbr(&mut st, PART_START);
    let io = StorageIo::new(&mut st, PART_START as u64 * 512, sectors as u64 * 512);
    fatfs::format_volume(
        io,
        fatfs::FormatVolumeOptions::new()
            .fat_type(FAT)
            .bytes_per_cluster(512)
            .volume_label(*b"COWFTL     "),
    )
    .unwrap();
}

fn mount_dev(flash: &Flash) -> Dev {
    FtlBlockDevice::new(NorFtl::mount(flash.clone(), cfg()).unwrap()).unwrap()
}

/// Open the volume with fatfs (after an FTL mount) and hand the filesystem to `f`.
fn with_fatfs<R>(
    flash: &Flash,
    f: impl FnOnce(&fatfs::FileSystem<StorageIo<'_, St>>) -> R,
) -> R {
    let ftl = NorFtl::mount(flash.clone(), cfg()).unwrap();
    let mut st = St::new(ftl).unwrap();
    let (base, len) = partition(&mut st);
    let fs = fatfs::FileSystem::new(StorageIo::new(&mut st, base, len), fatfs::FsOptions::new())
        .expect("fatfs mounts the volume");
    assert_eq!(fs.fat_type(), FAT);
    f(&fs)
}

fn fatfs_read(fs: &fatfs::FileSystem<impl fatfs::ReadWriteSeek>, path: &str) -> Option<Vec<u8>> {
    let mut file = fs.root_dir().open_file(path).ok()?;
    let mut v = Vec::new();
    file.read_to_end(&mut v).unwrap();
    Some(v)
}

/// File contents: `len` pattern bytes, different per `seed`.
fn blob(len: usize, seed: u32) -> Vec<u8> {
    pattern(seed, 1, len)
}

fn sdmmc_read(vm: &Vm, name: &str) -> Vec<u8> {
    let volume = vm.open_volume(VolumeIdx(0)).unwrap();
    let root = volume.open_root_dir().unwrap();
    let f = root.open_file_in_dir(name, Mode::ReadOnly).unwrap();
    let mut out = vec![0u8; f.length() as usize];
    let mut at = 0;
    while at < out.len() {
        let n = f.read(&mut out[at..]).unwrap();
        assert!(n > 0);
        at += n;
    }
    out
}

#[test]
fn fatfs_formats_sdmmc_edits_fatfs_reads_back() {
    let flash = Shared::new(W25q128Flash::new(spec(), 11));
    make_volume(&flash);

    let hello = b"Hello from embedded-sdmmc on NOR flash through cowftl.\r\n".repeat(40);
    let more = b"Appended line.\r\n".repeat(100);
    let big = blob(20_000, 1);
    let log = blob(3_333, 2);
    {
        let vm: Vm = VolumeManager::new_with_limits(mount_dev(&flash), Clock, 0);
        let volume = vm.open_volume(VolumeIdx(0)).unwrap();
        let root = volume.open_root_dir().unwrap();
        // create + write
        let f = root
            .open_file_in_dir("HELLO.TXT", Mode::ReadWriteCreate)
            .unwrap();
        f.write(&hello).unwrap();
        f.close().unwrap();
        // append
        let f = root
            .open_file_in_dir("HELLO.TXT", Mode::ReadWriteAppend)
            .unwrap();
        f.write(&more).unwrap();
        f.close().unwrap();
        // a bigger file, written in odd-sized pieces
        let f = root
            .open_file_in_dir("BIG.BIN", Mode::ReadWriteCreate)
            .unwrap();
        for piece in big.chunks(777) {
            f.write(piece).unwrap();
        }
        f.close().unwrap();
        // a file to delete
        let f = root
            .open_file_in_dir("TEMP.DAT", Mode::ReadWriteCreate)
            .unwrap();
        f.write(&blob(5_000, 3)).unwrap();
        f.close().unwrap();
        // a subdirectory with a file
        root.make_dir_in_dir("LOGS").unwrap();
        let logs = root.open_dir("LOGS").unwrap();
        let f = logs
            .open_file_in_dir("BOOT.LOG", Mode::ReadWriteCreate)
            .unwrap();
        f.write(&log).unwrap();
        f.close().unwrap();
        logs.close().unwrap();
        // delete
        root.delete_entry_in_dir("TEMP.DAT").unwrap();
        // list
        let mut names = Vec::new();
        root.iterate_dir(|e| {
            if !e.attributes.is_volume() {
                names.push(e.name.to_string())
            }
            std::ops::ControlFlow::Continue(())
        })
        .unwrap();
        names.sort();
        assert_eq!(
            names,
            ["BIG.BIN", "HELLO.TXT", "LOGS"],
            "listing: {names:?}"
        );
        root.close().unwrap();
        volume.close().unwrap();
        // read back through embedded-sdmmc
        let mut expect_hello = hello.clone();
        expect_hello.extend_from_slice(&more);
        assert_eq!(sdmmc_read(&vm, "HELLO.TXT"), expect_hello);
        assert_eq!(sdmmc_read(&vm, "BIG.BIN"), big);
        let dev = vm.free().0;
        // The files went through the FTL (the flash map does not count mapped blocks).
        let stats = dev.with_ftl(|f| f.stats());
        assert!(stats.counters.host_writes > 40);
        assert!(stats.mapped_blocks > 0 || B == 0);
    }
    // Remount the FTL and read everything back with fatfs.
    with_fatfs(&flash, |fs| {
        let mut expect_hello = hello.clone();
        expect_hello.extend_from_slice(&more);
        assert_eq!(fatfs_read(fs, "HELLO.TXT").unwrap(), expect_hello);
        assert_eq!(fatfs_read(fs, "BIG.BIN").unwrap(), big);
        assert_eq!(fatfs_read(fs, "LOGS/BOOT.LOG").unwrap(), log);
        assert!(fatfs_read(fs, "TEMP.DAT").is_none(), "deleted file is gone");
        let mut names: Vec<String> = fs
            .root_dir()
            .iter()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n != "." && n != "..")
            .collect();
        names.sort();
        assert_eq!(names, ["BIG.BIN", "HELLO.TXT", "LOGS"]);
        // Used clusters = HELLO + BIG + LOGS dir + BOOT.LOG + TEMP.DAT: embedded-sdmmc 0.10's
        // `delete_entry_in_dir` only marks the directory entry deleted and does not free the
        // cluster chain (its limitation, not the FTL's); pinned here so a change shows up.
        // FAT32 keeps its root directory in a cluster too (FAT16 in a fixed region).
        let st = fs.stats().unwrap();
        let used = st.total_clusters() - st.free_clusters();
        let want = (expect_hello.len().div_ceil(512)
            + big.len().div_ceil(512)
            + 1
            + log.len().div_ceil(512)
            + 5_000usize.div_ceil(512)
            + usize::from(FAT == fatfs::FatType::Fat32)) as u32;
        assert_eq!(used, want, "cluster accounting");
    });
}

/// One step of the workload run under power cuts.
enum Step {
    /// Create `name` and write `data` in pieces, then close.
    Create(&'static str, Vec<u8>),
    /// Append `data` to `name`, then close.
    Append(&'static str, Vec<u8>),
    Delete(&'static str),
}

/// Run `steps` until the first error; return the files' expected contents after each step
/// that completed (a step counts once its close/delete returned Ok).
fn run_steps(
    vm: &Vm,
    steps: &[Step],
    files: &mut std::collections::BTreeMap<&'static str, Vec<u8>>,
) -> Result<(), String> {
    run_steps_tracked(vm, steps, files, &mut None)
}

/// The step a cut interrupted: the file's name and its contents if the step completes
/// (`None` for a delete).
type InFlight = Option<(&'static str, Option<Vec<u8>>)>;

fn run_steps_tracked(
    vm: &Vm,
    steps: &[Step],
    files: &mut std::collections::BTreeMap<&'static str, Vec<u8>>,
    inflight: &mut InFlight,
) -> Result<(), String> {
    let e = |e: embedded_sdmmc::Error<_>| format!("{e:?}");
    let volume = vm.open_volume(VolumeIdx(0)).map_err(e)?;
    let root = volume.open_root_dir().map_err(e)?;
    for step in steps {
        match step {
            Step::Create(name, data) | Step::Append(name, data) => {
                let mode = if matches!(step, Step::Create(..)) {
                    Mode::ReadWriteCreate
                } else {
                    Mode::ReadWriteAppend
                };
                let mut new = files.get(name).cloned().unwrap_or_default();
                new.extend_from_slice(data);
                *inflight = Some((name, Some(new)));
                let f = root.open_file_in_dir(*name, mode).map_err(e)?;
                for piece in data.chunks(1000) {
                    f.write(piece).map_err(e)?;
                }
                f.close().map_err(e)?;
                files.entry(name).or_default().extend_from_slice(data);
                *inflight = None;
            }
            Step::Delete(name) => {
                *inflight = Some((name, None));
                root.delete_entry_in_dir(*name).map_err(e)?;
                files.remove(name);
                *inflight = None;
            }
        }
    }
    root.close().map_err(e)?;
    volume.close().map_err(e)?;
    Ok(())
}

#[test]
fn files_closed_before_a_power_cut_survive_and_the_volume_mounts() {
    // Base image: formatted volume with two closed files.
    let flash = Shared::new(W25q128Flash::new(spec(), 5));
    make_volume(&flash);
    let mut base_files = std::collections::BTreeMap::new();
    {
        let vm: Vm = VolumeManager::new_with_limits(mount_dev(&flash), Clock, 0);
        let steps = [
            Step::Create("A.TXT", blob(2_500, 10)),
            Step::Create("B.BIN", blob(6_000, 11)),
        ];
        run_steps(&vm, &steps, &mut base_files).unwrap();
    }
    let base = flash.with(|f| f.image().to_vec());
    let workload = || {
        vec![
            Step::Create("C.DAT", blob(4_000, 20)),
            Step::Append("A.TXT", blob(1_500, 21)),
            Step::Delete("B.BIN"),
            Step::Create("D.DAT", blob(2_000, 22)),
            Step::Append("C.DAT", blob(700, 23)),
        ]
    };
    // How many flash operations the whole workload takes without a cut.
    let total_ops = {
        let flash = Shared::new(W25q128Flash::from_image(spec(), 1, &base).unwrap());
        let vm: Vm = VolumeManager::new_with_limits(mount_dev(&flash), Clock, 0);
        let before = flash.with(|f| f.ops());
        let mut files = base_files.clone();
        run_steps(&vm, &workload(), &mut files).unwrap();
        flash.with(|f| f.ops()) - before
    };
    assert!(total_ops > 50, "workload too small: {total_ops} ops");
    let mut cuts = 0;
    // Every cut point while that stays fast; a sample of 200 otherwise.
    let stride = (total_ops / 200).max(1);
    for cut in (0..total_ops).step_by(stride as usize) {
        let flash = Shared::new(W25q128Flash::from_image(spec(), cut, &base).unwrap());
        let vm: Vm = VolumeManager::new_with_limits(mount_dev(&flash), Clock, 0);
        flash.with(|f| f.cut_after_ops(cut));
        let mut committed = base_files.clone();
        let mut inflight = None;
        let r = run_steps_tracked(&vm, &workload(), &mut committed, &mut inflight);
        // The interrupted step's file is checked separately: old, new, or in between.
        let interrupted = inflight.map(|(name, new)| (name, committed.remove(name), new));
        assert!(r.is_err(), "cut {cut} of {total_ops} did not fire");
        drop(vm);
        cuts += 1;
        flash.with(|f| f.power_restore());

        // The volume mounts with embedded-sdmmc, and committed files read back intact.
        let vm: Vm = VolumeManager::new_with_limits(mount_dev(&flash), Clock, 0);
        for (name, data) in &committed {
            assert_eq!(
                &sdmmc_read(&vm, name),
                data,
                "cut {cut}: {name} via embedded-sdmmc"
            );
        }
        drop(vm);
        // The interrupted file: absent (create/delete) or a prefix of its new contents that
        // holds at least its old contents; never foreign bytes.
        if let Some((name, old, new)) = &interrupted {
            let got = with_fatfs(&flash, |fs| fatfs_read(fs, name));
            match got {
                None => assert!(old.is_none() || new.is_none(), "cut {cut}: {name} vanished"),
                Some(got) => {
                    let old_len = old.as_ref().map_or(0, |o| o.len());
                    let full = new.as_ref().or(old.as_ref()).unwrap();
                    assert!(
                        got.len() >= old_len.min(got.len()) && full.starts_with(&got),
                        "cut {cut}: {name} holds foreign bytes ({} bytes)",
                        got.len()
                    );
                    if let Some(o) = old {
                        assert!(
                            got.starts_with(o) || o.starts_with(&got),
                            "cut {cut}: {name} lost old data"
                        );
                    }
                }
            }
        }
        // ... and with fatfs.
        with_fatfs(&flash, |fs| {
            for (name, data) in &committed {
                let got =
                    fatfs_read(fs, name).unwrap_or_else(|| panic!("cut {cut}: {name} missing"));
                assert_eq!(&got, data, "cut {cut}: {name} via fatfs");
            }
        });
        // The volume stays writable after the cut.
        let vm: Vm = VolumeManager::new_with_limits(mount_dev(&flash), Clock, 0);
        let mut after = committed.clone();
        run_steps(&vm, &[Step::Create("AFTER.TXT", blob(900, 30))], &mut after)
            .unwrap_or_else(|e| panic!("cut {cut}: write after remount: {e}"));
        assert_eq!(sdmmc_read(&vm, "AFTER.TXT"), blob(900, 30));
    }
    println!("{cuts} power cuts over a workload of {total_ops} flash operations");
    assert!(cuts >= 20, "{cuts} cut points");
}

