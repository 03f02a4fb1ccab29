/**
 * The trace viewer the local collector serves at `/`: one self-contained
 * HTML document (inline script and styles, no external assets, works
 * offline) that reads the collector's X-Ray read APIs on its own origin —
 * `GetTraceSummaries`, `BatchGetTraces`, `GetServiceGraph` in the X-Ray API's
 * JSON shapes — and shows a live trace list with filter expressions, a
 * timeline waterfall per trace and a service map.
 *
 * The browser code lives in `_viewer_client.ts` and is bundled (with the
 * dagre graph layout) into `_viewer_assets.ts` by `scripts/build_viewer.ts`.
 *
 * @example Serving the page
 * ```ts
 * import assert from "node:assert/strict";
 * import { viewerPage } from "./viewer.ts";
 * const response = new Response(viewerPage, {
 *   headers: { "content-type": "text/html; charset=utf-8" },
 * });
 * assert.match(await response.text(), /^<!doctype html>/);
 * ```
 *
 * @module
 */

import { VIEWER_SCRIPT, VIEWER_SCRIPT_SHA256 } from "./_viewer_assets.ts";

/**
 * The page's Content-Security-Policy (also set in a `<meta>` element): only
 * its own inline script runs, and it only talks to its own origin.
 */
export const VIEWER_CONTENT_SECURITY_POLICY: string =
  `default-src 'none'; script-src '${VIEWER_SCRIPT_SHA256}'; ` +
  `style-src 'unsafe-inline'; connect-src 'self'; img-src data:; ` +
  `base-uri 'none'; form-action 'none'`;

