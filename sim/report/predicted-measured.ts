/**
 * A self-contained HTML page of the simulator's prediction beside a measurement of the same
 * topology (`npm run load:compare`): one row per figure, the difference in per cent, whether
 * it is within the tolerance, and the model parameter that explains a row that is not. Same
 * look as the simulator's own report (html.ts); no external assets.
 */

export interface PredictedMeasuredRow {
  readonly name: string;
  readonly unit: string;
  readonly predicted: number | null;
  readonly measured: number | null;
  readonly differencePercent: number | null;
  readonly within: boolean;
  readonly explanation: string | null;
}

export interface PredictedMeasuredPage {
  readonly title: string;
  /** Lines about the two runs (scenario, seed, trace hash, wall time...). */
  readonly about: readonly string[];
  readonly tolerancePercent: number;
  readonly rows: readonly PredictedMeasuredRow[];
  /** The model's calibrated constants, each with where it was measured. */
  readonly model: readonly { readonly parameter: string; readonly value: number | string }[];
}

export function renderPredictedMeasuredHtml(page: PredictedMeasuredPage): string {
  const within = page.rows.filter((r) => r.within).length;
  const notes: string[] = [];
  const rows = page.rows.map((row) => {
    const mark = row.explanation === null ? '' : ` [${notes.push(row.explanation)}]`;
    const difference =
      row.differencePercent === null
        ? ''
        : `${row.differencePercent >= 0 ? '+' : ''}${row.differencePercent.toFixed(1)} %`;
    return `<tr><td>${esc(row.name)}</td><td>${value(row.predicted, row.unit)}</td><td>${value(row.measured, row.unit)}</td><td class="${row.within ? 'ok' : 'bad'}">${difference}${mark}</td></tr>`;
  });
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(page.title)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:960px}
table{border-collapse:collapse;margin:8px 0 16px}td,th{padding:4px 10px;border-bottom:1px solid #ddd;text-align:right}
td:first-child,th:first-child{text-align:left}.bad{color:#b00020;font-weight:600}.ok{color:#1b7f3a}
code{background:#f4f4f4;padding:1px 4px}ol li{margin:4px 0}
</style></head><body>
<h1>${esc(page.title)}</h1>
<p>${page.about.map(esc).join('<br>')}</p>
<h2>Predicted and measured</h2>
<p>${within} of ${page.rows.length} rows within ${page.tolerancePercent} %.</p>
<table><tr><th>figure</th><th>predicted</th><th>measured</th><th>difference</th></tr>
${rows.join('\n')}
</table>
<h2>Why a row is off</h2>
<ol>${notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ol>
<h2>The loopback model</h2>
<table><tr><th>parameter</th><th>value</th></tr>
${page.model.map((m) => `<tr><td><code>${esc(m.parameter)}</code></td><td>${esc(String(m.value))}</td></tr>`).join('\n')}
</table>
</body></html>
`;
}

function value(v: number | null, unit: string): string {
  if (v === null) return '-';
  return `${Number.isInteger(v) ? v : v.toFixed(3)}${unit === '' ? '' : ` ${esc(unit)}`}`;
}

function esc(text: string): string {
  return text.replace(
    /[&<>"]/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] as string,
  );
}
