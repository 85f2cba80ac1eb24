#!/usr/bin/env bash
# Where the FTL's .text goes: sums the sizes of the function symbols in .text of the size-ftl
# and size-base ELFs (built by size.sh), grouped by origin, and prints a Markdown table.
#
#   cowftl::<module>   every function whose demangled name contains `cowftl::<module>` (methods
#                      and closures included: `cowftl::log::Log<F,_,_>::append`,
#                      `<cowftl::map::Mapping as PartialEq>::eq`, `cowftl::scan::...::{{closure}}`)
#   crc crate          the CRC-32C code (its 1 KiB table is in .rodata)
#   core (generic)     core/iterator code instantiated for the FTL's types (legacy mangling
#                      drops the type parameters, so these cannot be attributed to a module)
#   compiler-builtins  memcpy/memset/memclr/memcmp, 64-bit division
#   main               the binary's `main`: the FTL's public calls (format/mount/write/read/trim)
#                      inlined into it in size-ftl, the raw flash calls in size-base
#   outlined           OUTLINED_FUNCTION_n: instruction sequences LLVM's machine outliner (on at
#                      opt-level "z") moved out of several functions, nearly all FTL code
#   RamFlash           the test NorFlash (firmware/src/ramflash.rs): not FTL code
#   runtime            cortex-m-rt (Reset, exception handlers), anything else
#   padding            .text bytes not covered by a function symbol (alignment, literal pools
#                      between functions)
#
# The size profile uses fat LTO and opt-level "z": LLVM inlines small or single-caller functions
# into their callers, so a module's figure is the code of the functions that survived under its
# name, including whatever was inlined into them from other modules (and code of a module
# inlined elsewhere counts there). It is exact for the binary, approximate for the source split.
#
# Usage: size-breakdown.sh SIZE_FTL_ELF SIZE_BASE_ELF      Needs: readelf (binutils) with -C.
set -euo pipefail
ftl=$1
base=$2

# funcs ELF -> "group<TAB>size" for each function symbol in .text (one per address)
funcs() {
    local elf=$1 ndx
    ndx=$(readelf -S -W "$elf" | sed -n 's/^ *\[ *\([0-9]*\)\] \.text .*/\1/p')
    [ -n "$ndx" ] || { echo "no .text in $elf" >&2; return 1; }
    readelf -s -W -C "$elf" | awk -v ndx="$ndx" '
        function num(s,   i, c, v) {          # decimal or 0x-hex (readelf prints big sizes in hex)
            if (s !~ /^0x/) return s + 0
            v = 0
            for (i = 3; i <= length(s); i++) {
                c = index("0123456789abcdef", tolower(substr(s, i, 1))) - 1
                v = v * 16 + c
            }
            return v
        }
        $4 == "FUNC" && $7 == ndx {
            name = $0
            sub(/^ *[0-9]+: +[0-9a-fA-F]+ +[0-9a-fx]+ +[A-Z]+ +[A-Z]+ +[A-Z]+ +[0-9]+ +/, "", name)
            size = num($3)
            # aliases (e.g. DefaultHandler = DefaultHandler_): count each address once, biggest
            if (($2 in sz) && sz[$2] >= size) next
            if (match(name, /cowftl::[a-z_0-9]+/)) g = substr(name, RSTART, RLENGTH)
            else if (name ~ /^<?crc::/) g = "crc crate"
            else if (name ~ /cowftl_firmware::ramflash/) g = "RamFlash (test NorFlash)"
            else if (name ~ /^size_(ftl|base)::/) g = "main"
            else if (name ~ /compiler_builtins|^__aeabi|^__udiv|^__div|^__mod|^mem(cpy|set|cmp|move)$/) g = "compiler-builtins"
            else if (name ~ /^<?core::/) g = "core (generic)"
            else if (name ~ /^OUTLINED_FUNCTION_/) g = "outlined"
            else g = "runtime"
            sz[$2] = size
            grp[$2] = g
        }
        END { for (a in sz) printf "%s\t%d\n", grp[a], sz[a] }'
}

text_size() { # ELF -> .text size in bytes
    local hex
    hex=$(readelf -S -W "$1" | sed -n 's/^ *\[ *[0-9]*\] \.text  *[A-Z]*  *[0-9a-f]*  *[0-9a-f]*  *\([0-9a-f]*\) .*/\1/p')
    echo $((16#$hex))
}

declare -A F B
while IFS=$'\t' read -r g s; do F[$g]=$((${F[$g]:-0} + s)); done < <(funcs "$ftl")
while IFS=$'\t' read -r g s; do B[$g]=$((${B[$g]:-0} + s)); done < <(funcs "$base")
tf=$(text_size "$ftl")
tb=$(text_size "$base")
sf=0; sb=0
for g in "${!F[@]}"; do sf=$((sf + F[$g])); done
for g in "${!B[@]}"; do sb=$((sb + B[$g])); done
F[padding]=$((tf - sf))
B[padding]=$((tb - sb))

row() { # group
    local f=${F[$1]:-0} b=${B[$1]:-0}
    printf '| %s | %d | %d | %+d |\n' "$1" "$f" "$b" $((f - b))
}
echo "| .text by origin | size-ftl | size-base | FTL adds |"
echo "|---|---:|---:|---:|"
# cowftl modules, biggest first; then the rest in a fixed order
for g in $(for k in "${!F[@]}"; do [[ $k == cowftl::* ]] && printf '%s %s\n' "${F[$k]}" "$k"; done | sort -rn | cut -d' ' -f2); do
    row "$g"
done
cf=0
for g in "${!F[@]}"; do [[ $g == cowftl::* ]] && cf=$((cf + F[$g])); done
for g in "crc crate" "core (generic)" "outlined" "main" "compiler-builtins" "RamFlash (test NorFlash)" "runtime" "padding"; do
    [ -n "${F[$g]:-}${B[$g]:-}" ] && row "$g"
done
printf '| **total .text** | **%d** | **%d** | **%+d** |\n' "$tf" "$tb" $((tf - tb))
echo
echo "Functions named after a cowftl module: $cf B of size-ftl's .text; with the CRC code," \
    "the FTL's generic core code and its public calls inlined into main, the FTL adds $((tf - tb)) B."
