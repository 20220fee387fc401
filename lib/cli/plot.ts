// A loss curve as a small self-contained SVG: training loss per step (NaN steps left out) and
// eval loss points, with axis ticks. Opens in any browser or image viewer.

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

function ticks(lo: number, hi: number, n: number): number[] {
  const span = hi - lo || 1;
  const raw = span / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-12; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

/** SVG text of the curve; `title` goes on top. */
export function lossCurveSVG(losses: readonly number[], evals: readonly { step: number; loss: number }[], title = 'loss'): string {
  const W = 640;
  const H = 360;
  const L = 56;
  const R = 16;
  const T = 28;
  const B = 40;
  const pts = losses.map((l, i) => [i + 1, l] as const).filter(([, l]) => Number.isFinite(l));
  // a loop, not Math.min(...ys): a long run has more losses than a call takes arguments
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of [...pts.map(([, l]) => l), ...evals.map((e) => e.loss)]) {
    if (!Number.isFinite(v)) continue;
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  if (lo > hi) [lo, hi] = [0, 1];
  const n = Math.max(1, losses.length);
  const pad = (hi - lo) * 0.05 || 0.5;
  const y0 = Math.max(0, lo - pad);
  const y1 = hi + pad;
  const x = (s: number) => L + ((s - 1) / Math.max(1, n - 1)) * (W - L - R);
  const y = (v: number) => T + (1 - (v - y0) / (y1 - y0)) * (H - T - B);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="18" text-anchor="middle" font-size="13">${esc(title)}</text>`,
    `<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="#444"/>`,
    `<line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="#444"/>`,
  ];
  for (const v of ticks(y0, y1, 5)) {
    parts.push(`<line x1="${L - 4}" y1="${y(v).toFixed(1)}" x2="${W - R}" y2="${y(v).toFixed(1)}" stroke="#eee"/>`);
    parts.push(`<text x="${L - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${v}</text>`);
  }
  for (const s of ticks(1, n, 6).filter((s) => Number.isInteger(s) && s >= 1)) parts.push(`<text x="${x(s).toFixed(1)}" y="${H - B + 16}" text-anchor="middle">${s}</text>`);
  parts.push(`<text x="${(L + W - R) / 2}" y="${H - 6}" text-anchor="middle">step</text>`);
  if (pts.length) parts.push(`<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="${pts.map(([s, l]) => `${x(s).toFixed(1)},${y(l).toFixed(1)}`).join(' ')}"/>`);
  for (const e of evals.filter((e) => Number.isFinite(e.loss))) parts.push(`<circle cx="${x(e.step).toFixed(1)}" cy="${y(e.loss).toFixed(1)}" r="3.5" fill="#d62728"><title>eval ${e.loss.toFixed(4)} at step ${e.step}</title></circle>`);
  parts.push(`<text x="${W - R}" y="${T + 10}" text-anchor="end" fill="#1f77b4">train</text>`);
  if (evals.length) parts.push(`<text x="${W - R}" y="${T + 24}" text-anchor="end" fill="#d62728">eval</text>`);
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
