#!/usr/bin/env bash
# firmware CI: build both board images, check they fit the chips and stay out of the FTL region,
# run the on-target tests under QEMU (exit code checked), print the code-size / RAM table.
#
# Assumes: rustup with the thumbv7em-none-eabihf target (added here if missing).
# Debian packages (installed below with apt-get if the command is missing):
#   qemu-system-arm   (qemu-system-arm)   QEMU mps2-an386 for the on-target tests
#   binutils          (readelf)           section / program-header / symbol tables of the ELFs
# Runs from anywhere; uses $CARGO_TARGET_DIR or firmware/target. ~3 min cold on 2 cores (measured 3 m 02 s with the crates already downloaded), ~1.1 min warm (the QEMU tests take ~60 s).
# Not --locked: cowftl (../ftl) may gain dependencies; Cargo.lock then updates in place.
set -euo pipefail
cd "$(dirname "$0")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

need_apt() { # command package
    if ! command -v "$1" >/dev/null; then
        [ -n "${APT_UPDATED:-}" ] || { apt-get update -qq; APT_UPDATED=1; }
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
    fi
}
need_apt qemu-system-arm qemu-system-arm
need_apt readelf binutils
rustup target list --installed 2>/dev/null | grep -qx thumbv7em-none-eabihf ||
    rustup target add thumbv7em-none-eabihf

T=thumbv7em-none-eabihf
IMG="$CARGO_TARGET_DIR/images"
mkdir -p "$IMG"
fail=0

hex() { echo $((16#${1#0x})); }

sym() { # elf name -> address (decimal)
    local a
    a=$(readelf -s -W "$1" | awk -v n="$2" '$8==n {print $2; exit}')
    [ -n "$a" ] || { echo "symbol $2 missing in $1" >&2; return 1; }
    hex "$a"
}

# check_image ELF CHIP FLASH_SIZE RAM_SIZE   (flash at 0x08000000, RAM at 0x20000000; datasheet)
check_image() {
    local elf=$1 chip=$2 flash_size=$3 ram_size=$4
    local flash0=$((0x08000000)) ram0=$((0x20000000))
    local ftl0 ftl1 ok=1
    ftl0=$(sym "$elf" _ftl_region_start)
    ftl1=$(sym "$elf" _ftl_region_end)
    printf '%s: FTL region 0x%08x..0x%08x (%d KiB)\n' "$chip" "$ftl0" "$ftl1" $(((ftl1 - ftl0) / 1024))
    if ((ftl0 < flash0 || ftl1 > flash0 + flash_size || ftl0 >= ftl1)); then
        echo "  FAIL: FTL region not inside the ${chip}'s $((flash_size / 1024)) KiB flash"; ok=0
    fi
    # Everything stored in flash: the file contents of each LOAD segment at its physical (load)
    # address. Must lie in the chip's flash and must not touch the FTL region.
    local flash_end=$flash0 type off vaddr paddr filesz memsz rest
    while read -r type off vaddr paddr filesz memsz rest; do
        [ "$type" = LOAD ] || continue
        paddr=$(hex "$paddr"); filesz=$(hex "$filesz")
        ((filesz > 0)) || continue
        if ((paddr < flash0 || paddr + filesz > flash0 + flash_size)); then
            printf '  FAIL: load segment 0x%08x+%d outside flash\n' "$paddr" "$filesz"; ok=0
        fi
        if ((paddr < ftl1 && paddr + filesz > ftl0)); then
            printf '  FAIL: load segment 0x%08x+%d overlaps the FTL region\n' "$paddr" "$filesz"; ok=0
        fi
        ((paddr + filesz > flash_end)) && flash_end=$((paddr + filesz))
    done < <(readelf -l -W "$elf" | awk '$1=="LOAD"')
    # RAM: every allocated section whose address is in SRAM must end inside it.
    local ram_end=$ram0 name addr size
    while read -r name addr size; do
        addr=$(hex "$addr"); size=$(hex "$size")
        if ((addr >= ram0 && addr < ram0 + 0x10000000)); then
            if ((addr + size > ram0 + ram_size)); then
                printf '  FAIL: section %s 0x%08x+%d beyond %d KiB RAM\n' "$name" "$addr" "$size" $((ram_size / 1024)); ok=0
            fi
            ((addr + size > ram_end)) && ram_end=$((addr + size))
        fi
    done < <(readelf -S -W "$elf" | sed 's/^ *\[ *[0-9]*\] *//' | awk '$1 ~ /^\./ && $7 ~ /A/ {print $1, $3, $5}')
    printf '  flash used %d B of %d KiB (%d B below the FTL region); static RAM %d B of %d KiB\n' \
        $((flash_end - flash0)) $((flash_size / 1024)) $((ftl0 - flash_end)) $((ram_end - ram0)) $((ram_size / 1024))
    if ((ok)); then echo "  ok: fits the chip, no overlap with the FTL region"; else fail=1; fi
}

echo "== build board images (release)"
cargo build --release --bin cowftl-fw
cp "$CARGO_TARGET_DIR/$T/release/cowftl-fw" "$IMG/cowftl-fw-stm32l476rg.elf"
cargo build --release --no-default-features --features stm32f411ce --bin cowftl-fw
cp "$CARGO_TARGET_DIR/$T/release/cowftl-fw" "$IMG/cowftl-fw-stm32f411ce.elf"

echo "== check images against the datasheets"
check_image "$IMG/cowftl-fw-stm32l476rg.elf" STM32L476RG $((1024 * 1024)) $((96 * 1024))
check_image "$IMG/cowftl-fw-stm32f411ce.elf" STM32F411CE $((512 * 1024)) $((128 * 1024))

echo "== QEMU on-target tests (mps2-an386; RAM NorFlash: L476 geometry with 8-byte ECC words, F411 3-sector geometry with 4-byte words)"
cargo build --release --no-default-features --features qemu --bin qemu-tests
set +e
timeout 300 qemu-system-arm -cpu cortex-m4 -machine mps2-an386 -nographic \
    -semihosting-config enable=on,target=native \
    -kernel "$CARGO_TARGET_DIR/$T/release/qemu-tests"
rc=$?
set -e
echo "qemu-tests exit code: $rc"
((rc == 0)) || fail=1

echo "== QEMU: the async API (cowftl::asynch over the RAM flash's async NorFlash impl, on embassy's executor)"
cargo build --release --no-default-features --features qemu --bin qemu-async
set +e
timeout 120 qemu-system-arm -cpu cortex-m4 -machine mps2-an386 -nographic \
    -semihosting-config enable=on,target=native \
    -kernel "$CARGO_TARGET_DIR/$T/release/qemu-async"
rc=$?
set -e
echo "qemu-async exit code: $rc"
((rc == 0)) || fail=1

echo "== code size and RAM"
./size.sh

if ((fail)); then
    echo "firmware CI: FAILED"
    exit 1
fi
echo "firmware CI: ok"
