//! The async API on target: `cowftl::asynch::Ftl` over the RAM flash's async `NorFlash` impl
//! (QEMU mps2-an386; no flash controller is emulated), run as a task of embassy's executor
//! (`embassy-executor`, thread mode, no timers), as an embassy application would.
//! Format, write, a transaction, a snapshot and rollback, a power cut in the middle of a write,
//! remount with the async and then the blocking API, and check what every block reads. Exit
//! code 0 on success; output via semihosting. Run by `ci.sh`.
#![no_std]
#![no_main]

use core::panic::PanicInfo;
use cortex_m as _; // critical-section implementation
use cortex_m_semihosting::{debug, hprintln};
use cowftl::{asynch, Config, Ftl};
use cowftl_firmware::ramflash::RamFlash;
use cowftl_testkit::fill_pattern;

static mut DATA: [u8; 64 * 1024] = [0; 64 * 1024];
static mut PROG: [u32; 64 * 1024 / 8 / 32] = [0; 64 * 1024 / 8 / 32];
static mut WEAR: [u32; 32] = [0; 32];

const BS: usize = 512;

fn check(ok: bool, what: &str) {
    if !ok {
        hprintln!("FAIL: {}", what);
        debug::exit(debug::EXIT_FAILURE);
    }
}

async fn run(
    flash: &mut RamFlash<'static, 8, 2048>,
) -> Result<(), cowftl::Error<cowftl_firmware::ramflash::RamFlashError>> {
    let cfg = Config::new(0, 64 * 1024);
    let mut a = [0u8; BS];
    let mut b = [0u8; BS];
    let mut ftl: asynch::Ftl<_, 32, 128, 1> = asynch::Ftl::format(&mut *flash, cfg).await?;
    let n = ftl.block_count();
    hprintln!("async: formatted, {} blocks of {} B", n, ftl.block_size());
    // Half the volume, six times over (GC runs); a snapshot needs room for what it holds.
    for round in 1..=6u64 {
        for l in 0..n / 2 {
            fill_pattern(l, round, &mut a);
            ftl.write(l, &a).await?;
        }
    }
    fill_pattern(0, 7, &mut a);
    fill_pattern(1, 7, &mut b);
    let mut tx = ftl.transaction();
    tx.write(0, &a)?;
    tx.write(1, &b)?;
    tx.trim(2)?;
    tx.commit().await?;
    let snap = ftl.snapshot().await?;
    fill_pattern(3, 8, &mut a);
    ftl.write(3, &a).await?;
    ftl.rollback(snap).await?;
    ftl.delete_snapshot(snap).await?;
    let s = ftl.stats();
    hprintln!(
        "async: {} writes, {} GC victims, wear max {}",
        s.counters.host_writes,
        s.counters.gc_victims,
        s.wear.max
    );
    drop(ftl);
    // A power cut inside a write: the block reads old or new, never a mix.
    flash.cut_after(5);
    {
        let mut ftl: asynch::Ftl<_, 32, 128, 1> = asynch::Ftl::mount(&mut *flash, cfg).await?;
        fill_pattern(4, 9, &mut a);
        check(ftl.write(4, &a).await.is_err(), "the cut write failed");
    }
    flash.power_on();
    let mut ftl: asynch::Ftl<_, 32, 128, 1> = asynch::Ftl::mount(&mut *flash, cfg).await?;
    let expect = |l: u32| match l {
        0 | 1 => 7,
        2 => 0,
        l if l >= n / 2 => 0,
        _ => 6,
    };
    for l in 0..n {
        ftl.read(l, &mut a).await?;
        fill_pattern(l, expect(l), &mut b);
        let cut_ok = l == 4 && {
            fill_pattern(4, 9, &mut b);
            a == b
        };
        fill_pattern(l, expect(l), &mut b);
        check(a == b || cut_ok, "a block after the cut and remount");
    }
    ftl.check_invariants().map_err(|_| cowftl::Error::Corrupt)?;
    drop(ftl);
    // The blocking API mounts what the async one wrote.
    let mut ftl: Ftl<_, 32, 128, 1> = Ftl::mount(&mut *flash, cfg)?;
    ftl.read(0, &mut a)?;
    fill_pattern(0, 7, &mut b);
    check(a == b, "block 0 through the blocking API");
    hprintln!("async: cut, remount and blocking mount ok");
    Ok(())
}

#[embassy_executor::main]
async fn main(_spawner: embassy_executor::Spawner) {
    // SAFETY: the only references to these buffers.
    let mut flash: RamFlash<'static, 8, 2048> = unsafe {
        RamFlash::new(
            &mut *core::ptr::addr_of_mut!(DATA),
            &mut *core::ptr::addr_of_mut!(PROG),
            &mut *core::ptr::addr_of_mut!(WEAR),
        )
    };
    match run(&mut flash).await {
        Ok(()) => {
            hprintln!("qemu-async: ok");
            debug::exit(debug::EXIT_SUCCESS);
        }
        Err(e) => {
            hprintln!("qemu-async: FAIL {:?}", e);
            debug::exit(debug::EXIT_FAILURE);
        }
    }
    loop {
        cortex_m::asm::wfi();
    }
}

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    hprintln!("PANIC: {}", info);
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}
