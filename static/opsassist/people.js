/* The people page: what the API returns once (a set-password link, a token) is shown once, with a copy
   button. Everything else on the page is app.js's data-api forms. */
"use strict";
OpsAssist.pages.people = () => {
  const $ = (sel, root = document) => root.querySelector(sel);
  const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

  function showOnce(title, hint, value) {
    $("#secret-title").textContent = title;
    $("#secret-hint").textContent = hint;
    $("#secret-value").value = value;
    $("#copy-done").hidden = true;
    $("#secret").hidden = false;
    $("#secret").scrollIntoView({ block: "nearest" });
    $("#secret-value").select();
  }

  $("#copy-secret").addEventListener("click", async () => {
    const input = $("#secret-value");
    try { await navigator.clipboard.writeText(input.value); }
    catch (err) { input.select(); document.execCommand("copy"); }  // no clipboard API on plain http
    $("#copy-done").hidden = false;
  });

  // A new person: their set-password link, and a row for them (the rest of the list is as it was).
  document.addEventListener("opsassist:saved", (e) => {
    const p = e.detail, form = e.target;
    showOnce(`Set-password link for ${p.username}`, p.emailed
      ? `Also mailed to ${p.email}. It works once; give it only to ${p.username}.`
      : `Give it to ${p.username} (not mailed: e-mail is not set up, or they have no address). It works once.`,
    p.set_password_url);
    $("#people tbody").insertAdjacentHTML("afterbegin", `<tr data-person="${esc(p.username)}">
      <td class="c-person"><strong>${esc(p.username)}</strong>${p.name ? ` · ${esc(p.name)}` : ""} <span class="badge">new</span></td>
      <td class="c-role"><span class="badge">${esc(p.role)}</span></td><td class="c-teams">—</td>
      <td class="c-seen"><span class="muted">never signed in</span></td><td class="c-actions"><span class="muted small">reload to change</span></td></tr>`);
    form.reset();
  });

  document.addEventListener("click", async (e) => {
    const b = e.target.closest("button[data-issue-token], button[data-password-link], button[data-my-token]");
    if (!b) return;
    const form = b.closest("form") || b.parentElement;  // errors of "my token" go to #action-error
    OpsAssist.formError(form, null);
    b.disabled = true;
    try {
      if (b.dataset.issueToken !== undefined) {
        const who = b.dataset.issueToken;
        if (!confirm(`Issue a new API token for ${who}? Their current token stops working at once.`)) return;
        const r = await OpsAssist.api("POST", `/api/v1/users/${encodeURIComponent(who)}/token`);
        showOnce(`API token for ${r.username}`, "Shown only now. Use it as: Authorization: Token <token>.", r.token);
      } else if (b.dataset.passwordLink !== undefined) {
        const r = await OpsAssist.api("POST", `/api/v1/users/${encodeURIComponent(b.dataset.passwordLink)}/password-link`);
        showOnce(`Set-password link for ${r.username}`, "Works once; give it only to them.", r.set_password_url);
      } else {
        if (!confirm("Make a new API token for you? Your current token stops working at once.")) return;
        const r = await OpsAssist.api("POST", "/api/v1/me/token");
        showOnce("Your new API token", "Shown only now. Use it as: Authorization: Token <token>.", r.token);
      }
    } catch (err) { OpsAssist.formError(form, err); } finally { b.disabled = false; }
  });
};
