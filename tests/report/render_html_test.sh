#!/usr/bin/env bash
# Renders the html report of a fixture incident in headless Chromium to PNG and to PDF and
# checks what a reader would see: the expected text in the page and in the PDF, a timeline
# chart with real geometry, and a screenshot that is not blank; then the same report in Chinese
# (the default language), whose headings must come out of the PDF as Chinese text. Chromium
# missing is a failure.
#   render_html_test.sh INCIDENTCTL REPORT_FIXTURE
set -euo pipefail

incidentctl=$1
fixture=$2
here=$(cd "$(dirname "$0")" && pwd)

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

chromium=$(command -v chromium || command -v chromium-browser || true)
[[ -n $chromium ]] || fail "chromium is not installed (scripts/install-deps.sh installs it)"
command -v pdftotext >/dev/null || fail "pdftotext is not installed (poppler-utils)"
# Without a CJK font the Chinese report would print as boxes. (Which font Chromium embeds, and
# how, varies: under load it has written the glyphs as unnamed Type 3 fonts.)
[[ -n $(fc-list :lang=zh family) ]] || fail "no CJK font installed (fonts-wqy-microhei)"

work=$(mktemp -d)
cleanup() {
  # INCIDENTD_KEEP_RENDER=DIR keeps what was rendered, to look at it.
  if [[ -n ${INCIDENTD_KEEP_RENDER:-} ]]; then
    cp "$work"/report.* "$work"/report-zh.* "$INCIDENTD_KEEP_RENDER"/ 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

"$fixture" "$work/fixture.db"
SOURCE_DATE_EPOCH=1796086800 "$incidentctl" report rpt-multi --format html --lang en \
  --config "$here/fixture.toml" --database "$work/fixture.db" -o "$work/report.html"
SOURCE_DATE_EPOCH=1796086800 "$incidentctl" report rpt-multi --format html \
  --config "$here/fixture.toml" --database "$work/fixture.db" -o "$work/report-zh.html"

run_chromium() {
  # A fresh profile per run; no network, no first-run or sync machinery.
  local profile
  profile=$(mktemp -d "$work/profile.XXXXXX")
  timeout 120 "$chromium" --headless --no-sandbox --disable-gpu --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$profile" "$@" 2>"$work/chromium.log" ||
    { cat "$work/chromium.log" >&2; fail "chromium exited with an error"; }
}

run_chromium --window-size=1000,1414 --screenshot="$work/report.png" "file://$work/report.html"
run_chromium --no-pdf-header-footer --print-to-pdf="$work/report.pdf" "file://$work/report.html"
run_chromium --dump-dom "file://$work/report.html" >"$work/dom.html"

[[ -s $work/report.png ]] || fail "no screenshot"
[[ -s $work/report.pdf ]] || fail "no PDF"

# The text a reader sees, in the rendered page and in the PDF.
pdftotext -layout "$work/report.pdf" "$work/report.txt"
for needle in "After-action report: rpt-multi" "Personal data de-identified" \
  "met after the deadline" "The principal leader spoke in person" "Outage at 2026-11-25 11:10" \
  "Digest of every incident's chain head" "昆明市某商场火灾网络传播"; do
  grep -qF "$needle" "$work/dom.html" || fail "page lacks: $needle"
done
# Table cells wrap in the PDF: look for phrases that fit on one line of their cell.
for needle in "After-action report: rpt-multi" "Personal data de-identified" "met after" \
  "The principal leader spoke in person" "Digest of every incident's chain head" "昆明市某商场火灾网络传播"; do
  grep -qF "$needle" "$work/report.txt" || fail "PDF lacks: $needle"
done
pages=$(pdfinfo "$work/report.pdf" | awk '/^Pages:/ {print $2}')
# A4 is 595.28 x 841.89 pt; Chromium rounds to whole device pixels.
size=$(pdfinfo "$work/report.pdf" | awk '/^Page size:/ {print $3, $5}')
awk -v s="$size" 'BEGIN { split(s, d, " "); exit !(d[1] > 593 && d[1] < 598 && d[2] > 840 && d[2] < 844) }' ||
  fail "PDF page size is $size pt, not A4"
((pages >= 1)) || fail "PDF has no page"

# The Chinese report: its headings and the plan's terms, in the page and in the PDF's text.
run_chromium --no-pdf-header-footer --print-to-pdf="$work/report-zh.pdf" "file://$work/report-zh.html"
run_chromium --dump-dom "file://$work/report-zh.html" >"$work/dom-zh.html"
[[ -s $work/report-zh.pdf ]] || fail "no PDF of the Chinese report"
pdftotext -layout "$work/report-zh.pdf" "$work/report-zh.txt"
for needle in "事后评估报告：rpt-multi" "个人信息已去标识化" "法定时限" "预警与升级经过" "通知" \
  "防篡改校验" "首次发布权威信息" "新闻发布会" "主要负责同志带头主动发声"; do
  grep -qF "$needle" "$work/dom-zh.html" || fail "Chinese page lacks: $needle"
  grep -qF "$needle" "$work/report-zh.txt" || fail "Chinese PDF lacks: $needle"
done
if grep -qF "After-action report" "$work/report-zh.txt"; then
  fail "the Chinese PDF still carries English headings"
fi

# The chart and the screenshot, checked in python3 (standard library only).
python3 - "$work/dom.html" "$work/report.png" <<'PY'
import re, struct, sys, zlib

dom, png = open(sys.argv[1], encoding="utf-8").read(), open(sys.argv[2], "rb").read()

svg = re.search(r'<svg class="chart".*?</svg>', dom, re.S)
if not svg:
    sys.exit("FAIL: no timeline chart in the page")
svg = svg.group(0)
paths = [d for d in re.findall(r'<path d="([^"]+)"', svg)]
rects = [(float(w), float(h)) for w, h in re.findall(r'<rect [^>]*width="([\d.]+)" height="([\d.]+)"', svg)]
lines = re.findall(r'<line x1="([\d.]+)" y1="([\d.]+)" x2="([\d.]+)" y2="([\d.]+)"', svg)
markers = [p for p in paths if len(re.findall(r"[\d.]+", p)) >= 6]
bars = [r for r in rects[1:] if r[0] > 0 and r[1] > 0]  # the first rect is the background
if len(markers) < 5 or len(bars) < 10 or len(lines) < 5:
    sys.exit(f"FAIL: chart too empty: {len(markers)} markers, {len(bars)} bars, {len(lines)} lines")
xs = {round(float(x)) for x in re.findall(r'cx="([\d.]+)"', svg)}
xs |= {round(float(x)) for x in re.findall(r'<path d="M([\d.]+) ', svg)}
if len(xs) < 5:
    sys.exit("FAIL: chart markers do not spread along the time axis")

# A minimal PNG decoder: 8-bit RGB or RGBA, non-interlaced (what Chromium writes).
if png[:8] != b"\x89PNG\r\n\x1a\n":
    sys.exit("FAIL: screenshot is not a PNG")
pos, idat, width = 8, b"", 0
while pos < len(png):
    length, kind = struct.unpack(">I4s", png[pos:pos + 8])
    data = png[pos + 8:pos + 8 + length]
    if kind == b"IHDR":
        width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", data)
        if depth != 8 or color not in (2, 6) or interlace:
            sys.exit(f"FAIL: unexpected PNG format depth={depth} color={color}")
        channels = 3 if color == 2 else 4
    elif kind == b"IDAT":
        idat += data
    pos += 12 + length
raw = zlib.decompress(idat)
stride = width * channels
prev = bytearray(stride)
ink = coloured = 0
i = 0
for _ in range(height):
    ftype, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
    i += 1 + stride
    for x in range(stride):
        a = line[x - channels] if x >= channels else 0
        b, c = prev[x], prev[x - channels] if x >= channels else 0
        if ftype == 1: line[x] = (line[x] + a) & 255
        elif ftype == 2: line[x] = (line[x] + b) & 255
        elif ftype == 3: line[x] = (line[x] + (a + b) // 2) & 255
        elif ftype == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    for x in range(0, stride, channels):
        r, g, bl = line[x], line[x + 1], line[x + 2]
        if min(r, g, bl) < 200:
            ink += 1
        if max(r, g, bl) - min(r, g, bl) > 60:
            coloured += 1
    prev = line
total = width * height
print(f"screenshot {width}x{height}: {ink} dark pixels ({100 * ink / total:.1f}%), "
      f"{coloured} coloured; chart: {len(markers)} markers, {len(bars)} bars, {len(lines)} lines")
if ink < total * 0.01:
    sys.exit("FAIL: the screenshot is nearly blank")
if coloured < 500:
    sys.exit("FAIL: the screenshot shows no coloured chart")
PY

echo "PASS: html report rendered to PNG and PDF ($pages A4 pages)"
