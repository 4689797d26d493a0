#!/usr/bin/env bash
# make-samples.sh - regenerate the small images under public/samples/ that
# `make run` serves (they are committed; this is how they were made).
# Needs ImageMagick (convert) and exiftool.
set -euo pipefail
out=${1:-public/samples}
font=/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"

# A photo-like landscape (plasma sky over hills, a sun, "UP" at the top),
# stored turned 90 degrees anticlockwise with EXIF orientation 6, the way
# a phone held upright writes it: a viewer that ignores EXIF shows it on
# its side, a correct one shows "UP" at the top.
convert -size 800x600 gradient:'#3d7cc9'-'#dcefff' \
    \( -size 800x600 -seed 7 plasma:'#ffffff'-'#9fc5e8' -blur 0x6 \) \
    -compose blend -define compose:args=35 -composite -compose over \
    \( -size 800x260 -seed 3 plasma:'#38761d'-'#93c47d' -blur 0x2 \) -gravity south -composite \
    -fill '#ffd966' -draw 'circle 620,140 620,190' \
    -font "$font" -fill white -stroke '#333333' -strokewidth 2 -pointsize 72 \
    -gravity north -annotate +0+40 'UP' "$tmp/landscape.png"
convert "$tmp/landscape.png" -rotate -90 -strip -sampling-factor 2x2 -quality 80 \
    "$out/landscape-exif6.jpg"
exiftool -q -overwrite_original -Orientation#=6 "$out/landscape-exif6.jpg"

# A PNG with alpha: a badge on a transparent background, soft-edged shadow.
convert -size 480x480 xc:none \
    -fill '#00000055' -draw 'circle 250,250 250,30' -blur 0x8 \
    -fill '#e06666' -draw 'circle 240,240 240,30' \
    -fill '#ffffff' -draw 'circle 240,240 240,110' \
    -fill '#3d85c6' -draw 'circle 240,240 240,170' \
    -font "$font" -fill white -pointsize 56 -gravity center -annotate +0+0 'rail' \
    PNG32:"$out/badge-alpha.png"

# An animated GIF: a ball crossing a track in 8 frames (the server answers
# with the first frame).
frames=()
for i in 0 1 2 3 4 5 6 7; do
    x=$((40 + i * 45))
    convert -size 400x120 xc:'#f3f6f4' -fill '#666666' -draw 'rectangle 0,96 400,100' \
        -fill '#cc0000' -draw "circle $x,70 $((x + 24)),70" \
        -font "$font" -fill '#333333' -pointsize 20 -gravity northwest \
        -annotate +10+8 "frame $((i + 1))/8" "$tmp/f$i.gif"
    frames+=("$tmp/f$i.gif")
done
convert -delay 12 -loop 0 "${frames[@]}" -layers Optimize "$out/ball-anim.gif"

ls -l "$out"
