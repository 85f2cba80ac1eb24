#!/usr/bin/env bash
# Code size the cowftl core adds to a minimal Cortex-M4 binary (thumbv7em-none-eabihf,
# opt-level "z", fat LTO, codegen-units 1, panic = abort: the `size` profile in Cargo.toml).
#
#   size-base: cortex-m-rt + the RAM NorFlash doing erase/program/read directly
#   size-ftl : the same + cowftl format/mount/write/read/trim over that flash
#
# The difference in .text (and .rodata: CRC table, constants) is the FTL. Also prints the RAM
# the FTL state takes (size_of, from the QEMU test binary) if qemu-system-arm is installed.
#
# Usage: firmware/size.sh            (from anywhere; uses $CARGO_TARGET_DIR or firmware/target)
# Needs: rustup target thumbv7em-none-eabihf; one of llvm-size, arm-none-eabi-size, readelf.
set -euo pipefail
cd "$(dirname "$0")"
TD="${CARGO_TARGET_DIR:-$PWD/target}"
export CARGO_TARGET_DIR="$TD"

cargo build -q --profile size --no-default-features --features size --bin size-base --bin size-ftl
OUT="$TD/thumbv7em-none-eabihf/size"

# section_size ELF SECTION -> bytes (0 if absent)
section_size() {
    local elf=$1 sec=$2
    if command -v llvm-size >/dev/null; then
        llvm-size -A "$elf" | awk -v s="$sec" '$1==s {print $2; f=1} END {if (!f) print 0}'
    elif command -v arm-none-eabi-size >/dev/null; then
        arm-none-eabi-size -A "$elf" | awk -v s="$sec" '$1==s {print $2; f=1} END {if (!f) print 0}'
    else
        # readelf -S -W: [Nr] Name Type Addr Off Size ...
        readelf -S -W "$elf" | sed 's/\[ */[/' | awk -v s="$sec" '$2==s {print strtonum("0x"$6); f=1} END {if (!f) print 0}'
    fi
}

printf '%-10s %8s %8s %8s\n' "binary" ".text" ".rodata" "flash"
declare -A T R
for b in size-base size-ftl; do
    t=$(section_size "$OUT/$b" .text)
    r=$(section_size "$OUT/$b" .rodata)
    v=$(section_size "$OUT/$b" .vector_table)
    d=$(section_size "$OUT/$b" .data)
    T[$b]=$t
    R[$b]=$r
    printf '%-10s %8d %8d %8d\n' "$b" "$t" "$r" $((t + r + v + d))
done
dt=$((T[size-ftl] - T[size-base]))
dr=$((R[size-ftl] - R[size-base]))
printf '%-10s %8d %8d %8d\n' "FTL adds" "$dt" "$dr" $((dt + dr))
echo "cowftl core: .text +$dt B, .rodata +$dr B (opt-level z, LTO, thumbv7em-none-eabihf)"

if command -v qemu-system-arm >/dev/null; then
    cargo build -q --release --no-default-features --features qemu --bin qemu-tests
    timeout 120 qemu-system-arm -cpu cortex-m4 -machine mps2-an386 -nographic \
        -semihosting-config enable=on,target=native \
        -kernel "$TD/thumbv7em-none-eabihf/release/qemu-tests" | grep '^RAM:' || true
fi
