#!/usr/bin/env bash
# Flash cost of fleetward-proto's core (no features) on a Cortex-M4F (thumbv7em-none-eabihf).
#
# Builds the firmware images of embedded/size-probe (opt-level "z", LTO, one codegen unit,
# panic = abort) and prints, for each image, its flash use and the difference to `baseline`,
# which holds the same runtime, panic handler and input data but calls no library code. Then it
# lists, per image, the symbols that are not in the baseline, grouped by crate and largest first.
#
# Usage: scripts/size.sh [--top N]
#   --top N        symbols listed per image (default 25)
# Needs: rustup, cargo, readelf (binutils) and nm (binutils, for Rust demangling).
set -euo pipefail

TARGET=thumbv7em-none-eabihf
BINS=(baseline topics topic_build topic_parse topics_str topic_build_str
      encoder_json encoder_cbor encoder_both
      answer_decode answer_decode_json answer_decode_cbor)
TOP=25
while [ $# -gt 0 ]; do
    case $1 in
        --top) TOP=$2; shift 2 ;;
        *) echo "usage: $0 [--top N]" >&2; exit 2 ;;
    esac
done

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
probe=$root/embedded/size-probe

if ! rustup target add "$TARGET"; then
    echo "size.sh: could not install the Rust target $TARGET (rustup target add failed);"
    echo "size.sh: skipping the Cortex-M size measurement."
    exit 0
fi
for tool in readelf nm; do
    if ! command -v "$tool" >/dev/null; then
        echo "size.sh: '$tool' (binutils) is not installed; skipping the size measurement."
        exit 0
    fi
done

echo "== toolchain"
# The probe's own directory decides the toolchain and reads .cargo/config.toml (the target and
# the linker script), so everything runs from there.
(cd "$probe" && rustc --version && cargo --version)
if git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
    echo "commit: $(git -C "$root" rev-parse --short HEAD)"
    dirty=$(git -C "$root" status --porcelain -- crates/proto)
    if [ -n "$dirty" ]; then
        diff_sum=$(git -C "$root" diff HEAD -- crates/proto | sha256sum | cut -c1-16)
        echo "crates/proto has uncommitted changes, measured as they are in the work tree"
        echo "(sha256 of 'git diff HEAD -- crates/proto': $diff_sum):"
        echo "$dirty"
    fi
fi

echo "== build"
(cd "$probe" && cargo build --release --locked --bins)
out=$probe/target/$TARGET/release

# Size in bytes of section $2 of ELF $1 (0 if absent), from `readelf -S --wide`.
section_size() {
    local hex
    hex=$(readelf -S --wide "$1" \
        | sed -n 's/^ *\[ *[0-9]*\] //p' \
        | while read -r name _type _addr _off size _rest; do
            if [ "$name" = "$2" ]; then echo "$size"; fi
        done)
    echo $((16#${hex:-0}))
}

# Demangled symbols of an image with their sizes: "SIZE<TAB>NAME", data and code alike.
symbols() {
    nm -C -S --size-sort -t d "$1" \
        | awk '{ s = $2 + 0; $1 = $2 = $3 = ""; sub(/^ +/, ""); print s "\t" $0 }'
}

# Bytes of the compiler_builtins memory routines (memcpy, memmove, memset, memcmp and their
# __aeabi_ entry points) in an image: any real firmware links these anyway.
mem_routines() {
    symbols "$1" | awk -F'\t' '
        $2 ~ /^(compiler_builtins::mem::|__aeabi_mem|(mem(cpy|move|set|cmp)|bcmp)$)/ { s += $1 }
        END { print s + 0 }'
}

declare -A flash text rodata mem
for b in "${BINS[@]}"; do
    f=$out/$b
    vt=$(section_size "$f" .vector_table)
    text[$b]=$(section_size "$f" .text)
    rodata[$b]=$(section_size "$f" .rodata)
    data=$(section_size "$f" .data) # initial values of statics are stored in flash too
    flash[$b]=$((vt + text[$b] + rodata[$b] + data))
    mem[$b]=$(mem_routines "$f")
done

echo
echo "== flash use (.vector_table + .text + .rodata + .data), bytes"
echo "   delta: minus baseline; 'without mem*': also minus the memcpy/memmove/memset/memcmp"
echo "   routines the image adds (compiler_builtins), which a real firmware links anyway"
printf '| %-24s | %6s | %7s | %6s | %20s | %12s |\n' \
    binary .text .rodata flash "delta vs baseline" "without mem*"
echo '|:-------------------------|-------:|--------:|-------:|---------------------:|-------------:|'
for b in "${BINS[@]}"; do
    d=$((flash[$b] - flash[baseline]))
    dm=$((d - (mem[$b] - mem[baseline])))
    printf '| %-24s | %6d | %7d | %6d | %8d (%5.2f KiB) | %12d |\n' \
        "$b" "${text[$b]}" "${rodata[$b]}" "${flash[$b]}" "$d" \
        "$(awk -v d="$d" 'BEGIN { print d / 1024 }')" "$dm"
done

# The crate a demangled symbol belongs to: the type's crate for `<T as Trait>::f`, the trait's
# when T is a primitive or a type parameter; compiler builtins by name. With LTO much library
# code is inlined into the image's main, which is listed on its own.
crate_of() {
    awk -F'\t' -v bin="$1" '{
        n = $2
        if (n ~ /^(__aeabi_|compiler_builtins::|__u?div|__mul|__ashl|__lshr)/ ||
            n ~ /^(mem(cpy|move|set|cmp)|bcmp)$/) c = "compiler_builtins"
        else if (n ~ /^\.L/) c = "(anonymous constants)"
        else if (n ~ "^" bin "::__cortex_m_rt_main") c = "main (library code inlined into it)"
        else if (n ~ "^<?" bin "::") c = "(code copied into the probe)"
        else if (n ~ /^OUTLINED_FUNCTION_/) c = "(machine outliner)"
        else {
            m = n; sub(/^<+/, "", m); sub(/^&(mut )?/, "", m); sub(/^mut /, "", m)
            if (m ~ /^[A-Za-z_][A-Za-z0-9_]*::/) { c = m; sub(/::.*/, "", c) }
            else if (match(n, / as [&]?(mut )?[A-Za-z_][A-Za-z0-9_]*::/)) {
                c = substr(n, RSTART + 4, RLENGTH - 6); sub(/^&(mut )?/, "", c)
            } else c = "(other)"
        }
        print $1 "\t" c "\t" n
    }'
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
symbols "$out/baseline" | cut -f2 | sort -u >"$tmp/baseline"
for b in "${BINS[@]}"; do
    [ "$b" = baseline ] && continue
    echo
    echo "== $b: symbols not in baseline, bytes"
    symbols "$out/$b" | awk -F'\t' 'NR == FNR { base[$0] = 1; next } !($2 in base)' \
        "$tmp/baseline" - | crate_of "$b" >"$tmp/$b"
    echo "-- by crate"
    awk -F'\t' '{ sum[$2] += $1 } END { for (c in sum) printf "%8d  %s\n", sum[c], c }' \
        "$tmp/$b" | sort -rn
    echo "-- largest $TOP symbols"
    # awk, not head: head closing the pipe early would fail the script under pipefail.
    sort -t$'\t' -k1,1rn "$tmp/$b" \
        | awk -F'\t' -v top="$TOP" 'NR <= top { printf "%8d  %-22s %s\n", $1, $2, $3 }'
done
