//! Unit tests for the flash rules, counters, endurance and fault injection.

use crate::*;
use embedded_storage::nor_flash::{
    MultiwriteNorFlash, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};

fn l4() -> Stm32L476Flash {
    Stm32L476Flash::new(presets::stm32l476(4 * 2048), 1)
}

fn w25() -> W25q128Flash {
    W25q128Flash::new(presets::w25q128(4 * 4096), 1)
}

fn read_vec<F: ReadNorFlash>(f: &mut F, off: u32, len: usize) -> Vec<u8> {
    let mut v = vec![0; len];
    f.read(off, &mut v).map_err(|e| e.kind()).expect("read");
    v
}

#[test]
fn new_flash_is_erased() {
    let f = l4();
    assert_eq!(f.capacity(), 8192);
    assert_eq!(f.units(), 4);
    assert!(f.image().iter().all(|&b| b == 0xFF));
    assert!(f.is_powered() && !f.was_cut());
    assert_eq!(f.spec().name, "STM32L476");
}

#[test]
fn bad_spec_is_rejected() {
    assert!(matches!(
        Stm32L476Flash::try_new(presets::w25q128(8192), 0),
        Err(SimError::InvalidSpec(_))
    ));
    assert!(Stm32L476Flash::try_new(presets::stm32l476(1000), 0).is_err());
}

#[test]
#[should_panic(expected = "READ/WRITE/ERASE")]
fn new_panics_on_bad_spec() {
    let _ = Stm32H743Flash::new(presets::stm32l476(2048), 0);
}

#[test]
fn alignment_and_bounds() {
    let mut f = l4();
    assert_eq!(f.write(4, &[0; 8]), Err(SimError::NotAligned));
    assert_eq!(f.write(0, &[0; 4]), Err(SimError::NotAligned));
    assert_eq!(f.write(8192, &[0; 8]), Err(SimError::OutOfBounds));
    assert_eq!(f.write(8184, &[0; 16]), Err(SimError::OutOfBounds));
    assert_eq!(f.erase(0, 100), Err(SimError::NotAligned));
    assert_eq!(f.erase(2048, 0), Err(SimError::OutOfBounds));
    assert_eq!(f.erase(0, 10240), Err(SimError::OutOfBounds));
    let mut b = [0u8; 4];
    assert_eq!(f.read(8190, &mut b), Err(SimError::OutOfBounds));
    assert_eq!(
        f.write(4, &[0; 8]).unwrap_err().kind(),
        NorFlashErrorKind::NotAligned
    );
    assert_eq!(
        f.read(8190, &mut b).unwrap_err().kind(),
        NorFlashErrorKind::OutOfBounds
    );
    // Rejected calls are not ops and change nothing.
    assert_eq!(f.ops(), 0);
    assert_eq!(f.stats().program_ops, 0);
    // Empty ops are no-ops.
    assert_eq!(f.write(16, &[]), Ok(()));
    assert_eq!(f.erase(2048, 2048), Ok(()));
    assert_eq!(f.ops(), 0);
}

#[test]
fn program_and_read_back() {
    let mut f = l4();
    f.write(16, b"abcdefgh12345678").unwrap();
    assert_eq!(read_vec(&mut f, 16, 16), b"abcdefgh12345678");
    assert_eq!(read_vec(&mut f, 17, 3), b"bcd");
    assert!(f.is_programmed(16) && f.is_programmed(31) && !f.is_programmed(32));
    assert!(!f.is_unstable(16));
}

#[test]
#[should_panic(expected = "0 bit back into 1")]
fn zero_to_one_panics_on_multiwrite_part() {
    let mut f = w25();
    f.write(0, &[0x0F]).unwrap();
    f.write(0, &[0x07]).unwrap(); // clearing more bits is fine on a multi-write part
    f.write(0, &[0x0F]).unwrap(); // asks for a 1 over a 0: violation
}