const STYLE = `
:root {
  --bg: #f7f8fa; --panel: #fff; --ink: #16191f; --muted: #5f6b7a;
  --line: #d5dbe3; --accent: #0972d3; --sel: #e8f2fd;
  --ok: #2e8540; --error: #e07700; --fault: #d13212; --throttle: #8a4fc9;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  font-size: 14px; color: var(--ink); background: var(--bg);
}
* { box-sizing: border-box; }
body { margin: 0; }
header { display: flex; align-items: center; gap: 16px; padding: 8px 16px;
  background: #232f3e; color: #fff; }
header h1 { font-size: 16px; margin: 0; font-weight: 600; }
header h1 span { color: #ff9900; }
nav { display: flex; gap: 4px; }
nav button { background: none; border: 0; color: #d5dbe3; padding: 6px 12px;
  border-radius: 4px; font: inherit; cursor: pointer; }
nav button.active { background: #414d5c; color: #fff; }
#status { margin-left: auto; font-size: 12px; color: #aab7b8; }
#status.bad { color: #ff8a80; }
#controls { padding: 10px 16px; background: var(--panel);
  border-bottom: 1px solid var(--line); }
#filter-form { display: flex; gap: 8px; align-items: center; }
#filter { flex: 1; font: 13px ui-monospace, SFMono-Regular, Menlo, monospace;
  padding: 6px 8px; border: 1px solid var(--line); border-radius: 4px; }
#filter[aria-invalid="true"] { border-color: var(--fault); }
#filter-form button, #range { font: inherit; padding: 5px 10px; }
#filter-error { margin-top: 6px; color: var(--fault);
  font: 12px ui-monospace, monospace; white-space: pre-wrap; }
main { padding: 12px 16px; }
.list-head { display: flex; justify-content: space-between; color: var(--muted);
  font-size: 12px; margin-bottom: 4px; }
.list { max-height: 38vh; overflow: auto; background: var(--panel);
  border: 1px solid var(--line); border-radius: 6px; }
table.traces { width: 100%; border-collapse: collapse; }
table.traces th { position: sticky; top: 0; background: #eef1f4; text-align: left;
  font-weight: 600; font-size: 12px; padding: 6px 8px; color: var(--muted); }
table.traces td { padding: 5px 8px; border-top: 1px solid #edf0f3;
  white-space: nowrap; }
tr.trace-row { cursor: pointer; }
tr.trace-row:hover { background: #f2f6fb; }
tr.trace-row.selected { background: var(--sel); }
td.url { max-width: 420px; overflow: hidden; text-overflow: ellipsis; }
td.annotations { max-width: 460px; overflow: hidden; text-overflow: ellipsis; }
td.time, td.duration { font-variant-numeric: tabular-nums; }
td.duration { text-align: right; }
.badge { display: inline-block; min-width: 38px; text-align: center;
  border-radius: 10px; padding: 1px 8px; font-size: 12px; color: #fff;
  background: var(--ok); }
.badge.error { background: var(--error); } .badge.fault { background: var(--fault); }
.badge.throttle { background: var(--throttle); }
.chip { display: inline-block; background: #eef1f4; border-radius: 3px;
  padding: 0 5px; font-size: 12px; margin-right: 2px; }
.chip b { font-weight: 600; color: var(--muted); }
#list-empty, #map-empty, .hint { color: var(--muted); }
#trace-detail { margin-top: 14px; display: grid;
  grid-template-columns: minmax(0, 1fr) 380px; gap: 12px; }
#trace-detail[hidden] { display: none; }
@media (max-width: 1000px) {
  #trace-detail { grid-template-columns: minmax(0, 1fr); }
}
#trace-detail > h2 { grid-column: 1 / -1; font-size: 14px; margin: 0; }
#detail-summary { font-weight: normal; color: var(--muted); margin-left: 8px; }
#waterfall, #entity-panel { background: var(--panel); border: 1px solid var(--line);
  border-radius: 6px; }
#entity-panel { padding: 10px 12px; max-height: 70vh; overflow: auto; }
#entity-panel h2 { font-size: 15px; margin: 0 0 8px; word-break: break-all; }
.wf-row { display: grid; grid-template-columns: 34% 66%; align-items: center;
  min-height: 26px; border-top: 1px solid #f0f2f5; cursor: pointer; }
.wf-row:hover { background: #f6f9fc; }
.wf-row.selected { background: var(--sel); }
.wf-head { cursor: default; color: var(--muted); font-size: 12px; border-top: 0; }
.wf-name { overflow: hidden; white-space: nowrap; text-overflow: ellipsis;
  padding-right: 6px; }
.wf-segment .entity-name { font-weight: 600; }
.wf-name small { color: var(--muted); }
.wf-name small.code.fault { color: var(--fault); }
.wf-name small.code.error { color: var(--error); }
.wf-name small.code.throttle { color: var(--throttle); }
.wf-time { position: relative; height: 26px; margin-right: 12px; }
.wf-axis { position: relative; height: 100%; }
.tick { position: absolute; top: 6px; transform: translateX(-50%);
  font-size: 11px; white-space: nowrap; }
.tick:first-child { transform: none; } .tick:last-child { transform: translateX(-100%); }
.bar { position: absolute; top: 6px; height: 14px; border: 0; padding: 0;
  border-radius: 2px; background: var(--ok); cursor: pointer; min-width: 2px; }
.bar.error { background: var(--error); } .bar.fault { background: var(--fault); }
.bar.throttle { background: var(--throttle); }
.bar.in-progress { background-image: repeating-linear-gradient(45deg,
  rgba(255,255,255,.45) 0 5px, transparent 5px 10px); opacity: .85; }
.bar-label { position: absolute; top: 5px; font-size: 11px; color: var(--muted);
  white-space: nowrap; font-variant-numeric: tabular-nums; }
.toggle { display: inline-block; width: 16px; padding: 0; border: 0;
  background: none; color: var(--muted); font-size: 11px; cursor: pointer; }
.dot { display: inline-block; width: 8px; height: 8px; border-radius: 50%;
  margin-right: 6px; background: var(--ok); }
.dot.error { background: var(--error); } .dot.fault { background: var(--fault); }
.dot.throttle { background: var(--throttle); }
.block h3 { font-size: 12px; text-transform: uppercase; letter-spacing: .04em;
  color: var(--muted); margin: 14px 0 4px; }
table.kv { border-collapse: collapse; width: 100%; font-size: 12px; }
table.kv th { text-align: left; font-weight: 600; padding: 2px 8px 2px 0;
  vertical-align: top; width: 30%; word-break: break-all; }
table.kv td { padding: 2px 0; word-break: break-all; }
pre { margin: 0; font: 12px ui-monospace, SFMono-Regular, Menlo, monospace;
  white-space: pre-wrap; word-break: break-all; background: #f6f8fa;
  padding: 6px; border-radius: 4px; }
.exception p { margin: 4px 0; color: var(--fault); }
ol.stack { margin: 0; padding-left: 22px; font-size: 12px; }
ol.stack .where { color: var(--muted); }
details.raw { margin-top: 14px; } details.raw summary { cursor: pointer;
  color: var(--muted); font-size: 12px; }
.problem { color: var(--fault); padding: 8px; }
#map-view { background: var(--panel); border: 1px solid var(--line);
  border-radius: 6px; padding: 8px; overflow: auto; }
#map { display: block; max-width: 100%; height: auto; }
#map .node rect:first-of-type { fill: #fff; stroke: var(--ok); stroke-width: 2; }
#map .node.error rect:first-of-type { stroke: var(--error); }
#map .node.fault rect:first-of-type { stroke: var(--fault); }
#map .node { cursor: pointer; }
#map .node:hover rect:first-of-type { fill: #f2f6fb; }
#map .node text { font-size: 12px; fill: var(--ink); }
#map .node text.name { font-weight: 600; font-size: 13px; }
#map .node text.type, #map .edge text { fill: var(--muted); font-size: 11px; }
#map .edge text { paint-order: stroke; stroke: #fff; stroke-width: 4px; }
#map .health.ok { fill: var(--ok); } #map .health.error { fill: var(--error); }
#map .health.fault { fill: var(--fault); }
#map .edge path { fill: none; stroke: #8d99a8; stroke-width: 1.5; }
#map .edge.error path { stroke: var(--error); }
#map .edge.fault path { stroke: var(--fault); }
#map .arrowhead { fill: #8d99a8; }
`;

