// The explorer's two summary panels: license status across the filtered deals (financed
// deals whose license is revoked or expired stand out), and the portfolio over time from
// as-of checkpoints, drawn as labelled SVG bars with the same figures in a table.
"use strict";

const ExplorerPanels = (() => {
  const { $, el, label } = Ledger;
  const ALARMING = ["revoked", "expired"];
  const SERIES = [["committed", "Committed", "#1d3557"],
    ["outstanding", "Outstanding", "#2a7a3b"], ["exposure", "Exposure", "#b5432a"]];
  const CHECKPOINTS = 10;
  const MIN_CHECKPOINTS = 8;

  function showButton(text, filters, show) {
    const button = el("button", { type: "button", class: "link" }, text);
    button.addEventListener("click", () => show(filters));
    return button;
  }

  async function licenses(filters, show) {
    let answer;
    try {
      answer = await Ledger.getJson("/v1/portfolio/license-status" + Ledger.query(filters));
    } catch (error) {
      if (error instanceof Ledger.KeyRefused) throw error;
      $("#license-alarm").textContent = `The license view is not available: ${error.message}`;
      return;
    }
    const rows = answer.by_license_status;
    Ledger.fillTable($("#license-table tbody"), rows, (row, cell, tr) => {
      const alarm = ALARMING.includes(row.license_status) && row.financed > 0;
      tr.dataset.licenseStatus = row.license_status;
      if (alarm) tr.classList.add("alarm");
      cell(label(row.license_status));
      cell(String(row.deals), { "data-field": "deals" });
      cell(alarm ? el("strong", {}, `${row.financed} financed`) : String(row.financed),
        { "data-field": "financed" });
      cell(Ledger.amount(row.exposure));
      cell(showButton(`Show ${label(row.license_status)}`,
        { license_status: row.license_status }, show));
    });
    const financed = rows.filter((r) => ALARMING.includes(r.license_status))
      .reduce((sum, r) => sum + r.financed, 0);
    const alarm = $("#license-alarm");
    alarm.dataset.financedAlarm = String(financed);
    alarm.classList.toggle("alarm", financed > 0);
    alarm.textContent = financed === 0
      ? "No financed deal holds a revoked or expired license."
      : `${financed} financed ${financed === 1 ? "deal holds" : "deals hold"} a revoked or ` +
        "expired license.";
    const stages = answer.by_stage.filter((r) => ALARMING.includes(r.license_status));
    Ledger.fillTable($("#license-stages tbody"), stages, (row, cell) => {
      cell(label(row.stage));
      cell(label(row.license_status));
      cell(String(row.deals));
      cell(showButton(`Show ${label(row.stage)}, ${label(row.license_status)}`,
        { stage: row.stage, license_status: row.license_status }, show));
    });
  }

  // Checkpoints spread over the log's positions, each the moment its event was recorded,
  // so a burst of writes still shows its steps; when writes shared their moments (group
  // commit), moments evenly spaced in time fill in up to MIN_CHECKPOINTS.
  async function moments() {
    const projections = await Ledger.getJson("/v1/projections");
    const head = Math.max(0, ...projections.projections.map((p) => p.head));
    if (head === 0) return [];
    const count = Math.min(CHECKPOINTS, head);
    const positions = [...new Set(Array.from({ length: count }, (_, i) =>
      count === 1 ? head : 1 + Math.round(((head - 1) * i) / (count - 1))))];
    const found = await Promise.all(positions.map((position) =>
      Ledger.getJson(`/v1/events?after=${position - 1}&limit=1`)));
    const times = [...new Set(found.map((page) => page.events[0].recorded_at))];
    const first = Date.parse(times[0]);
    const span = Date.parse(times[times.length - 1]) - first;
    const missing = span > 0 ? MIN_CHECKPOINTS - times.length : 0;
    for (let k = 1; k <= missing; k += 1) {
      times.push(new Date(first + (span * k) / (missing + 1)).toISOString());
    }
    return [...new Set(times)].sort((a, b) => Date.parse(a) - Date.parse(b) ||
      a.localeCompare(b));
  }

  const SVG = "http://www.w3.org/2000/svg";
  function svg(tag, attributes = {}, ...children) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
    node.append(...children);
    return node;
  }

  // The moment's time of day; to the millisecond when the checkpoints are that close.
  const clock = (text, fine) => `${text.slice(11, fine ? 23 : 19)}Z`;

  // Horizontal bars, three per moment, each with its value written beside it: it reads on
  // a phone as well as on a desktop, with no label left out.
  function draw(points) {
    const box = $("#history-chart");
    const width = Math.max(260, Math.floor(box.clientWidth || 600));
    drawnWidth = Math.floor(box.clientWidth);
    const bar = 13;
    const gap = 3;
    const head = 26;
    const groupHeight = SERIES.length * (bar + gap) + 18;
    const height = head + points.length * groupHeight;
    const first = Date.parse(points[0].as_of);
    const fine = Date.parse(points[points.length - 1].as_of) - first < 600_000;
    const labelWidth = fine ? 96 : 70;
    const valueWidth = 58;
    const room = width - labelWidth - valueWidth;
    const max = Math.max(1, ...points.flatMap((p) => SERIES.map(([n]) => Number(p.totals[n]))));
    const chart = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
      "aria-labelledby": "history-svg-title history-caption", id: "history-svg" },
    svg("title", { id: "history-svg-title" },
      "Committed, outstanding and exposure at each checkpoint"));
    SERIES.forEach(([, text, colour], i) => {
      const x = i * Math.min(130, width / 3);
      chart.append(svg("rect", { x, y: 4, width: 12, height: 12, fill: colour }),
        svg("text", { x: x + 16, y: 14, "font-size": 12, fill: "#1b1f24" }, text));
    });
    points.forEach((point, g) => {
      const top = head + g * groupHeight;
      chart.append(svg("text", { x: 0, y: top + 12, "font-size": 12, fill: "#1b1f24" },
        clock(point.as_of, fine)));
      SERIES.forEach(([name, text, colour], i) => {
        const value = point.totals[name];
        const y = top + i * (bar + gap);
        const length = Math.max(1, (Number(value) / max) * room);
        chart.append(
          svg("rect", { x: labelWidth, y, width: length, height: bar, fill: colour,
            "data-series": name },
          svg("title", {}, `${text} at ${point.as_of}: ${Ledger.money(value)} USD`)),
          svg("text", { x: labelWidth + length + 4, y: y + bar - 2, "font-size": 11,
            fill: "#1b1f24", "data-value": name }, Ledger.compact(value)));
      });
    });
    box.replaceChildren(chart);
  }

  // Drawn to the box's width, and again whenever that width changes (a rotated phone, the
  // page shown after the key was accepted).
  let drawn = null;
  let drawnWidth = 0;
  const watcher = new ResizeObserver(([entry]) => {
    const width = Math.floor(entry.contentRect.width);
    if (drawn && width > 0 && width !== drawnWidth) draw(drawn);
  });

  async function history() {
    const times = await moments();
    const points = await Promise.all(times.map((moment) =>
      Ledger.getJson("/v1/portfolio" + Ledger.query({ as_of: moment }))));
    drawn = points;
    draw(points);
    watcher.observe($("#history-chart"));
    Ledger.fillTable($("#history-table tbody"), points, (point, cell, tr) => {
      tr.dataset.asOf = point.as_of;
      cell(el("time", { datetime: point.as_of }, point.as_of.replace("T", " ")));
      cell(String(point.position));
      for (const [name] of SERIES) cell(Ledger.amount(point.totals[name]),
        { "data-field": name });
    });
  }

  return { licenses, history };
})();
