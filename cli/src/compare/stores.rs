//! The stores under test, each configured the way its own users would set it up, and the code
//! that runs one sweep point on each. Every store gets its own freshly erased simulated chip.

use cowftl::{Config, Ftl};
use cowftl_testkit::Part;

use super::flash::Shared;
use super::sweep::{drive, Plan, Point};
use super::RECORD;

/// The stores `compare` knows, in the order they are reported.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Store {
    Cowftl,
    #[cfg(feature = "peers")]
    SequentialStorage,
    #[cfg(feature = "peers")]
    Littlefs,
}

impl Store {
    /// The stores this build can run (peers only with the `peers` feature).
    pub fn all() -> Vec<Store> {
        #[cfg_attr(not(feature = "peers"), allow(unused_mut))]
        let mut v = vec![Store::Cowftl];
        #[cfg(feature = "peers")]
        v.extend([Store::SequentialStorage, Store::Littlefs]);
        v
    }

    pub fn name(self) -> &'static str {
        match self {
            Store::Cowftl => "cowftl",
            #[cfg(feature = "peers")]
            Store::SequentialStorage => "sequential-storage 8.0.2",
            #[cfg(feature = "peers")]
            Store::Littlefs => "littlefs2 0.8.1",
        }
    }

    /// The configuration used, and why its users would pick it.
    pub fn config(self) -> &'static str {
        match self {
            Store::Cowftl => {
                "Config::new(0, region): 512 B blocks, unit size, reserve and transaction slack \
                 left to the FTL's defaults (what the README's quick start does); record n is \
                 block n, written with Ftl::write"
            }
            #[cfg(feature = "peers")]
            Store::SequentialStorage => super::peers::SEQ_CONFIG,
            #[cfg(feature = "peers")]
            Store::Littlefs => super::peers::LFS_CONFIG,
        }
    }

    /// Run one point of the sweep on a fresh chip of `part`.
    pub fn point(self, part: Part, region: usize, plan: &Plan) -> Result<Point, String> {
        macro_rules! on {
            ($ty:ty) => {{
                let flash = Shared::new(<$ty>::new(part.spec(region), plan.seed));
                match self {
                    Store::Cowftl => cowftl_point(flash, region, plan),
                    #[cfg(feature = "peers")]
                    Store::SequentialStorage => super::peers::seqstor_point(flash, region, plan),
                    #[cfg(feature = "peers")]
                    Store::Littlefs => super::peers::littlefs_point(flash, region, plan),
                }
            }};
        }
        match part {
            Part::Stm32l476 => on!(cowftl_sim::Stm32L476Flash),
            Part::W25q128 => on!(cowftl_sim::W25q128Flash),
            p => Err(format!("part {} is not simulated by compare", p.name())),
        }
    }
}

/// Host-side capacities for a region of at most 256 KiB (512 blocks of 512 B; units are at
/// least one 2 KiB page).
type CompareFtl<const R: usize, const W: usize, const E: usize> = Ftl<Shared<R, W, E>, 256, 1024>;

fn cowftl_point<const R: usize, const W: usize, const E: usize>(
    flash: Shared<R, W, E>,
    region: usize,
    plan: &Plan,
) -> Result<Point, String> {
    let probe = flash.clone();
    let mut ftl = CompareFtl::format(flash, Config::new(0, region as u32))
        .map_err(|e| format!("format: {e:?}"))?;
    if ftl.geometry().block_size as usize != RECORD {
        return Err("the default block size is no longer 512 B".into());
    }
    drive(
        plan,
        region,
        |rec, data| ftl.write(rec, data).map_err(|e| format!("{e:?}")),
        || probe.snap(),
    )
}
