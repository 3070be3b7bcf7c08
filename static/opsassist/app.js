/* OpsAssist pages: render from JSON, stay live over /ws/incidents/. No dependencies (Chart.js on the dashboard). */
"use strict";
const OpsAssist = (() => {
  const $ = (sel, root = document) => root.querySelector(sel);
  const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));
  const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  const data = (id) => JSON.parse(document.getElementById(id).textContent);
  const UNRESOLVED = ["open", "acknowledged"];
  const MOVES = { open: ["acknowledged", "resolved"], acknowledged: ["resolved", "open"], resolved: ["closed", "open"], closed: [] };

  function csrf() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  async function api(method, url, body) {
    const response = await fetch(url, {
      method, credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrf() },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    const json = text ? JSON.parse(text) : null;
    if (!response.ok) throw new Error((json && json.detail) || `HTTP ${response.status}`);
    return json;
  }

  function showError(error) {
    const box = $("#action-error");
    if (!box) return;
    box.textContent = error ? error.message || String(error) : "";
    box.hidden = !error;
  }

  // --- live updates -------------------------------------------------------------------------------
  const listeners = {};
  const on = (type, fn) => (listeners[type] = listeners[type] || []).push(fn);
  let retry = 500;
  function connect() {
    const status = $("#live-status");
    const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/incidents/`);
    ws.onopen = () => { retry = 500; if (status) { status.textContent = "live"; status.className = "live on"; } };
    ws.onmessage = (e) => {
      const msg = JSON.parse(e.data);
      (listeners[msg.type] || []).forEach((fn) => fn(msg.incident || msg.monitor, msg));
      document.dispatchEvent(new CustomEvent("opsassist:message", { detail: msg }));
    };
    ws.onclose = () => {
      if (status) { status.textContent = "reconnecting…"; status.className = "live off"; }
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 10000);
    };
    setInterval(() => ws.readyState === 1 && ws.send(JSON.stringify({ type: "ping" })), 25000);
  }

  // --- formatting ---------------------------------------------------------------------------------
  function duration(seconds) {
    if (seconds === null || seconds === undefined || seconds === "" || isNaN(seconds)) return "–";
    seconds = Math.max(0, Math.round(seconds));
    const d = Math.floor(seconds / 86400), h = Math.floor((seconds % 86400) / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    if (d) return `${d}d ${h}h`;
    if (h) return `${h}h ${m}m`;
    if (m) return `${m}m ${s}s`;
    return `${s}s`;
  }
  // Times show in the viewer's zone (their profile's, else UTC: <body data-tz>) with the zone named.
  const TZ = document.body.dataset.tz || "UTC";
  const whenFormat = new Intl.DateTimeFormat(undefined, { timeZone: TZ, dateStyle: "medium", timeStyle: "short" });
  const when = (iso) => (iso ? `${whenFormat.format(new Date(iso))} ${TZ}` : "–");

  // Wall-clock time in TZ <-> instants, for <input type="datetime-local"> (which has no zone).
  function zoneOffsetMs(date) {
    const parts = Object.fromEntries(new Intl.DateTimeFormat("en-US", { timeZone: TZ, hourCycle: "h23", year: "numeric",
      month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" })
      .formatToParts(date).map((p) => [p.type, p.value]));
    const wall = Date.UTC(parts.year, parts.month - 1, parts.day, parts.hour, parts.minute, parts.second);
    return wall - Math.floor(date.getTime() / 1000) * 1000;
  }
  function wallToIso(value) {
    if (!value) return null;
    const asUtc = Date.parse(`${value}Z`);
    let instant = asUtc - zoneOffsetMs(new Date(asUtc));
    instant = asUtc - zoneOffsetMs(new Date(instant));  // second pass: right across a DST change
    return new Date(instant).toISOString();
  }
  function isoToWall(iso) {
    const date = new Date(iso);
    return new Date(date.getTime() + zoneOffsetMs(date)).toISOString().slice(0, 16);
  }
  function tick() {
    const now = Date.now();
    $$("[data-since]").forEach((el) => { el.textContent = duration((now - Date.parse(el.dataset.since)) / 1000); });
  }
  const sev = (i) => `<span class="badge sev sev-${esc(i.severity)}" title="${esc(i.severity)}">${esc(i.priority)} ${esc(i.severity)}</span>`;
  const statusBadge = (s) => `<span class="badge status status-${esc(s)}">${esc(s)}</span>`;

  // Live messages do not say who analysed an incident: remember the flag from the page's first state.
  const analysedByAi = new Set();
  function aiFlag(i) {
    if (i.ai_analysed) analysedByAi.add(i.id);
    return analysedByAi.has(i.id);
  }

  function incidentRow(i, column, selectable = false) {
    const age = UNRESOLVED.includes(i.status) ? `<span data-since="${esc(i.detected_at)}"></span>` : esc(duration(i.duration_seconds));
    const last = column === "detected" ? `<time datetime="${esc(i.detected_at)}">${esc(when(i.detected_at))}</time>` : age;
    const pick = selectable ? `<td class="c-pick"><input type="checkbox" data-select="${i.id}" aria-label="Select #${i.id}"></td>` : "";
    return `<tr data-incident-id="${i.id}" class="sev-row-${esc(i.severity)}">${pick}<td class="c-sev">${sev(i)}</td>
      <td class="c-title"><a href="/incidents/${i.id}/">#${i.id} ${esc(i.title)}</a>${aiFlag(i) ? ' <span class="badge ai" title="Analysed by Claude">🤖</span>' : ""}</td>
      <td class="c-service">${esc(i.service)}</td><td class="c-source">${esc(i.source)}</td>
      <td class="c-status">${statusBadge(i.status)}</td><td class="c-assignee">${esc(i.assigned_to || "—")}</td><td class="c-when">${last}</td></tr>`;
  }

  function upsert(tbody, incident, { prepend = false, keep = () => true, limit = 0, column, selectable = false } = {}) {
    const existing = tbody.querySelector(`tr[data-incident-id="${incident.id}"]`);
    if (!keep(incident)) { if (existing) existing.remove(); return; }
    const checked = existing && existing.querySelector("[data-select]:checked");
    const html = incidentRow(incident, column, selectable);
    if (existing) {
      existing.outerHTML = html;
      if (checked) tbody.querySelector(`[data-select="${incident.id}"]`).checked = true;
    }
    else if (prepend) tbody.insertAdjacentHTML("afterbegin", html);
    if (limit) $$("tr", tbody).slice(limit).forEach((tr) => tr.remove());
  }

  function sparkline(values) {
    if (!values || !values.length) return "";
    const w = 120, h = 28, step = values.length > 1 ? w / (values.length - 1) : w;
    const points = values.map((v, i) => `${(i * step).toFixed(1)},${(h - (v / 100) * h).toFixed(1)}`).join(" ");
    return `<svg class="spark" viewBox="0 0 ${w} ${h}" width="${w}" height="${h}" aria-hidden="true"><polyline points="${points}"/></svg>`;
  }

  // Human units from a metric's name: *_bytes in MiB, *_ms in ms, *_percent in %, *_seconds as a duration.
  const BYTE_METRICS = ["used_memory", "memory_limit", "maxmemory", "used_memory_rss"];  // Redis INFO names
  function human(key, value) {
    if (typeof value !== "number") return [key.replace(/_/g, " "), String(value)];
    const mib = (v) => `${(v / 1048576).toFixed(1)} MiB`;
    if (BYTE_METRICS.includes(key)) return [key.replace(/_/g, " "), mib(value)];
    const units = [[/_bytes$/, mib], [/_ms$/, (v) => `${Math.round(v)} ms`],
      [/_percent$/, (v) => `${v} %`], [/_seconds$/, (v) => duration(v)]];
    const found = units.find(([re]) => re.test(key));
    return found ? [key.replace(found[0], "").replace(/_/g, " "), found[1](value)] : [key.replace(/_/g, " "), String(value)];
  }
  function metricsHtml(metrics) {
    return Object.entries(metrics || {}).filter(([, v]) => typeof v !== "object")
      .map(([k, v]) => { const [label, text] = human(k, v); return `<span>${esc(label)}: <strong>${esc(text)}</strong></span>`; }).join(" ");
  }

  // A line chart of {at, value} points (0-100); a gap longer than gapMs breaks the line.
  function lineChart(points, gapMs, label) {
    const w = 600, h = 160, pad = 4;
    const valid = points.filter((p) => p.value !== null && p.value !== undefined);
    if (!valid.length) return `<p class="muted">No data yet.</p>`;
    const t0 = Date.parse(valid[0].at), t1 = Math.max(Date.parse(valid[valid.length - 1].at), t0 + 1);
    const x = (t) => pad + ((t - t0) / (t1 - t0)) * (w - 2 * pad), y = (v) => h - pad - (v / 100) * (h - 2 * pad);
    let d = "", last = null;
    valid.forEach((p) => {
      const t = Date.parse(p.at);
      d += `${last === null || t - last > gapMs ? "M" : "L"}${x(t).toFixed(1)},${y(p.value).toFixed(1)} `;
      last = t;
    });
    return `<svg class="chart-svg" viewBox="0 0 ${w} ${h}" role="img" aria-label="${esc(label)}" preserveAspectRatio="none">
      <line x1="0" x2="${w}" y1="${y(100)}" y2="${y(100)}" class="grid"/><line x1="0" x2="${w}" y1="${y(50)}" y2="${y(50)}" class="grid"/>
      <path d="${d}"/></svg><p class="muted small chart-axis"><span>${esc(when(valid[0].at))}</span><span>${esc(when(valid[valid.length - 1].at))}</span></p>`;
  }

  function monitorTile(m, opts = {}) {
    const metrics = metricsHtml(m.metrics);
    const drill = m.drill;
    const buttons = opts.canChange ? `<div class="actions">
        <button type="button" class="secondary" data-check="${esc(m.name)}">Check now</button>
        ${opts.simulation && drill ? `<button type="button" data-drill="${esc(m.name)}" data-failure="${drill}">Drill: ${drill.replace("_", " ")}</button>
        <button type="button" class="secondary" data-clear="${esc(m.name)}">Clear drill</button>` : ""}</div>` : "";
    const avail = m.availability || {};
    return `<article class="tile status-${esc(m.status)}" data-monitor="${esc(m.name)}">
      <header><strong><a href="/monitors/${encodeURIComponent(m.name)}/">${esc(m.name)}</a></strong> <span class="muted">${esc(m.kind)}</span>
      <span class="badge status-${esc(m.status)}">${esc(m.status)}</span></header>
      <div class="health" aria-label="health ${esc(m.health ?? "unknown")} percent">${m.health ?? "–"}<small>%</small></div>
      ${sparkline(m.sparkline)}
      <p class="metrics">${metrics}</p>
      ${m.open_incident_id ? `<p><a href="/incidents/${m.open_incident_id}/">Incident #${m.open_incident_id}</a></p>` : ""}
      ${m.last_error ? `<p class="error small">${esc(m.last_error)}</p>` : ""}
      <p class="muted small">last check ${m.last_checked_at ? `<time datetime="${esc(m.last_checked_at)}">${esc(when(m.last_checked_at))}</time>` : "never"}${m.enabled === false ? " · paused" : ""}</p>
      <p class="muted small" title="share of checks that passed">healthy checks: 24 h ${avail["24h"] ?? "–"} % · 7 d ${avail["7d"] ?? "–"} %</p>${buttons}</article>`;
  }

  function renderMonitors(container, monitors, opts) {
    const sparks = {};
    $$("[data-monitor]", container).forEach((t) => (sparks[t.dataset.monitor] = t.__spark));
    container.innerHTML = monitors.map((m) => monitorTile(m, opts)).join("") || "<p>No monitors yet.</p>";
    monitors.forEach((m) => { const t = container.querySelector(`[data-monitor="${CSS.escape(m.name)}"]`); if (t) t.__spark = m.sparkline || []; });
  }

  function liveMonitors(container, monitors, opts) {
    const byName = Object.fromEntries(monitors.map((m) => [m.name, m]));
    renderMonitors(container, monitors, opts);
    on("monitor.updated", (m) => {
      const old = byName[m.name] || {};
      m.sparkline = [...(old.sparkline || []), m.health].slice(-30);
      byName[m.name] = m;
      renderMonitors(container, Object.values(byName).sort((a, b) => a.name.localeCompare(b.name)), opts);
    });
    container.addEventListener("click", async (e) => {
      const b = e.target.closest("button");
      if (!b) return;
      b.disabled = true;
      try {
        showError(null);
        if (b.dataset.check) await api("POST", `/api/v1/monitors/${b.dataset.check}/check`);
        if (b.dataset.drill) await api("POST", `/api/v1/monitors/${b.dataset.drill}/simulate`, { failure: b.dataset.failure });
        if (b.dataset.clear) await api("POST", `/api/v1/monitors/${b.dataset.clear}/simulate/clear`);
      } catch (err) { showError(err); } finally { b.disabled = false; }
    });
  }

  // --- pages --------------------------------------------------------------------------------------
  const pages = {};

  pages.dashboard = () => {
    const active = $("#active-incidents tbody"), recent = $("#recent-incidents tbody");
    const unresolved = (i) => UNRESOLVED.includes(i.status);
    const refreshEmpty = () => {
      const n = $$("tr", active).length;
      $("#active-empty").hidden = n > 0;
      $("#stat-active").textContent = n;
    };
    data("active-data").forEach((i) => active.insertAdjacentHTML("beforeend", incidentRow(i)));
    data("recent-data").forEach((i) => recent.insertAdjacentHTML("beforeend", incidentRow(i)));
    refreshEmpty();
    on("incident.created", (i) => {
      upsert(active, i, { prepend: true, keep: unresolved });
      upsert(recent, i, { prepend: true, limit: 20 });
      $("#stat-24h").textContent = Number($("#stat-24h").textContent) + 1;
      refreshEmpty();
    });
    on("incident.updated", (i) => {
      upsert(active, i, { prepend: true, keep: unresolved });
      upsert(recent, i);
      refreshEmpty();
    });
    liveMonitors($("#monitor-tiles"), data("monitors-data"), {});
    $$("[data-duration]").forEach((el) => (el.textContent = duration(parseFloat(el.dataset.duration))));
    reliability(data("reliability-data"), data("reliability-total"));
    const drawn = charts(data("charts-data"));
    // The reliability table and the charts follow incident changes: fetched again a second after the first
    // change, then at most once a second while changes keep coming (a storm makes one fetch a second).
    let pending = null;
    const refresh = () => {
      if (pending) return;
      pending = setTimeout(async () => {
        pending = null;
        try {
          const state = await api("GET", $("[data-live-url]").dataset.liveUrl);
          reliability(state.reliability, state.reliability_total);
          if (drawn) updateCharts(drawn, state.charts);
        } catch (err) { /* the next change tries again */ }
      }, 1000);
    };
    on("incident.created", refresh);
    on("incident.updated", refresh);
    if ($("[data-live-url]").dataset.stale === "1") refresh();  // rendered from a shared copy: fetch it fresh
  };

  function reliability(rows, total) {
    const cell = (w) => `<td><span class="sla sla-${esc(w.sla_status)}">${Number(w.availability_percent).toFixed(2)} %</span></td>`;
    $("#reliability tbody").innerHTML = rows.length
      ? rows.map((r) => `<tr data-service="${esc(r.service)}"><td>${esc(r.service)}</td>${cell(r.day)}${cell(r.week)}<td>${r.incidents_30d}</td></tr>`).join("")
      : `<tr><td colspan="4">No incidents in the last 30 days.</td></tr>`;
    const more = $("#reliability-more");
    more.hidden = total <= rows.length;
    more.textContent = `The ${rows.length} services with the most downtime of ${total} with incidents in 30 days; all of them: /api/v1/incidents/analytics.`;
  }

  function updateCharts(drawn, c) {
    drawn.perDay.data.labels = c.days;
    drawn.perDay.data.datasets.forEach((d) => (d.data = c.per_day[d.label]));
    drawn.mttx.data.labels = c.days;
    drawn.mttx.data.datasets[0].data = c.mtta_minutes;
    drawn.mttx.data.datasets[1].data = c.mttr_minutes;
    drawn.perDay.update();
    drawn.mttx.update();
  }

  function charts(c) {
    if (!window.Chart) return null;
    const colors = { critical: "#b3261e", high: "#d35400", medium: "#b58900", low: "#2e7d32" };
    const perDay = new Chart($("#chart-per-day"), {
      type: "bar",
      data: { labels: c.days, datasets: Object.keys(colors).map((s) => ({ label: s, data: c.per_day[s], backgroundColor: colors[s] })) },
      options: { animation: false, responsive: true, scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } },
    });
    const mttx = new Chart($("#chart-mttx"), {
      type: "line",
      data: { labels: c.days, datasets: [
        // No line across days without incidents: a gap is a gap, not a trend.
        { label: "MTTA", data: c.mtta_minutes, borderColor: "#2457c5", spanGaps: false },
        { label: "MTTR", data: c.mttr_minutes, borderColor: "#8e44ad", spanGaps: false }] },
      options: { animation: false, responsive: true, scales: { y: { beginAtZero: true } } },
    });
    return { perDay, mttx };
  }

  pages.incidents = () => {
    const table = $("#incident-list"), tbody = $("tbody", table);
    const selectable = table.dataset.bulk === "1";
    if (window.matchMedia("(max-width: 640px)").matches) $$("details.filters-box").forEach((d) => (d.open = false));
    data("incidents-data").forEach((i) => tbody.insertAdjacentHTML("beforeend", incidentRow(i, "detected", selectable)));
    const prepend = table.dataset.live === "prepend";
    on("incident.created", (i) => prepend && upsert(tbody, i, { prepend: true, column: "detected", limit: 50, selectable }));
    on("incident.updated", (i) => upsert(tbody, i, { column: "detected", selectable }));
    if (!selectable) return;
    const selected = () => $$("[data-select]:checked", tbody).map((c) => Number(c.dataset.select));
    const count = () => { $("#bulk-count").textContent = selected().length ? `${selected().length} selected` : ""; };
    tbody.addEventListener("change", count);
    $("#select-all").addEventListener("change", (e) => { $$("[data-select]", tbody).forEach((c) => (c.checked = e.target.checked)); count(); });
    // Bulk: the same status move as on the incident page, one request per incident; failures are listed.
    $$("button[data-bulk]").forEach((b) => b.addEventListener("click", async () => {
      const ids = selected();
      if (!ids.length) return;
      b.disabled = true;
      showError(null);
      const results = await Promise.allSettled(ids.map((id) => api("PATCH", `/api/v1/incidents/${id}/status`, { status: b.dataset.bulk })));
      results.forEach((r) => r.status === "fulfilled" && upsert(tbody, r.value, { column: "detected", selectable }));
      const failed = results.map((r, n) => (r.status === "rejected" ? `#${ids[n]}: ${r.reason.message}` : null)).filter(Boolean);
      if (failed.length) showError(new Error(failed.join(" · ")));
      b.disabled = false;
      count();
    }));
  };

  pages.incident = () => {
    const root = $("#incident");
    const id = Number(root.dataset.incidentId);
    const canChange = root.dataset.canChange === "1", canApprove = root.dataset.canApprove === "1";
    let current = data("incident-data");
    let aiAnalysed = Boolean(current.ai_analysed), runInFlight = false, latestProposal = null;
    const IN_FLIGHT = ["proposed", "approved", "executing", "verifying"];
    const start = $("#start-remediation");

    function renderHead(i) {
      current = i;
      $$("[data-field]", root).forEach((el) => {
        const v = i[el.dataset.field];
        el.textContent = el.tagName === "TIME" ? when(v) : (v ?? "—") || "—";
      });
      const sevEl = $(".sev", root);
      sevEl.className = `badge sev sev-${i.severity}`;
      sevEl.textContent = `${i.priority} ${i.severity}`;
      const st = $(".status", root);
      st.className = `badge status status-${i.status}`;
      const ageEl = $("[data-age]", root);
      if (UNRESOLVED.includes(i.status)) ageEl.dataset.since = i.detected_at;
      else { delete ageEl.dataset.since; ageEl.textContent = duration(i.duration_seconds); }
      $$("[data-move]", root).forEach((b) => { b.hidden = !canChange || !MOVES[i.status].includes(b.dataset.move); });
      $("#recommended-actions").innerHTML = (i.recommended_actions || []).map((a) => `<li>${esc(a)}</li>`).join("");
      // No "Propose fix" while a proposal waits or a run is under way: each click would add another run.
      // Nor when the latest analysis proposes no action: each click would only add a rejected run.
      const offerable = canChange && UNRESOLVED.includes(i.status) && !runInFlight;
      if (start) start.hidden = !offerable || latestProposal === "none";
      if ($("#nothing-to-run")) $("#nothing-to-run").hidden = !offerable || latestProposal !== "none";
      $("#ai-badge").hidden = !aiAnalysed;
      $("#postmortem-link").hidden = UNRESOLVED.includes(i.status) && !$("#postmortem-link").dataset.saved;
      if ($("#assignee")) $("#assignee").value = i.assigned_to || "";
      if ($("#severity")) $("#severity").value = i.severity;
      const apply = $("#apply-severity");
      if (apply) apply.hidden = !i.suggested_severity || i.suggested_severity === i.severity;
      document.title = `#${i.id} ${i.title} · OpsAssist`;
    }

    const timelineItem = (e) => `<li><time datetime="${esc(e.at)}">${esc(when(e.at))}</time>
        <span class="badge kind-${esc(e.kind)}">${esc(e.kind.replace("_", " "))}</span> <strong>${esc(e.actor)}</strong> ${esc(e.text)}</li>`;

    async function loadDetail() {
      const d = await api("GET", `/api/v1/incidents/${id}`);
      aiAnalysed = aiAnalysed || d.timeline.some((e) => e.kind === "analysis" && e.actor === "ai");
      const analyses = d.timeline.filter((e) => e.kind === "analysis" && e.data && e.data.proposal);
      latestProposal = analyses.length ? analyses[analyses.length - 1].data.proposal.action : null;
      renderHead(d);
      $("#timeline").innerHTML = [...d.timeline].reverse().map(timelineItem).join("");
      $("#notes").innerHTML = d.notes.map((n) => `<li><strong>${esc(n.author || "system")}</strong> <span class="muted">${esc(when(n.created_at))}</span><br>${esc(n.text)}</li>`).join("") || "<li class='muted'>No notes yet.</li>";
      const rows = [...d.alerts.map((a) => ({ at: a.updated_at, level: a.status, message: `${a.summary} (${a.fingerprint})` })),
        ...d.events.map((e) => ({ at: e.timestamp, level: e.level, message: e.message }))];
      $("#signals tbody").innerHTML = rows.map((r) => `<tr><td>${esc(when(r.at))}</td><td>${esc(r.level)}</td><td>${esc(r.message)}</td></tr>`).join("")
        || "<tr><td colspan='3' class='muted'>No events or alerts (see the timeline).</td></tr>";
    }

    const runFacts = (label, facts) => (facts && Object.keys(facts).length
      ? `<p class="small"><strong>${label}:</strong> ${metricsHtml(facts) || esc(JSON.stringify(facts))}</p>` : "");

    async function loadRuns() {
      const runs = await api("GET", `/api/v1/incidents/${id}/remediations`);
      runInFlight = runs.some((r) => IN_FLIGHT.includes(r.status));
      renderHead(current);
      const steps = ["proposed", "approved", "executing", "verifying", "succeeded"];
      $("#remediation-runs").innerHTML = runs.map((r) => {
        const reached = r.status === "failed" || r.status === "rejected" ? [] : steps.slice(0, steps.indexOf(r.status) + 1);
        const decide = r.status === "proposed" && r.action && canApprove ? `<div class="actions">
          <button type="button" data-approve="${r.id}">Approve</button>
          <button type="button" class="secondary" data-reject="${r.id}">Reject</button></div>` : "";
        const who = `proposed by ${esc(r.proposed_by_user || r.proposed_by)}` + (r.decided_by ? `, decided by ${esc(r.decided_by)}` : "");
        const ran = r.argv && r.argv.length ? `<p class="small">ran <code>${esc(r.argv.join(" "))}</code> → exit ${esc(r.exit_status)}</p>` : "";
        return `<div class="run run-${esc(r.status)}" data-run="${r.id}">
          <p><strong>${esc(r.action || "analysing…")}</strong> <span class="badge">${esc(r.proposed_by)}</span> ${statusBadge(r.status)}</p>
          <p class="muted">${esc(r.rationale)}</p><p class="muted small">${who}</p>${ran}
          <ol class="steps">${steps.map((s) => `<li class="${reached.includes(s) ? "done" : ""}">${s}</li>`).join("")}</ol>
          ${runFacts("Result", r.result)}${runFacts("Verification", r.verification)}
          ${r.error ? `<p class="error small">${esc(r.error)}</p>` : ""}${decide}</div>`;
      }).join("") || "<p class='muted'>No remediation yet.</p>";
      if (current.source === "health_check") await loadCatalog(current.component);
    }

    // What may run here (read-only): the operator's commands and the admins' policies for this monitor.
    async function loadCatalog(monitor) {
      const rows = await api("GET", `/api/v1/remediation/actions?monitor=${encodeURIComponent(monitor)}`);
      $("#remediation-actions").innerHTML = rows.map((a) => {
        const runsText = a.runs ? ` runs: <code>${esc(a.runs)}</code>` : (a.offered ? "" : " (no command configured)");
        const p = a.policy;
        const policy = p ? ` · policy ${p.id} by ${esc(p.set_by)}: ${p.auto_approve ? "auto-approve" : "needs approval"}${p.allow_flushdb ? ", FLUSHDB allowed" : ""}` : "";
        return `<li><strong>${esc(a.action)}</strong>${runsText}${policy}</li>`;
      }).join("");
    }

    const reload = debounce(() => Promise.all([loadDetail(), loadRuns()]).catch(showError), 150);
    on("incident.updated", (i) => { if (i.id === id) { renderHead(i); reload(); } });
    // Notifications and escalation steps are written by workers: append them as they happen.
    on("timeline.added", (_, m) => { if (m.incident_id === id) $("#timeline").insertAdjacentHTML("afterbegin", timelineItem(m.entry)); });

    root.addEventListener("click", async (e) => {
      const b = e.target.closest("button");
      if (!b) return;
      b.disabled = true;
      showError(null);
      try {
        if (b.dataset.move) renderHead(await api("PATCH", `/api/v1/incidents/${id}/status`, { status: b.dataset.move }));
        if (b.id === "start-remediation") await api("POST", `/api/v1/incidents/${id}/remediations`);
        if (b.id === "reanalyze") renderHead(await api("POST", `/api/v1/incidents/${id}/analyze`));
        if (b.id === "assign-me") renderHead(await api("PATCH", `/api/v1/incidents/${id}`, { assigned_to: root.dataset.me }));
        if (b.id === "apply-severity") renderHead(await api("PATCH", `/api/v1/incidents/${id}`, { severity: current.suggested_severity }));
        if (b.dataset.approve) await api("POST", `/api/v1/remediations/${b.dataset.approve}/approve`);
        if (b.dataset.reject) await api("POST", `/api/v1/remediations/${b.dataset.reject}/reject`, { reason: "" });
        reload();
      } catch (err) { showError(err); } finally { b.disabled = false; }
    });
    root.addEventListener("change", async (e) => {
      const field = { assignee: "assigned_to", severity: "severity" }[e.target.id];
      if (!field) return;
      showError(null);
      try { renderHead(await api("PATCH", `/api/v1/incidents/${id}`, { [field]: e.target.value || null })); reload(); }
      catch (err) { showError(err); renderHead(current); }
    });
    $("#note-form").addEventListener("submit", async (e) => {
      e.preventDefault();
      const text = $("#note-text").value.trim();
      if (!text) return;
      try { await api("POST", `/api/v1/incidents/${id}/notes`, { text }); $("#note-text").value = ""; reload(); }
      catch (err) { showError(err); }
    });
    renderHead(current);
    reload();
  };


  // --- forms that talk to the REST API --------------------------------------------------------------
  // <form data-api="/api/v1/..." data-method="POST|PATCH">: named fields become JSON (data-type: int, list,
  // multi, bool, target, local-datetime); [data-group=<name>] rows become a list under <name>.
  function fieldValue(el) {
    const type = el.dataset.type;
    const scale = Number(el.dataset.scale || 1);
    if (type === "int") return el.value === "" ? null : Number(el.value);
    if (type === "number") return el.value === "" ? null : (scale === 1 ? Number(el.value) : Math.round(Number(el.value) * scale));
    if (type === "list") return el.value.split(/[,\n]/).map((v) => v.trim()).filter(Boolean);
    if (type === "multi") return Array.from(el.selectedOptions).map((o) => o.value);
    if (type === "bool") return el.checked;
    if (type === "local-datetime") return wallToIso(el.value);
    return el.value;
  }
  function collect(root, skipGroups) {
    const body = {};
    $$("[name]", root).forEach((el) => {
      const group = el.closest("[data-group]");
      if (skipGroups && group && group !== root) return;
      if (el.matches(":disabled") || (el.hasAttribute("data-optional") && el.value === "")) return;
      const object = el.closest("[data-object]");
      if (object) {
        // Settings of a kind: only the keys given (the kind's defaults apply to the rest).
        const value = fieldValue(el);
        if (value === null || value === "" || (Array.isArray(value) && !value.length)) return;
        (body[object.dataset.object] = body[object.dataset.object] || {})[el.name] = value;
        return;
      }
      if (el.dataset.type === "target") {
        const [kind, ...rest] = el.value.split(":");
        body[kind] = kind === "user" ? rest.join(":") : Number(rest.join(":"));
      } else body[el.name] = fieldValue(el);
    });
    return body;
  }
  function formBody(form) {
    const body = collect(form, true);
    $$("[data-rows]", form).forEach((rows) => {
      body[rows.dataset.rows] = $$(":scope > [data-group]", rows).map((row) => collect(row, false));
    });
    return body;
  }
  function flattenErrors(errors, prefix = "") {
    if (Array.isArray(errors)) {
      return errors.flatMap((e, i) => (typeof e === "object" && e ? flattenErrors(e, `${prefix}${i + 1}.`) : [`${prefix.replace(/\.$/, "")}${prefix ? ": " : ""}${e}`]));
    }
    if (errors && typeof errors === "object") return Object.entries(errors).flatMap(([k, v]) => flattenErrors(v, `${prefix}${k === "non_field_errors" ? "" : k + "."}`));
    return [String(errors)];
  }
  async function send(method, url, body) {
    const response = await fetch(url, {
      method, credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrf() },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let json = null;
    try { json = text ? JSON.parse(text) : null; } catch (e) { json = { detail: `HTTP ${response.status}` }; }
    if (!response.ok) {
      const error = new Error(flattenErrors(json && json.detail && Object.keys(json).length === 1 ? json.detail : json || `HTTP ${response.status}`).join(" · "));
      error.status = response.status;
      error.fields = json && json.errors;
      throw error;
    }
    return json;
  }
  function formError(form, error) {
    const box = $(".form-error", form) || $("#action-error");
    if (!box) return;
    box.textContent = error ? (error.status === 403 ? "You are not allowed to change this. " : "") + error.message : "";
    box.hidden = !error;
    fieldErrors(form, error && error.fields);
  }
  // Each message of a 400 also next to the field it names ("end", "config.topic": the enabled kind's topic).
  function fieldErrors(form, errors) {
    if (!form.querySelectorAll) return;
    $$(".field-error", form).forEach((el) => el.remove());
    $$("[aria-invalid]", form).forEach((el) => el.removeAttribute("aria-invalid"));
    Object.entries(errors || {}).forEach(([key, messages]) => {
      const [object, name] = key.includes(".") ? key.split(".", 2) : [null, key];
      const scope = object ? $$(`[data-object="${CSS.escape(object)}"]`, form).find((f) => !f.disabled) : form;
      const input = scope && $$(`[name="${CSS.escape(name)}"]`, scope).find((el) => !el.closest("[data-group]"));
      if (!input || !Array.isArray(messages)) return;
      input.setAttribute("aria-invalid", "true");
      const note = document.createElement("span");
      note.className = "field-error error small";
      note.textContent = messages.join(" ");
      input.insertAdjacentElement("afterend", note);
    });
  }
  // A kind select enables only the chosen kind's settings.
  function kindForms() {
    $$("select[data-kind-select]").forEach((select) => {
      const form = select.closest("form");
      const show = () => $$("fieldset[data-kind]", form).forEach((f) => { f.disabled = f.hidden = f.dataset.kind !== select.value; });
      select.addEventListener("change", show);
      show();
    });
  }

  function apiForms() {
    document.addEventListener("submit", async (e) => {
      const form = e.target.closest("form[data-api]");
      if (!form) return;
      e.preventDefault();
      const button = $("button[type=submit]", form);
      if (button) button.disabled = true;
      formError(form, null);
      try {
        const saved = await send(form.dataset.method || "POST", form.dataset.api, formBody(form));
        // data-next="event": the page shows what came back (a link shown once) instead of reloading.
        if (form.dataset.next === "event") form.dispatchEvent(new CustomEvent("opsassist:saved", { bubbles: true, detail: saved }));
        else if (form.dataset.next === "incident" && saved && saved.id) location.href = `/incidents/${saved.id}/`;
        else if (form.dataset.nextUrl && saved) location.href = form.dataset.nextUrl.replace("{name}", encodeURIComponent(saved.name));
        else location.reload();
      } catch (err) { formError(form, err); } finally { if (button) button.disabled = false; }
    });
    document.addEventListener("click", async (e) => {
      const b = e.target.closest("button");
      if (!b) return;
      if (b.dataset.confirm && !b.dataset.apiDelete && !confirm(b.dataset.confirm)) { e.preventDefault(); return; }
      if (b.dataset.apiDelete) {
        if (b.dataset.confirm && !confirm(b.dataset.confirm)) return;
        try {
          await send("DELETE", b.dataset.apiDelete);
          if (b.dataset.nextUrl) location.href = b.dataset.nextUrl; else location.reload();
        } catch (err) {
          // Next to the button when it sits in a form or an item, else in the page's error line.
          const scope = b.closest("form, .item");
          if (scope || !$("#action-error")) formError(scope || document, err); else showError(err);
        }
      }
      if (b.dataset.addRow) {
        const rows = $(`[data-rows="${b.dataset.addRow}"]`, b.closest("form"));
        rows.append($(`template[data-template="${b.dataset.addRow}"]`).content.cloneNode(true));
      }
      if (b.hasAttribute("data-remove-row")) b.closest("[data-group]").remove();
      if (b.hasAttribute("data-move-up")) {
        const row = b.closest("[data-group]");
        if (row.previousElementSibling) row.parentNode.insertBefore(row, row.previousElementSibling);
      }
    });
  }

  // --- time zone: the browser's guess until the person chooses one -----------------------------------
  function guessTimeZone() {
    const guess = Intl.DateTimeFormat().resolvedOptions().timeZone;
    const shown = $("#browser-tz");
    if (shown) shown.textContent = guess;
    $$("[data-guess-tz]").forEach((el) => { if (!el.value || !el.dataset.chosen) el.value = guess; });
    if (document.body.dataset.tzChosen !== "0" || !guess) return;
    fetch("/profile/time-zone-guess", {
      method: "POST", credentials: "same-origin", headers: { "X-CSRFToken": csrf() },
      body: new URLSearchParams({ time_zone: guess }),
    }).then((r) => r.ok && r.json()).then((saved) => { if (saved && saved.time_zone && saved.time_zone !== TZ) location.reload(); });
  }

  // Keyboard shortcuts: a acknowledge, r resolve (incident page), / search, ? help.
  function shortcuts() {
    // The search box sits in the folded filters: unfold them first, a closed <details> cannot take focus.
    const focusSearch = (input) => { const box = input.closest("details"); if (box) box.open = true; input.focus(); };
    document.addEventListener("keydown", (e) => {
      if (e.ctrlKey || e.metaKey || e.altKey || e.target.closest("input, textarea, select, [contenteditable]")) return;
      const visible = (sel) => { const b = $(sel); return b && !b.hidden ? b : null; };
      if (e.key === "a" && visible("button[data-move=acknowledged]")) visible("button[data-move=acknowledged]").click();
      else if (e.key === "r" && visible("button[data-move=resolved]")) visible("button[data-move=resolved]").click();
      else if (e.key === "/") {
        e.preventDefault();
        const search = $("input[name=q]");
        if (search) focusSearch(search); else location.href = "/incidents/#search";
      } else if (e.key === "?") {
        const help = $("#shortcuts");
        if (help && help.showModal) help.showModal();
      }
    });
    if (location.hash === "#search" && $("input[name=q]")) focusSearch($("input[name=q]"));
  }

  function navToggle() {
    const button = $(".nav-toggle"), nav = $("#main-nav");
    if (!button || !nav) return;
    button.addEventListener("click", () => {
      const open = button.getAttribute("aria-expanded") !== "true";
      button.setAttribute("aria-expanded", String(open));
      nav.classList.toggle("open", open);
    });
  }

  pages.oncall = () => {
    // "Cover…" on a shift: the form opens filled with that shift and a teammate other than its owner.
    document.addEventListener("click", (e) => {
      const b = e.target.closest("button[data-cover]");
      if (b) {
        const form = $(".cover-form", b.closest("section"));
        form.hidden = false;
        $("[name=schedule]", form).value = b.dataset.schedule;
        $("[name=start]", form).value = isoToWall(b.dataset.start);
        $("[name=end]", form).value = isoToWall(b.dataset.end);
        const who = $("[name=user]", form);
        const other = Array.from(who.options).find((o) => o.value !== b.dataset.current);
        if (other) who.value = other.value;
        who.focus();
      }
      const cancel = e.target.closest("button[data-cancel]");
      if (cancel) cancel.closest("form").hidden = true;
    });
  };

  pages.monitor = () => {
    const root = $("#monitor"), name = root.dataset.monitorName;
    const monitor = data("monitor-data"), history = data("history-data");
    const checks = history.checks.map((c) => ({ at: c.at, value: c.health }));
    const draw = () => {
      $("#chart-checks").innerHTML = lineChart(checks, Math.max(3 * history.interval_seconds * 1000, 60000), "health per check");
      $("#chart-hours").innerHTML = lineChart(history.hours.map((r) => ({ at: r.at, value: r.healthy_percent })), 2 * 3600 * 1000, "healthy checks per hour");
    };
    const show = (m) => {
      $("#monitor-metrics").innerHTML = metricsHtml(m.metrics);
      $("#monitor-health").textContent = m.health ?? "–";
      const st = $("#monitor-status");
      st.textContent = m.status; st.className = `badge status-${m.status}`;
      if (m.last_checked_at) { const t = $("#last-checked"); t.dateTime = m.last_checked_at; t.textContent = when(m.last_checked_at); }
    };
    show(monitor); draw();
    const tbody = $("#incident-list tbody");
    data("incidents-data").forEach((i) => tbody.insertAdjacentHTML("beforeend", incidentRow(i, "detected")));
    if (!tbody.children.length) tbody.innerHTML = "<tr><td class='muted'>No incidents from this monitor.</td></tr>";
    on("monitor.updated", (m) => {
      if (m.name !== name) return;
      show(m);
      if (m.last_checked_at && m.health !== null) { checks.push({ at: m.last_checked_at, value: m.health }); draw(); }
    });
    on("incident.updated", (i) => upsert(tbody, i, { column: "detected" }));
    root.addEventListener("click", async (e) => {
      const b = e.target.closest("button");
      if (!b || !["check-now", "toggle-enabled"].includes(b.id)) return;
      b.disabled = true;
      showError(null);
      try {
        if (b.id === "check-now") await api("POST", `/api/v1/monitors/${encodeURIComponent(name)}/check`);
        if (b.id === "toggle-enabled") { await api("PATCH", `/api/v1/monitors/${encodeURIComponent(name)}`, { enabled: b.dataset.enabled !== "1" }); location.reload(); }
      } catch (err) { showError(err); } finally { b.disabled = false; }
    });
  };

  pages.monitors = () => {
    const container = $("#monitor-tiles");
    liveMonitors(container, data("monitors-data"), {
      simulation: container.dataset.simulation === "1", canChange: container.dataset.canChange === "1",
    });
  };

  function debounce(fn, ms) {
    let timer;
    return () => { clearTimeout(timer); timer = setTimeout(fn, ms); };
  }

  // Each page names itself in <body data-page>; no inline script starts it (the CSP allows none).
  document.addEventListener("DOMContentLoaded", () => {
    const page = pages[document.body.dataset.page];
    apiForms(); kindForms(); navToggle(); guessTimeZone(); shortcuts();
    if (page) page();
    connect(); tick(); setInterval(tick, 1000);
  });
  return { api, pages, on, formError };
})();
