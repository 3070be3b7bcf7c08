/* On-call pages, on top of app.js (OpsAssist): test pages from the profile, editing overrides. */
"use strict";
(() => {
  const { api, pages } = OpsAssist;

  // "Send test": a real page through that contact method now; the outcome shows next to it.
  pages.profile = () => {
    document.addEventListener("click", async (e) => {
      const button = e.target.closest("button[data-test-contact]");
      if (!button) return;
      const out = button.closest("[data-contact]").querySelector(".test-result");
      button.disabled = true;
      out.hidden = false;
      out.className = "test-result small";
      out.textContent = "Sending a test page…";
      try {
        const sent = await api("POST", `/api/v1/oncall/contact-methods/${button.dataset.testContact}/test`);
        out.textContent = sent.status === "sent" ? `Test page sent to ${sent.target}.` : `Test page ${sent.status}: ${sent.error}`;
        out.classList.add(sent.status === "sent" ? "ok" : "error");
      } catch (err) {
        out.textContent = err.message;
        out.classList.add("error");
      } finally { button.disabled = false; }
    });
  };

  // "Edit" on an override opens its form (the row below it).
  const cover = pages.oncall;
  pages.oncall = () => {
    if (cover) cover();
    document.addEventListener("click", (e) => {
      const button = e.target.closest("button[data-edit]");
      if (!button) return;
      const form = document.getElementById(button.dataset.edit);
      form.hidden = !form.hidden;
      button.setAttribute("aria-expanded", String(!form.hidden));
      if (!form.hidden) form.querySelector("input, select").focus();
    });
  };
})();
