#!/usr/bin/env bash
# Joins the parts of a clip upscaled by zsm-upscale-part.sh (a Slurm job array or a Kubernetes
# Indexed Job), in order: part-00000.y4m carries the Y4M stream header and the others only
# FRAME records, so their concatenation is byte for byte the output of one whole run.
#
#   Deploy/zsm-join-parts.sh PARTS_DIR OUTPUT [PARTS]
#
# PARTS (the array's size) makes a missing part an error; without it the parts must still be
# numbered 0, 1, 2, ... without a gap. OUTPUT is written to a temporary name beside it and
# renamed when complete. An OUTPUT that is not .y4m (out.mp4, out.mkv, ...) is encoded by
# ffmpeg from the joined stream: -c:v libx264 -crf 18 -pix_fmt yuv420p unless
# ZSM_ENCODER_ARGS says otherwise (split at spaces), with the audio of ZSM_AUDIO_FROM when set
# (the original clip; leave it unset for --slowmo parts, whose picture is twice as long).
set -euo pipefail

fail() {
  echo "zsm-join-parts: $*" >&2
  exit 2
}

[ $# -ge 2 ] && [ $# -le 3 ] || fail "usage: zsm-join-parts.sh PARTS_DIR OUTPUT [PARTS]"
dir=$1
output=$2
expected=${3:-}
[ -d "$dir" ] || fail "$dir is not a directory"

parts=()
while [ -e "$(printf '%s/part-%05d.y4m' "$dir" "${#parts[@]}")" ]; do
  parts+=("$(printf '%s/part-%05d.y4m' "$dir" "${#parts[@]}")")
done
[ ${#parts[@]} -gt 0 ] || fail "no $dir/part-00000.y4m"
if [ -n "$expected" ] && [ "${#parts[@]}" -ne "$expected" ]; then
  fail "$expected parts expected, found part-00000 ... part-$(printf '%05d' $((${#parts[@]} - 1))) in $dir (did a task fail?)"
fi
shopt -s nullglob
all=("$dir"/part-*.y4m)
[ ${#all[@]} -eq ${#parts[@]} ] || fail "$dir has ${#all[@]} part files but only part-00000 ... part-$(printf '%05d' $((${#parts[@]} - 1))) follow each other: a part is missing"

# The first part starts the stream, the others continue it.
[ "$(head -c 10 "${parts[0]}")" = "YUV4MPEG2 " ] || fail "${parts[0]} does not start with a Y4M header"
for part in "${parts[@]:1}"; do
  [ "$(head -c 5 "$part")" = "FRAME" ] || fail "$part does not start with a FRAME record (was it made with --frames A:B, A > 0?)"
done

name=${output##*/}
directory=$(dirname -- "$output")
temporary="$directory/.$name.join-$$.tmp.${name##*.}"
trap 'rm -f -- "$temporary"' EXIT
case ${name##*.} in
  y4m | Y4M)
    cat -- "${parts[@]}" > "$temporary"
    ;;
  *)
    command -v ffmpeg > /dev/null || fail "encoding $output needs ffmpeg: install the ffmpeg package (Debian/Ubuntu: sudo apt-get install ffmpeg)"
    audio=()
    [ -n "${ZSM_AUDIO_FROM:-}" ] && audio=(-i "file:$ZSM_AUDIO_FROM" -map 0:v:0 -map '1:a?')
    # shellcheck disable=SC2206 # split at spaces on purpose
    encoder=(${ZSM_ENCODER_ARGS:--c:v libx264 -crf 18 -pix_fmt yuv420p})
    cat -- "${parts[@]}" | ffmpeg -nostdin -hide_banner -v error -f yuv4mpegpipe -i pipe:0 "${audio[@]}" \
      "${encoder[@]}" -y "file:$temporary"
    ;;
esac
mv -f -- "$temporary" "$output"
trap - EXIT
echo "zsm-join-parts: ${#parts[@]} parts -> $output" >&2
