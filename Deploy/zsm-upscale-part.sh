#!/usr/bin/env bash
# One part of `zsm upscale` spread over a job array: the Slurm job-array script, and what each
# pod of the Kubernetes Indexed Job runs (Deploy/kubernetes/zsm-upscale-job.yaml).
#
# Part i of P gets input frames [A, B) of the clip's F frames, the F frames dealt out as evenly
# as possible (the first F mod P parts get one more); the last part runs to the end of the clip
# (--frames A:), so a clip longer than ZSM_FRAMES says still gets all its outputs. zsm computes
# exactly the windows a whole run would, and only part 0 carries the Y4M header, so the parts
# joined in order (zsm-join-parts.sh) are byte for byte one whole run. Each part is written to
# a temporary name and renamed when complete: a part file exists only when its task succeeded.
#
# The index and the count come from the engine:
#   Slurm:       SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN of SLURM_ARRAY_TASK_COUNT
#   Kubernetes:  JOB_COMPLETION_INDEX of ZSM_PARTS (set it to the Job's completions)
#
# Environment (the same for every task):
#   ZSM_INPUT        the clip (Y4M, or any video file ffmpeg reads), on storage every task sees
#   ZSM_FRAMES       its number of frames (ffprobe -v error -count_frames -select_streams v:0
#                    -show_entries stream=nb_read_frames -of csv=p=0 CLIP)
#   ZSM_PARTS_DIR    where part-00000.y4m, part-00001.y4m, ... go (created if missing)
#   ZSM_MODEL        checkpoint (optional; default: the shipped ZSM-Lite)
#   ZSM_THREADS      worker threads (optional; default SLURM_CPUS_PER_TASK, else zsm's default)
#   ZSM_ARGS         more zsm upscale options, split at spaces (optional, e.g. "--window 3")
#   ZSM              the zsm binary (optional; default: zsm on the PATH)
#
# Slurm (the array's size is the number of parts; join once every task succeeded):
#   export ZSM_INPUT=$PWD/clip.mp4 ZSM_FRAMES=3000 ZSM_PARTS_DIR=$PWD/parts
#   job=$(sbatch --parsable --array=0-7 Deploy/zsm-upscale-part.sh)
#   sbatch --dependency=afterok:$job --wrap "Deploy/zsm-join-parts.sh $PWD/parts $PWD/upscaled.y4m 8"
#
#SBATCH --job-name=zsm-upscale
#SBATCH --array=0-3
#SBATCH --cpus-per-task=4
#SBATCH --mem=2G
#SBATCH --output=zsm-upscale-%A_%a.log
set -euo pipefail

fail() {
  echo "zsm-upscale-part: $*" >&2
  exit 2
}

if [ -n "${SLURM_ARRAY_TASK_ID:-}" ]; then
  count=${SLURM_ARRAY_TASK_COUNT:?SLURM_ARRAY_TASK_COUNT is not set (Slurm sets it for array tasks)}
  index=$((SLURM_ARRAY_TASK_ID - ${SLURM_ARRAY_TASK_MIN:-0}))
  threads=${ZSM_THREADS:-${SLURM_CPUS_PER_TASK:-}}
elif [ -n "${JOB_COMPLETION_INDEX:-}" ]; then
  count=${ZSM_PARTS:?set ZSM_PARTS to the completions of the Indexed Job}
  index=$JOB_COMPLETION_INDEX
  threads=${ZSM_THREADS:-}
else
  fail "no task index: run as a Slurm array task (SLURM_ARRAY_TASK_ID) or a Kubernetes Indexed Job pod (JOB_COMPLETION_INDEX)"
fi
input=${ZSM_INPUT:?set ZSM_INPUT to the clip}
frames=${ZSM_FRAMES:?set ZSM_FRAMES to the number of frames of the clip}
parts_dir=${ZSM_PARTS_DIR:?set ZSM_PARTS_DIR to the directory of the parts}
number='^[0-9]+$'
[[ $count =~ $number && $count -ge 1 ]] || fail "the number of parts must be a positive integer, got '$count'"
[[ $index =~ $number && $index -lt $count ]] || fail "part index '$index' is not in 0...$((count - 1))"
[[ $frames =~ $number && $frames -ge 2 ]] || fail "ZSM_FRAMES must be an integer >= 2, got '$frames'"
[ "$frames" -ge "$count" ] || fail "$count parts for $frames frames: use at most $frames parts"

base=$((frames / count))
extra=$((frames % count))
start=$((index * base + (index < extra ? index : extra)))
if [ $((index + 1)) -eq "$count" ]; then
  end=""
else
  end=$((start + base + (index < extra ? 1 : 0)))
fi
mkdir -p "$parts_dir"
part=$(printf '%s/part-%05d.y4m' "$parts_dir" "$index")
args=(upscale -i "$input" -o "$part" --frames "$start:$end")
[ -n "${ZSM_MODEL:-}" ] && args+=(--model "$ZSM_MODEL")
[ -n "$threads" ] && args+=(--threads "$threads")
# shellcheck disable=SC2206 # ZSM_ARGS is split at spaces on purpose
[ -n "${ZSM_ARGS:-}" ] && args+=($ZSM_ARGS)
echo "zsm-upscale-part: part $index of $count: input frames $start:${end:-end} -> $part" >&2
exec "${ZSM:-zsm}" "${args[@]}"