#[test]
fn multiwrite_part_allows_reprogram_and_and_mode() {
    let mut f = w25();
    f.write(0, &[0xF0, 0xFF]).unwrap();
    f.write(0, &[0x30, 0xFE]).unwrap();
    assert_eq!(read_vec(&mut f, 0, 2), [0x30, 0xFE]);
    f.set_zero_to_one_is_violation(false);
    f.write(0, &[0xFF, 0x0F]).unwrap();
    assert_eq!(read_vec(&mut f, 0, 2), [0x30, 0x0E]);
    assert!(f.violations().is_empty());
}

#[test]
#[should_panic(expected = "second program")]
fn second_program_panics_on_ecc_part() {
    let mut f = l4();
    f.write(0, &[0xFF; 8]).unwrap(); // even an all-0xFF program counts
    f.write(0, &[0x00; 8]).unwrap();
}

#[test]
fn violation_message_names_address_op_and_rule() {
    let r = std::panic::catch_unwind(|| {
        let mut f = l4();
        f.write(0x40, &[0; 8]).unwrap();
        f.write(0x40, &[0; 8]).unwrap();
    });
    let err = r.unwrap_err();
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("0x00000040"), "{msg}");
    assert!(
        msg.contains("program") && msg.contains("STM32L476"),
        "{msg}"
    );
    assert!(msg.contains("second program"), "{msg}");
}

#[test]
fn record_mode_collects_violations() {
    let mut f = l4();
    f.set_violation_mode(ViolationMode::Record);
    f.write(0, &[0xAA; 16]).unwrap();
    f.write(8, &[0x0A; 8]).unwrap();
    assert_eq!(f.violations().len(), 1);
    let v = &f.violations()[0];
    assert_eq!((v.addr, v.rule, v.op), (8, Rule::SecondProgram, "program"));
    assert_eq!(v.stored, vec![0xAA; 8]);
    assert_eq!(v.intended, vec![0x0A; 8]);
    // The hardware result: old & new, and the ECC word is now unreliable.
    assert_eq!(f.image()[8], 0x0A);
    assert!(f.is_unstable(8));
    let mut w = w25();
    w.set_violation_mode(ViolationMode::Record);
    w.write(0, &[0x00]).unwrap();
    w.write(0, &[0x01]).unwrap();
    assert_eq!(w.violations()[0].rule, Rule::ZeroToOne);
    w.clear_violations();
    assert!(w.violations().is_empty());
}

#[test]
fn program_over_unstable_word_is_a_violation_on_ecc_parts() {
    let mut f = l4();
    f.set_violation_mode(ViolationMode::Record);
    f.cut_at_byte(0, 0);
    assert_eq!(f.write(0, &[0; 8]), Err(SimError::PowerLost));
    f.power_restore();
    f.write(0, &[0; 8]).unwrap();
    assert_eq!(f.violations()[0].rule, Rule::ProgramUnstable);
    // After a torn erase, too; a good erase clears it.
    f.clear_violations();
    f.cut_at_byte(0, 0);
    assert_eq!(f.erase(2048, 4096), Err(SimError::PowerLost));
    f.power_restore();
    f.write(2048, &[0xFF; 8]).unwrap();
    assert_eq!(f.violations()[0].rule, Rule::ProgramUnstable);
    f.clear_violations();
    f.erase(2048, 4096).unwrap();
    f.write(2048, &[0; 8]).unwrap();
    assert!(f.violations().is_empty());
}

#[test]
fn unstable_word_on_multiwrite_part_may_be_reprogrammed() {
    let mut f = w25();
    f.cut_at_byte(0, 0);
    assert_eq!(f.write(0, &[0x00]), Err(SimError::PowerLost));
    f.power_restore();
    assert!(f.is_unstable(0));
    f.write(0, &[0x00]).unwrap();
    assert_eq!(f.image()[0], 0);
}

