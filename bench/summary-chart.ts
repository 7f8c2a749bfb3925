/**
 * A horizontal bar chart of ratios as a standalone SVG, written by hand so
 * the benchmark summary needs no plotting library. Bars start at 1 (parity)
 * on a log scale, so 0.5x and 2x are the same length either side.
 */

export interface RatioBar {
  label: string;
  /** The ratio; null draws no bar ("n/a"). */
  value: number | null;
  /** Which side of 1 is good, for the bar's colour. */
  better: 'lower' | 'higher';
  /** Drawn as a dashed mark: the ratio the target asks for. */
  target?: number;
}

export interface RatioGroup {
  title: string;
  bars: RatioBar[];
}

const WIDTH = 780;
const LABEL_WIDTH = 290;
const PLOT_LEFT = LABEL_WIDTH + 10;
const PLOT_RIGHT = WIDTH - 60;
const ROW_HEIGHT = 22;
const BAR_HEIGHT = 14;
const GROUP_GAP = 30;
const TOP = 70;
const AXIS_HEIGHT = 40;
/** The log axis spans 1/MAX_RATIO .. MAX_RATIO; larger ratios are drawn clipped, with their value written. */
const MAX_RATIO = 100;
const TICKS = [0.01, 0.1, 1, 10, 100];
const GOOD = '#2e7d32';
const BAD = '#c62828';
/** Better than Litestream, yet short of the target. */
const SHORT = '#ef6c00';
const LEGEND: [string, string][] = [
  [GOOD, 'tidemark better'],
  [SHORT, 'better, short of the target'],
  [BAD, 'tidemark worse'],
];
const FONT = 'font-family="Helvetica, Arial, sans-serif"';

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function x(ratio: number): number {
  const clamped = Math.min(MAX_RATIO, Math.max(1 / MAX_RATIO, ratio));
  const t = (Math.log10(clamped) + Math.log10(MAX_RATIO)) / (2 * Math.log10(MAX_RATIO));
  return PLOT_LEFT + t * (PLOT_RIGHT - PLOT_LEFT);
}

function formatRatio(r: number): string {
  return r >= 10 ? `${r.toFixed(0)}x` : r >= 1 ? `${r.toFixed(2)}x` : `${Number(r.toPrecision(2))}x`;
}

function colour(b: RatioBar & { value: number }): string {
  const better = b.better === 'lower' ? b.value <= 1 : b.value >= 1;
  if (!better) return BAD;
  if (b.target === undefined) return GOOD;
  return (b.better === 'lower' ? b.value <= b.target : b.value >= b.target) ? GOOD : SHORT;
}

export function ratioChart(title: string, subtitle: string, groups: readonly RatioGroup[]): string {
  const rows = groups.reduce((n, g) => n + g.bars.length, 0);
  const plotHeight = rows * ROW_HEIGHT + groups.length * GROUP_GAP;
  const height = TOP + plotHeight + AXIS_HEIGHT;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" ${FONT} font-size="12">`);
  out.push(`<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`);
  out.push(`<text x="12" y="22" font-size="16" font-weight="bold">${escapeXml(title)}</text>`);
  out.push(`<text x="12" y="40" fill="#555555">${escapeXml(subtitle)}</text>`);
  const bottom = TOP + plotHeight;
  for (const t of TICKS) {
    const tx = x(t).toFixed(1);
    const stroke = t === 1 ? '#333333' : '#dddddd';
    out.push(`<line x1="${tx}" y1="${TOP}" x2="${tx}" y2="${bottom}" stroke="${stroke}" stroke-width="${t === 1 ? 1.5 : 1}"/>`);
    out.push(`<text x="${tx}" y="${bottom + 16}" text-anchor="middle" fill="#555555">${t}x</text>`);
  }
  out.push(`<text x="${((PLOT_LEFT + PLOT_RIGHT) / 2).toFixed(1)}" y="${bottom + 32}" text-anchor="middle" fill="#555555">tidemark / Litestream, log scale</text>`);
  let lx = 12;
  for (const [fill, text] of LEGEND) {
    out.push(`<rect x="${lx}" y="50" width="10" height="10" fill="${fill}"/>`);
    out.push(`<text x="${lx + 14}" y="59" fill="#555555">${escapeXml(text)}</text>`);
    lx += 24 + text.length * 7;
  }
  out.push(`<line x1="${lx}" y1="49" x2="${lx}" y2="61" stroke="#000000" stroke-width="2" stroke-dasharray="3,2"/>`);
  out.push(`<text x="${lx + 6}" y="59" fill="#555555">target</text>`);
  let y = TOP;
  for (const g of groups) {
    y += GROUP_GAP;
    out.push(`<text x="12" y="${y - 8}" font-weight="bold">${escapeXml(g.title)}</text>`);
    for (const b of g.bars) {
      const mid = y + ROW_HEIGHT / 2;
      out.push(`<text x="${LABEL_WIDTH}" y="${mid + 4}" text-anchor="end">${escapeXml(b.label)}</text>`);
      if (b.value === null || !(b.value > 0)) {
        out.push(`<text x="${PLOT_RIGHT + 8}" y="${mid + 4}" fill="#555555">n/a</text>`);
      } else {
        const fill = colour({ ...b, value: b.value });
        const x0 = Math.min(x(1), x(b.value));
        const w = Math.max(1, Math.abs(x(b.value) - x(1)));
        out.push(`<rect x="${x0.toFixed(1)}" y="${(mid - BAR_HEIGHT / 2).toFixed(1)}" width="${w.toFixed(1)}" height="${BAR_HEIGHT}" fill="${fill}"/>`);
        // Values sit in a column of their own, clear of bars and labels whatever their length.
        out.push(`<text x="${PLOT_RIGHT + 8}" y="${mid + 4}" fill="${fill}">${formatRatio(b.value)}</text>`);
      }
      if (b.target !== undefined) {
        const tx = x(b.target).toFixed(1);
        out.push(`<line x1="${tx}" y1="${y + 1}" x2="${tx}" y2="${y + ROW_HEIGHT - 1}" stroke="#000000" stroke-width="2" stroke-dasharray="3,2"/>`);
      }
      y += ROW_HEIGHT;
    }
  }
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
