#!/bin/sh
# Make media/moh-default.wav, holdline's default music on hold, with sox alone.
# A calm 40 s loop: four soft sine-pad chords (Cmaj7 - Am7 - Fmaj7 - G6, 10 s each, slow swell
# and release, overlapping) under a gentle plucked arpeggio, with light reverb. The pad tails that
# run past 40 s are mixed back into the start, so the loop joins without a seam.
# Output: 8 kHz mono 16-bit PCM, exactly 320,000 samples (2,000 frames of 20 ms).
# Made by the holdline project; dedicated to the public domain (CC0 1.0).
set -eu
cd "$(dirname "$0")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
S="-r 8000 -b 16"

# pad NAME START FREQS...: a 12 s four-note chord, 2.5 s swell, 3.5 s release, placed at START s.
pad() {
  name=$1; start=$2; shift 2
  sox -c 4 -n $S "$work/$name.wav" synth 12 sine "$1" sine "$2" sine "$3" sine "$4" \
    remix - tremolo 0.15 15 fade q 2.5 12 3.5 vol 0.5 pad "$start" 0
}
pad c  0 130.81 261.63 329.63 493.88    # Cmaj7: C3 C4 E4 B4
pad a 10 110.00 220.00 261.63 392.00    # Am7:   A2 A3 C4 G4
pad f 20  87.31 174.61 261.63 329.63    # Fmaj7: F2 F3 C4 E4
pad g 30  98.00 196.00 246.94 329.63    # G6:    G2 G3 B3 E4

# The arpeggio: 32 notes of 1.25 s, each a soft decaying pluck.
i=0
for n in C5 E5 G5 B5 G5 E5 D5 E5   A4 C5 E5 G5 E5 C5 B4 C5 \
         F4 A4 C5 E5 C5 A4 G4 A4   G4 B4 D5 E5 D5 B4 A4 G4; do
  sox -n $S "$work/n$(printf %02d $i).wav" synth 1.25 pluck "$n" fade 0.01 1.25 0.4 vol 0.35
  i=$((i + 1))
done
sox "$work"/n*.wav "$work/arp.wav"

# Mix at full level (-v 1 each: no 1/n scaling), add reverb, then wrap the tail into the head.
sox -m -v 1 "$work/c.wav" -v 1 "$work/a.wav" -v 1 "$work/f.wav" -v 1 "$work/g.wav" \
  -v 1 "$work/arp.wav" "$work/mix.wav" reverb 40 50 60
sox "$work/mix.wav" "$work/head.wav" trim 0 320000s
sox "$work/mix.wav" "$work/tail.wav" trim 320000s
sox -m -v 1 "$work/head.wav" -v 1 "$work/tail.wav" "$work/loop.wav"
sox "$work/loop.wav" $S -c 1 moh-default.wav trim 0 320000s gain -n -4