#[test]
fn counters_and_device_time() {
    let mut f = l4();
    f.erase(0, 4096).unwrap();
    f.write(0, &[0; 24]).unwrap();
    let mut b = [0u8; 100];
    f.read(0, &mut b).unwrap();
    f.read(0, &mut b[..10]).unwrap();
    let s = f.stats().clone();
    assert_eq!(s.erase_ops, 1);
    assert_eq!(s.erases_per_unit, vec![1, 1, 0, 0]);
    assert_eq!(s.program_ops, 1);
    assert_eq!(s.bytes_programmed, 24);
    assert_eq!(s.read_ops, 2);
    assert_eq!(s.bytes_read, 110);
    let expect = 2 * 22_020_000 + 3 * 81_690 + 110 * 7_800 / 1000 - 1;
    assert!(
        s.device_time_ns.abs_diff(expect) <= 2,
        "{}",
        s.device_time_ns
    );
    assert_eq!(s.total_unit_erases(), 2);
    assert_eq!(s.wear_spread(), 1);
    assert_eq!(f.ops(), 2);
    f.reset_stats();
    assert_eq!(
        f.stats(),
        &SimStats {
            erases_per_unit: vec![0; 4],
            ..Default::default()
        }
    );
    assert_eq!(f.wear(), &[1, 1, 0, 0]);
    assert_eq!(f.ops(), 2);
}

#[test]
fn endurance_fails_erase_then_programs() {
    let mut f = l4();
    f.set_endurance(Some(3));
    for _ in 0..3 {
        f.erase(0, 2048).unwrap();
    }
    f.write(0, &[0; 8]).unwrap(); // still good after its 3rd erase
    assert_eq!(f.erase(0, 2048), Err(SimError::EraseFailed { unit: 0 }));
    assert!(f.is_worn(0) && !f.is_worn(1));
    assert_eq!(
        f.erase(0, 2048).unwrap_err().kind(),
        NorFlashErrorKind::Other
    );
    // The failed erase left the unit undefined: on an ECC part, programming it is a violation.
    assert!(f.is_unstable(64));
    f.set_violation_mode(ViolationMode::Record);
    let _ = f.write(64, &[0; 8]);
    assert_eq!(f.violations()[0].rule, Rule::ProgramUnstable);
    // Other units are fine; a multi-unit erase stops at the worn one.
    f.erase(2048, 4096).unwrap();
    assert_eq!(f.erase(0, 4096), Err(SimError::EraseFailed { unit: 0 }));
    assert_eq!(f.wear(), &[3, 1, 0, 0]);
}

#[test]
fn program_into_worn_unit_fails() {
    // Multi-write part: unstable words may be programmed, so the worn unit's failure shows.
    let mut f = w25();
    f.set_endurance(Some(0));
    assert_eq!(f.erase(4096, 8192), Err(SimError::EraseFailed { unit: 1 }));
    f.set_zero_to_one_is_violation(false); // the torn erase left arbitrary bits
    assert_eq!(
        f.write(4090, &[0; 16]),
        Err(SimError::ProgramFailed { addr: 4096 })
    );
    assert_eq!(read_vec(&mut f, 4090, 6), [0; 6]); // the part before the worn unit landed
    assert!(f.is_powered());
    f.set_fail_program_when_worn(false);
    assert_eq!(f.write(5000, &[0; 8]), Ok(()));
}

#[test]
fn injected_erase_and_program_faults() {
    let mut f = l4();
    f.fail_erase(2);
    assert_eq!(f.erase(4096, 6144), Err(SimError::EraseFailed { unit: 2 }));
    assert!(f.is_unstable(4096));
    f.erase(0, 2048).unwrap();
    f.fail_program(100..101);
    assert_eq!(
        f.write(80, &[0; 32]),
        Err(SimError::ProgramFailed { addr: 96 })
    );
    assert_eq!(read_vec(&mut f, 80, 16), [0; 16]);
    assert!(f.is_unstable(96) && f.is_unstable(104) && !f.is_unstable(88));
    assert!(f.is_powered());
    f.clear_faults();
    f.erase(4096, 6144).unwrap();
    assert!(!f.is_unstable(4096));
}