const BODY = `
<header>
  <h1>xray-edge <span>collector</span></h1>
  <nav role="tablist">
    <button type="button" role="tab" data-tab="traces" class="active">Traces</button>
    <button type="button" role="tab" data-tab="map">Service map</button>
  </nav>
  <span id="status" role="status">connecting…</span>
</header>
<section id="controls">
  <form id="filter-form" autocomplete="off">
    <input id="filter" name="filter" spellcheck="false" aria-label="Filter expression"
      placeholder='Filter expression, e.g. service("checkout") AND http.status = 500 — press Enter'>
    <select id="range" aria-label="Time range">
      <option value="300">last 5 minutes</option>
      <option value="900" selected>last 15 minutes</option>
      <option value="3600">last hour</option>
      <option value="21600">last 6 hours</option>
      <option value="86400">last 24 hours</option>
    </select>
    <button type="submit">Apply</button>
    <label><input type="checkbox" id="live" checked> live</label>
  </form>
  <div id="filter-error" role="alert" hidden></div>
</section>
<main>
  <section id="traces-view">
    <div class="list-head"><span>Newest first</span><span id="trace-count"></span></div>
    <div class="list">
      <table class="traces" id="trace-list">
        <thead><tr><th>Time</th><th>Service</th><th>Method</th><th>URL</th>
          <th>Status</th><th>Duration</th><th>Annotations</th></tr></thead>
        <tbody id="trace-rows"></tbody>
      </table>
      <p id="list-empty" hidden>No traces in this time range yet: send some
        segments to this collector.</p>
    </div>
    <section id="trace-detail" hidden>
      <h2>Trace <code id="detail-id"></code> <small id="detail-summary"></small></h2>
      <div id="waterfall"></div>
      <aside id="entity-panel"></aside>
    </section>
  </section>
  <section id="map-view" hidden>
    <p id="map-empty" hidden>No services in this time range yet.</p>
    <svg id="map" xmlns="http://www.w3.org/2000/svg" role="img"
      aria-label="Service map"></svg>
  </section>
</main>
`;

/**
 * The viewer page: a complete HTML document to serve at `/` with
 * `content-type: text/html; charset=utf-8`.
 */
export const viewerPage: string = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${VIEWER_CONTENT_SECURITY_POLICY}">
<title>xray-edge collector</title>
<style>${STYLE}</style>
</head>
<body>${BODY}<script>${VIEWER_SCRIPT}</script>
</body>
</html>
`;
