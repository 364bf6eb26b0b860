// sloth-runner web UI: live updates (EventSource on /api/v1/stream) and actions (the JSON API).
// No inline scripts (the Content-Security-Policy forbids them); text is always set with
// textContent, never innerHTML, so nothing from an event or a hook can become markup; the only
// markup taken in is the overview's live part, rendered and escaped by the server like a page.
"use strict";
(function () {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const page = document.body.dataset.page;

  async function api(method, path, body, raw) {
    const headers = { "X-CSRF-Token": csrf };
    if (body !== undefined && !raw) headers["Content-Type"] = "application/json";
    const response = await fetch(path, { method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : (raw ? body : JSON.stringify(body)) });
    const text = await response.text();
    let json = null;
    try { json = text ? JSON.parse(text) : null; } catch (e) { json = null; }
    if (!response.ok) {
      const message = json && json.error ? json.error.message : response.status + " " + text;
      throw new Error(message);
    }
    return json;
  }

  function say(text, bad) {
    const out = document.getElementById("action-result");
    if (!out) return;
    out.textContent = text;
    out.className = bad ? "error" : "";
  }

  // Times: the browser's zone, UTC on hover (the title holds the UTC form).
  function localize(root) {
    for (const t of root.querySelectorAll("time[datetime]")) {
      const d = new Date(t.getAttribute("datetime"));
      if (!isNaN(d)) { t.textContent = d.toLocaleString(); t.title = t.getAttribute("datetime").replace("T", " ").replace("Z", " UTC"); }
    }
  }
  localize(document);

  document.addEventListener("click", async (e) => {
    const button = e.target.closest("button[data-action]");
    if (!button) return;
    const id = button.dataset.id;
    try {
      if (button.dataset.action === "retry") {
        await api("POST", "/api/v1/events/" + id + "/retry");
        say("Retried: the event is pending again.");
        setTimeout(() => location.reload(), 700);
      } else if (button.dataset.action === "replay") {
        if (!confirm("Replay event " + id + " through every enabled hook that takes it?")) return;
        const replay = await api("POST", "/api/v1/events/" + id + "/replay");
        location.href = "/events/" + replay.id;
      } else if (button.dataset.action === "delete") {
        if (!confirm("Delete event " + id + " with its executions?")) return;
        await api("DELETE", "/api/v1/events/" + id);
        location.href = "/events";
      }
    } catch (err) { say(err.message, true); }
  });

  // State: save or delete a row, set a new key. Secrets: set or delete (values never come back).
  document.addEventListener("click", async (e) => {
    const button = e.target.closest("button[data-action^=state-], button[data-action=secret-delete]");
    if (!button) return;
    const row = button.closest("tr");
    try {
      if (button.dataset.action === "state-save") {
        const value = JSON.parse(row.querySelector("textarea").value);
        await api("PUT", "/api/v1/state/" + encodeURIComponent(row.dataset.stack) + "/" + encodeURIComponent(row.dataset.key), { value });
        say("Saved " + row.dataset.key + ".");
      } else if (button.dataset.action === "state-delete") {
        if (!confirm("Delete " + row.dataset.key + "?")) return;
        await api("DELETE", "/api/v1/state/" + encodeURIComponent(row.dataset.stack) + "/" + encodeURIComponent(row.dataset.key));
        row.remove();
        say("Deleted.");
      } else {
        if (!confirm("Delete the secret " + button.dataset.name + "? Hooks reading it will get nil.")) return;
        await api("DELETE", "/api/v1/secrets/" + encodeURIComponent(button.dataset.name));
        row.remove();
        say("Deleted.");
      }
    } catch (err) { say(err.message, true); }
  });
  const stateForm = document.getElementById("state-set");
  if (stateForm) stateForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = new FormData(stateForm);
    try {
      const body = { value: JSON.parse(f.get("value")) };
      if (f.get("ttl")) body.ttl = f.get("ttl");
      await api("PUT", "/api/v1/state/" + encodeURIComponent(f.get("stack") || "-") + "/" + encodeURIComponent(f.get("key")), body);
      location.reload();
    } catch (err) { say(err.message, true); }
  });
  const secretForm = document.getElementById("secret-set");
  if (secretForm) secretForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = new FormData(secretForm);
    try {
      await api("PUT", "/api/v1/secrets/" + encodeURIComponent(f.get("name")), { value: f.get("value") });
      secretForm.reset();
      location.reload();
    } catch (err) { say(err.message, true); }
  });

  document.addEventListener("change", async (e) => {
    const box = e.target.closest("input[data-action=toggle]");
    if (!box) return;
    const name = box.dataset.hook;
    try {
      await api("POST", "/api/v1/hooks/" + encodeURIComponent(name) + (box.checked ? "/enable" : "/disable"));
      box.nextElementSibling.textContent = box.checked ? "on" : "off";
      say("Hook " + name + (box.checked ? " enabled." : " disabled."));
    } catch (err) {
      box.checked = !box.checked;
      say(err.message, true);
    }
  });

  const testForm = document.getElementById("test-hook");
  if (testForm) testForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const set = (id, text) => { document.getElementById(id).textContent = text; };
    let event;
    try { event = JSON.parse(document.getElementById("test-event").value); } catch (err) { set("test-outcome", "the event is not JSON: " + err.message); return; }
    try {
      const r = await api("POST", "/api/v1/hooks/test", { name: testForm.dataset.hook, event });
      set("test-outcome", (r.success ? "success" : "failure") + (r.message ? ": " + r.message : "") + (r.warnings && r.warnings.length ? " (" + r.warnings.join("; ") + ")" : ""));
      set("test-usage", (r.duration_ms !== undefined ? r.duration_ms + " ms · " : "") + r.instructions + " instructions · peak " + r.peak_memory_bytes + " B");
      set("test-output", r.output || "");
      set("test-error", r.error || "");
    } catch (err) { set("test-outcome", err.message); }
  });

  const addForm = document.getElementById("add-hook");
  if (addForm) {
    document.getElementById("hook-file").addEventListener("change", async (e) => {
      const f = e.target.files[0];
      if (f) document.getElementById("hook-source").value = await f.text();
    });
    addForm.addEventListener("submit", async (e) => {
      e.preventDefault();
      const out = document.getElementById("add-result");
      try {
        const h = await api("POST", "/api/v1/hooks", document.getElementById("hook-source").value, true);
        out.textContent = "Added " + h.name + ".";
        setTimeout(() => location.reload(), 700);
      } catch (err) { out.textContent = err.message; }
    });
  }

  // Live: new events at the top of the events list, statuses updated in place.
  const table = document.getElementById("events");
  if (page === "events" && table && table.dataset.live === "true") {
    const body = table.tBodies[0];
    const want = { type: table.dataset.type, status: table.dataset.status, stack: table.dataset.stack };
    const matches = (m) => (!want.type || (want.type.endsWith(".*") ? m.type.startsWith(want.type.slice(0, -1)) : m.type === want.type))
      && (!want.stack || m.stack === want.stack) && (!want.status || m.status === want.status);
    const source = new EventSource("/api/v1/stream?kind=status");
    source.addEventListener("status", (e) => {
      const m = JSON.parse(e.data);
      const row = body.querySelector('tr[data-id="' + CSS.escape(m.event_id) + '"]');
      if (row) {
        const cell = row.children[2];
        cell.textContent = m.status;
        cell.className = "status s-" + m.status;
        if (m.event) row.children[4].textContent = m.event.attempts;
        return;
      }
      if (!matches(m)) return;
      const tr = document.createElement("tr");
      tr.dataset.id = m.event_id;
      tr.className = "fresh";
      const cells = [null, m.type, m.status, m.stack || "", m.event ? m.event.attempts : "", null];
      for (let i = 0; i < cells.length; i++) {
        const td = document.createElement("td");
        if (i === 0) {
          const t = document.createElement("time");
          t.setAttribute("datetime", m.at);
          t.textContent = m.at;
          td.appendChild(t);
        } else if (i === 5) {
          const a = document.createElement("a");
          a.href = "/events/" + m.event_id;
          const c = document.createElement("code");
          c.textContent = m.event_id.slice(0, 13);
          a.appendChild(c);
          td.appendChild(a);
        } else td.textContent = cells[i];
        if (i === 2) td.className = "status s-" + m.status;
        tr.appendChild(td);
      }
      localize(tr);
      body.insertBefore(tr, body.firstChild);
      const empty = document.getElementById("empty");
      if (empty) empty.remove();
    });
  }

  // Live: the overview's counters, charts and hook tables follow the event stream. The server
  // renders the part again (escaped, as every page is) and the page swaps in what changed, so
  // no markup is ever built here from event data. A part holding the keyboard focus waits for
  // the next round rather than losing the focus under the user.
  if (page === "overview") {
    const live = document.getElementById("live");
    let timer = null, busy = false, again = false;
    const schedule = () => { if (timer === null) timer = setTimeout(() => { timer = null; refresh(); }, 1000); };
    const refresh = async () => {
      if (busy) { again = true; return; }
      busy = true;
      try {
        const response = await fetch("/overview/live", { credentials: "same-origin" });
        if (response.ok) {
          const fresh = new DOMParser().parseFromString(await response.text(), "text/html").body.children;
          const old = live.children;
          if (fresh.length !== old.length) {
            live.replaceChildren(...Array.from(fresh, (n) => document.importNode(n, true)));
          } else {
            for (let i = fresh.length - 1; i >= 0; i--) {
              if (old[i].outerHTML === fresh[i].outerHTML) continue;
              if (old[i].contains(document.activeElement)) { again = true; continue; }
              old[i].replaceWith(document.importNode(fresh[i], true));
            }
          }
          localize(live);
          live.dataset.refreshed = String(Date.now());
        }
      } catch (err) { /* the next change or minute retries */ }
      busy = false;
      if (again) { again = false; schedule(); }
    };
    const source = new EventSource("/api/v1/stream?kind=status");
    source.addEventListener("status", schedule);
    // A minute turning moves the hour chart even when nothing happens.
    setInterval(schedule, 60000);
  }
})();