#[test]
fn cut_after_ops_counts_mutating_ops_only() {
    let mut f = l4();
    f.cut_after_ops(2);
    f.write(0, &[0; 8]).unwrap();
    let _ = read_vec(&mut f, 0, 8); // reads do not count
    f.erase(2048, 4096).unwrap();
    assert!(f.cut_pending());
    assert_eq!(f.write(8, &[0; 8]), Err(SimError::PowerLost));
    assert!(f.was_cut() && !f.is_powered() && !f.cut_pending());
    assert_eq!(f.ops(), 3);
    // Everything fails until power is restored; failing calls are not ops.
    let mut b = [0u8; 1];
    assert_eq!(f.read(0, &mut b), Err(SimError::PowerLost));
    assert_eq!(f.erase(0, 2048), Err(SimError::PowerLost));
    assert_eq!(f.write(16, &[0; 8]), Err(SimError::PowerLost));
    assert_eq!(f.ops(), 3);
    f.power_restore();
    assert!(f.is_powered() && f.was_cut());
    f.write(16, &[0; 8]).unwrap();
    f.cancel_cut();
    assert!(!f.was_cut());
}

#[test]
fn cancel_cut_disarms() {
    let mut f = l4();
    f.cut_after_ops(0);
    f.cancel_cut();
    f.write(0, &[0; 8]).unwrap();
    assert!(f.is_powered());
}

#[test]
fn cut_program_at_byte() {
    // Bytes before the cut land, the torn word gets a strict subset, words after are unstable.
    for seed in 0..200 {
        let mut f = Stm32L476Flash::new(presets::stm32l476(2048), seed);
        f.cut_at_byte(0, 11);
        assert_eq!(f.write(0, &[0u8; 32]), Err(SimError::PowerLost));
        let img = f.image();
        assert_eq!(&img[..11], &[0; 11]);
        assert_ne!(&img[8..16], &[0; 8], "torn word must not be complete");
        assert!(!f.is_unstable(0) && f.is_programmed(0));
        for a in [8, 16, 24] {
            assert!(f.is_unstable(a) && f.is_programmed(a));
        }
        assert!(!f.is_programmed(32) && img[32..].iter().all(|&b| b == 0xFF));
    }
}

#[test]
fn cut_program_only_clears_intended_bits() {
    for seed in 0..100 {
        let mut f = w25();
        f.erase(0, 4096).unwrap();
        let old: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(37) | 0x81).collect();
        f.write(0, &old).unwrap();
        let new: Vec<u8> = old.iter().map(|b| b & 0xF0).collect();
        let mut g = W25q128Flash::new(presets::w25q128(4 * 4096), seed);
        g.write(0, &old).unwrap();
        g.cut_after_ops(0);
        assert_eq!(g.write(0, &new), Err(SimError::PowerLost));
        for i in 0..64 {
            let s = g.image()[i];
            assert_eq!(s & old[i], s, "no 0->1");
            assert_eq!(s | (old[i] & !new[i]), old[i], "only intended bits");
        }
    }
}

#[test]
fn cut_at_byte_past_end_completes_but_reports_power_lost() {
    let mut f = l4();
    f.cut_at_byte(0, 1000);
    assert_eq!(f.write(0, &[0x12; 16]), Err(SimError::PowerLost));
    f.power_restore();
    assert_eq!(read_vec(&mut f, 0, 16), [0x12; 16]);
    assert!(!f.is_unstable(0) && !f.is_unstable(8));
}

