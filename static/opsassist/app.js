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
  const when = (iso) => (iso ? new Date(iso).toLocaleString() : "–");
  function tick() {
    const now = Date.now();
    $$("[data-since]").forEach((el) => { el.textContent = duration((now - Date.parse(el.dataset.since)) / 1000); });
  }
  const sev = (i) => `<span class="badge sev sev-${esc(i.severity)}" title="${esc(i.severity)}">${esc(i.priority)} ${esc(i.severity)}</span>`;
  const statusBadge = (s) => `<span class="badge status status-${esc(s)}">${esc(s)}</span>`;

  function incidentRow(i, column) {
    const age = UNRESOLVED.includes(i.status) ? `<span data-since="${esc(i.detected_at)}"></span>` : esc(duration(i.duration_seconds));
    const last = column === "detected" ? `<time datetime="${esc(i.detected_at)}">${esc(when(i.detected_at))}</time>` : age;
    return `<tr data-incident-id="${i.id}" class="sev-row-${esc(i.severity)}"><td>${sev(i)}</td>
      <td><a href="/incidents/${i.id}/">#${i.id} ${esc(i.title)}</a></td><td>${esc(i.service)}</td><td>${esc(i.source)}</td>
      <td>${statusBadge(i.status)}</td><td>${esc(i.assigned_to || "—")}</td><td>${last}</td></tr>`;
  }

  function upsert(tbody, incident, { prepend = false, keep = () => true, limit = 0, column } = {}) {
    const existing = tbody.querySelector(`tr[data-incident-id="${incident.id}"]`);
    if (!keep(incident)) { if (existing) existing.remove(); return; }
    const html = incidentRow(incident, column);
    if (existing) existing.outerHTML = html;
    else if (prepend) tbody.insertAdjacentHTML("afterbegin", html);
    if (limit) $$("tr", tbody).slice(limit).forEach((tr) => tr.remove());
  }

  function sparkline(values) {
    if (!values || !values.length) return "";
    const w = 120, h = 28, step = values.length > 1 ? w / (values.length - 1) : w;
    const points = values.map((v, i) => `${(i * step).toFixed(1)},${(h - (v / 100) * h).toFixed(1)}`).join(" ");
    return `<svg class="spark" viewBox="0 0 ${w} ${h}" width="${w}" height="${h}" aria-hidden="true"><polyline points="${points}"/></svg>`;
  }

  function monitorTile(m, opts = {}) {
    const metrics = Object.entries(m.metrics || {}).filter(([, v]) => typeof v !== "object")
      .map(([k, v]) => `<span>${esc(k.replace(/_/g, " "))}: <strong>${esc(v)}</strong></span>`).join(" ");
    const drill = m.drill;
    const buttons = opts.canChange ? `<div class="actions">
        <button type="button" class="secondary" data-check="${esc(m.name)}">Check now</button>
        ${opts.simulation && drill ? `<button type="button" data-drill="${esc(m.name)}" data-failure="${drill}">Drill: ${drill.replace("_", " ")}</button>
        <button type="button" class="secondary" data-clear="${esc(m.name)}">Clear drill</button>` : ""}</div>` : "";
    const avail = m.availability || {};
    return `<article class="tile status-${esc(m.status)}" data-monitor="${esc(m.name)}">
      <header><strong>${esc(m.name)}</strong> <span class="muted">${esc(m.kind)}</span>
      <span class="badge status-${esc(m.status)}">${esc(m.status)}</span></header>
      <div class="health" aria-label="health ${esc(m.health ?? "unknown")} percent">${m.health ?? "–"}<small>%</small></div>
      ${sparkline(m.sparkline)}
      <p class="metrics">${metrics}</p>
      ${m.open_incident_id ? `<p><a href="/incidents/${m.open_incident_id}/">Incident #${m.open_incident_id}</a></p>` : ""}
      ${m.last_error ? `<p class="error small">${esc(m.last_error)}</p>` : ""}
      <p class="muted small">24 h ${avail["24h"] ?? "–"} % · 7 d ${avail["7d"] ?? "–"} %</p>${buttons}</article>`;
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
    charts(data("charts-data"));
  };

  function charts(c) {
    if (!window.Chart) return;
    const colors = { critical: "#b3261e", high: "#d35400", medium: "#b58900", low: "#2e7d32" };
    new Chart($("#chart-per-day"), {
      type: "bar",
      data: { labels: c.days, datasets: Object.keys(colors).map((s) => ({ label: s, data: c.per_day[s], backgroundColor: colors[s] })) },
      options: { animation: false, responsive: true, scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } },
    });
    new Chart($("#chart-mttx"), {
      type: "line",
      data: { labels: c.days, datasets: [
        { label: "MTTA", data: c.mtta_minutes, borderColor: "#2457c5", spanGaps: true },
        { label: "MTTR", data: c.mttr_minutes, borderColor: "#8e44ad", spanGaps: true }] },
      options: { animation: false, responsive: true, scales: { y: { beginAtZero: true } } },
    });
  }

  pages.incidents = () => {
    const table = $("#incident-list"), tbody = $("tbody", table);
    data("incidents-data").forEach((i) => tbody.insertAdjacentHTML("beforeend", incidentRow(i, "detected")));
    const prepend = table.dataset.live === "prepend";
    on("incident.created", (i) => prepend && upsert(tbody, i, { prepend: true, column: "detected", limit: 50 }));
    on("incident.updated", (i) => upsert(tbody, i, { column: "detected" }));
  };

  pages.incident = () => {
    const root = $("#incident");
    const id = Number(root.dataset.incidentId);
    const canChange = root.dataset.canChange === "1", canApprove = root.dataset.canApprove === "1";
    let current = data("incident-data");

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
      $("#start-remediation").hidden = !canChange || !UNRESOLVED.includes(i.status);
      document.title = `#${i.id} ${i.title} · OpsAssist`;
    }

    const timelineItem = (e) => `<li><time datetime="${esc(e.at)}">${esc(when(e.at))}</time>
        <span class="badge kind-${esc(e.kind)}">${esc(e.kind.replace("_", " "))}</span> <strong>${esc(e.actor)}</strong> ${esc(e.text)}</li>`;

    async function loadDetail() {
      const d = await api("GET", `/api/v1/incidents/${id}`);
      renderHead(d);
      $("#timeline").innerHTML = d.timeline.map(timelineItem).join("");
      $("#notes").innerHTML = d.notes.map((n) => `<li><strong>${esc(n.author || "system")}</strong> <span class="muted">${esc(when(n.created_at))}</span><br>${esc(n.text)}</li>`).join("") || "<li class='muted'>No notes yet.</li>";
      const rows = [...d.alerts.map((a) => ({ at: a.updated_at, level: a.status, message: `${a.summary} (${a.fingerprint})` })),
        ...d.events.map((e) => ({ at: e.timestamp, level: e.level, message: e.message }))];
      $("#signals tbody").innerHTML = rows.map((r) => `<tr><td>${esc(when(r.at))}</td><td>${esc(r.level)}</td><td>${esc(r.message)}</td></tr>`).join("")
        || "<tr><td colspan='3' class='muted'>No events or alerts (see the timeline).</td></tr>";
    }

    async function loadRuns() {
      const runs = await api("GET", `/api/v1/incidents/${id}/remediations`);
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
    on("timeline.added", (_, m) => { if (m.incident_id === id) $("#timeline").insertAdjacentHTML("beforeend", timelineItem(m.entry)); });

    root.addEventListener("click", async (e) => {
      const b = e.target.closest("button");
      if (!b) return;
      b.disabled = true;
      showError(null);
      try {
        if (b.dataset.move) renderHead(await api("PATCH", `/api/v1/incidents/${id}/status`, { status: b.dataset.move }));
        if (b.id === "start-remediation") await api("POST", `/api/v1/incidents/${id}/remediations`);
        if (b.id === "reanalyze") renderHead(await api("POST", `/api/v1/incidents/${id}/analyze`));
        if (b.dataset.approve) await api("POST", `/api/v1/remediations/${b.dataset.approve}/approve`);
        if (b.dataset.reject) await api("POST", `/api/v1/remediations/${b.dataset.reject}/reject`, { reason: "" });
        reload();
      } catch (err) { showError(err); } finally { b.disabled = false; }
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
    if (page) page();
    connect(); tick(); setInterval(tick, 1000);
  });
  return { api, pages, on };
})();