#[test]
fn cut_erase_outcomes() {
    let mut seen = std::collections::HashSet::new();
    for seed in 0..100 {
        let mut f = Stm32L476Flash::new(presets::stm32l476(4 * 2048), seed);
        f.write(0, &[0x5A; 8192]).unwrap();
        f.cut_at_byte(0, 2048 + 5); // inside the second unit of the range
        assert_eq!(f.erase(0, 6144), Err(SimError::PowerLost));
        let img = f.image().to_vec();
        assert!(img[..2048].iter().all(|&b| b == 0xFF), "first unit erased");
        assert!(
            img[4096..].iter().all(|&b| b == 0x5A),
            "later units untouched"
        );
        assert!(!f.is_unstable(0) && f.is_unstable(2048) && f.is_unstable(4095));
        assert!(!f.is_unstable(4096));
        let u = &img[2048..4096];
        let kind = if u.iter().all(|&b| b == 0x5A) {
            "old"
        } else if u.iter().all(|&b| b == 0) {
            "zeros"
        } else if u.iter().all(|&b| b == 0xFF) {
            "ones"
        } else if u.iter().all(|&b| b & 0x5A == 0x5A) {
            "mix"
        } else {
            "random"
        };
        seen.insert(kind);
        assert_eq!(f.stats().erases_per_unit, vec![1, 1, 0, 0]);
        f.power_restore();
        f.erase(2048, 4096).unwrap();
        assert!(!f.is_unstable(2048));
    }
    assert_eq!(seen.len(), 5, "{seen:?}");
}

#[test]
fn unstable_reads_vary_and_settle_after_erase() {
    let mut f = l4();
    f.cut_at_byte(0, 0);
    let _ = f.write(0, &[0x00; 8]);
    f.power_restore();
    let reads: std::collections::HashSet<Vec<u8>> =
        (0..50).map(|_| read_vec(&mut f, 0, 8)).collect();
    assert!(reads.len() > 1, "unstable word must read differently");
    assert!(reads.contains(&f.image()[..8]));
    // Stable neighbours read exactly.
    assert_eq!(read_vec(&mut f, 8, 8), [0xFF; 8]);
    f.erase(0, 2048).unwrap();
    let reads: std::collections::HashSet<Vec<u8>> =
        (0..20).map(|_| read_vec(&mut f, 0, 8)).collect();
    assert_eq!(reads.len(), 1);
}

#[test]
fn deterministic_from_seed() {
    let run = |seed: u64| {
        let mut f = W25q128Flash::new(presets::w25q128(4 * 4096), seed);
        let mut out = Vec::new();
        for i in 0..20u32 {
            f.cut_after_ops(1);
            let _ = f.erase(0, 4096);
            let _ = f.write(i * 8, &[i as u8; 8]);
            f.power_restore();
            out.extend(read_vec(&mut f, 0, 256));
        }
        (out, f.image().to_vec())
    };
    assert_eq!(run(5), run(5));
    assert_ne!(run(5), run(6));
}

#[test]
fn worm_cannot_erase() {
    let mut f = WormFlash::new(presets::worm(4096), 0);
    assert_eq!(f.erase(0, 2048), Err(SimError::NotErasable));
    assert_eq!(
        f.erase(0, 2048).unwrap_err().kind(),
        NorFlashErrorKind::Other
    );
    f.write(0, &[1; 8]).unwrap();
    f.set_violation_mode(ViolationMode::Record);
    f.write(0, &[0; 8]).unwrap();
    assert_eq!(f.violations()[0].rule, Rule::SecondProgram);
}

#[test]
fn image_save_load_roundtrip() {
    let mut f = l4();
    f.write(0, b"persist!").unwrap();
    let dir = std::env::temp_dir().join(format!("cowftl-sim-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("img.bin");
    f.save(&path).unwrap();
    let mut g = Stm32L476Flash::load(presets::stm32l476(8192), 2, &path).unwrap();
    assert_eq!(g.image(), f.image());
    assert!(g.is_programmed(0) && !g.is_programmed(8));
    assert_eq!(read_vec(&mut g, 0, 8), b"persist!");
    let bad = Stm32L476Flash::load(presets::stm32l476(4096), 2, &path).unwrap_err();
    assert_eq!(bad.kind(), std::io::ErrorKind::InvalidData);
    assert_eq!(
        Stm32L476Flash::from_image(presets::stm32l476(4096), 0, &[0; 10]).unwrap_err(),
        SimError::ImageSize {
            expected: 4096,
            got: 10
        }
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn flip_bit_and_clone_snapshot() {
    let mut f = l4();
    f.write(0, &[0; 8]).unwrap();
    let snap = f.clone();
    f.flip_bit(3, 5);
    assert_eq!(f.image()[3], 0x20);
    assert!(f.violations().is_empty());
    assert_eq!(snap.image()[3], 0);
    assert!(format!("{snap:?}").contains("STM32L476"));
}

#[test]
fn other_presets_work() {
    let mut f = Stm32F411Flash::new(presets::stm32f411(presets::STM32F411_REGION_CAPACITY), 0);
    f.write(4, &[0xF0; 4]).unwrap();
    f.write(4, &[0x00; 4]).unwrap(); // no ECC: a second program that only clears bits is fine
    assert_eq!(f.write(2, &[0; 4]), Err(SimError::NotAligned));
    let strict = PartSpec {
        one_program_per_word: true,
        ..presets::stm32f411(131072)
    };
    let mut g = Stm32F411Flash::new(strict, 0);
    g.set_violation_mode(ViolationMode::Record);
    g.write(0, &[0xF0; 4]).unwrap();
    g.write(0, &[0x00; 4]).unwrap();
    assert_eq!(g.violations()[0].rule, Rule::SecondProgram);
    f.erase(0, 131072).unwrap();
    assert_eq!(f.stats().device_time_ns, 2 * 16_000 + 1_000_000_000);
    let mut h = Stm32H743Flash::new(presets::stm32h743(2 * 131072), 0);
    h.write(32, &[0; 32]).unwrap();
    assert_eq!(h.write(16, &[0; 32]), Err(SimError::NotAligned));
}

fn assert_multiwrite<F: MultiwriteNorFlash>(_: &F) {}
fn assert_async<F: embedded_storage_async::nor_flash::MultiwriteNorFlash>(_: &F) {}

#[test]
fn multiwrite_wrapper() {
    assert!(Multiwrite::new(l4()).is_err());
    let mut m = W25q128Multiwrite::new(w25()).unwrap();
    assert_multiwrite(&m);
    assert_async(&m);
    m.write(0, &[0xF0]).unwrap();
    m.write(0, &[0x10]).unwrap();
    m.cut_after_ops(0); // fault injection through Deref
    assert_eq!(m.write(1, &[0]), Err(SimError::PowerLost));
    assert_eq!(<W25q128Multiwrite as NorFlash>::ERASE_SIZE, 4096);
    assert_eq!(m.into_inner().image()[0], 0x10);
}

#[test]
fn mut_ref_is_nor_flash() {
    fn takes<F: NorFlash>(mut f: F) {
        f.write(0, &[0; 8])
            .unwrap_or_else(|e| panic!("{:?}", e.kind()));
    }
    let mut f = l4();
    takes(&mut f);
    assert!(f.is_programmed(0));
}

/// Minimal executor for the async impls (they never pend).
fn block_on<F: core::future::Future>(fut: F) -> F::Output {
    use std::task::{Context, Poll, Waker};
    let mut fut = std::pin::pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

#[test]
fn async_traits() {
    use embedded_storage_async::nor_flash::{NorFlash as AN, ReadNorFlash as AR};
    let mut f = l4();
    block_on(AN::erase(&mut f, 0, 2048)).unwrap();
    block_on(AN::write(&mut f, 8, &[7; 8])).unwrap();
    let mut b = [0u8; 8];
    block_on(AR::read(&mut f, 8, &mut b)).unwrap();
    assert_eq!(b, [7; 8]);
    assert_eq!(AR::capacity(&f), 8192);
    assert_eq!(
        block_on(AN::write(&mut f, 3, &[7; 8])),
        Err(SimError::NotAligned)
    );
}

#[test]
fn erase_cut_past_end_completes_but_reports_power_lost() {
    let mut f = l4();
    f.write(0, &[0; 16]).unwrap();
    f.cut_at_byte(0, usize::MAX);
    assert_eq!(f.erase(0, 4096), Err(SimError::PowerLost));
    assert!(f.image()[..4096].iter().all(|&b| b == 0xFF));
    assert!(!f.is_unstable(0) && !f.is_programmed(0));
    assert_eq!(f.wear(), &[1, 1, 0, 0]);
}

#[test]
fn random_erase_cut_stays_in_range() {
    for seed in 0..50 {
        let mut f = Stm32L476Flash::new(presets::stm32l476(4 * 2048), seed);
        f.write(0, &[0x11; 8192]).unwrap();
        f.cut_after_ops(0);
        assert_eq!(f.erase(2048, 6144), Err(SimError::PowerLost));
        assert!(!f.is_unstable(0) && !f.is_unstable(6144));
        assert!(f.is_unstable(2048) || f.is_unstable(4096));
        assert!(f.image()[..2048].iter().all(|&b| b == 0x11));
        assert!(f.image()[6144..].iter().all(|&b| b == 0x11));
    }
}

#[test]
fn worm_cut_and_power_off() {
    let mut f = WormFlash::new(presets::worm(4096), 0);
    f.cut_after_ops(0);
    assert_eq!(f.erase(0, 2048), Err(SimError::PowerLost));
    assert!(f.image().iter().all(|&b| b == 0xFF));
    f.power_restore();
    f.power_off();
    assert!(!f.is_powered() && f.was_cut()); // was_cut stays until the next arm/cancel
    assert_eq!(f.write(0, &[0; 8]), Err(SimError::PowerLost));
    f.power_restore();
    f.write(0, &[0; 8]).unwrap();
}

#[test]
fn partial_reads_of_unstable_words() {
    let mut f = l4();
    f.write(0, &[0; 8]).unwrap();
    f.cut_at_byte(0, 4);
    assert_eq!(f.write(8, &[0; 16]), Err(SimError::PowerLost));
    f.power_restore();
    // Byte reads straddling stable and unstable words stay in bounds and keep stable bytes exact.
    for _ in 0..50 {
        let v = read_vec(&mut f, 5, 7);
        assert_eq!(&v[..3], &[0; 3]);
    }
    let varied: std::collections::HashSet<Vec<u8>> =
        (0..50).map(|_| read_vec(&mut f, 9, 3)).collect();
    assert!(varied.len() > 1);
}

#[test]
fn read_only_regions_refuse_programs_and_erases_and_change_nothing() {
    let mut f = l4();
    NorFlash::write(&mut f, 2048, &[0u8; 8]).unwrap();
    f.set_read_only(2048..4096);
    let before = f.image().to_vec();
    assert_eq!(
        NorFlash::write(&mut f, 2048 + 8, &[0u8; 8]),
        Err(SimError::ReadOnlyRegion { addr: 2056 })
    );
    assert_eq!(
        NorFlash::erase(&mut f, 0, 4096),
        Err(SimError::ReadOnlyRegion { addr: 0 })
    );
    assert_eq!(f.image(), &before[..]);
    assert_eq!(read_vec(&mut f, 2048, 8), vec![0u8; 8]);
    // Outside the region everything works.
    NorFlash::erase(&mut f, 0, 2048).unwrap();
    NorFlash::write(&mut f, 4096, &[1u8; 8]).unwrap();
}
