// bootherd's status page: live updates from /api/v1/events (Server-Sent Events)
// and a machine's timeline on click. Everything from the server is put in the
// page as text (textContent), never as HTML: vendor classes and paths come off
// the wire.
"use strict";
(function () {
  const fleet = document.getElementById("fleet-body");
  const unknown = document.getElementById("unknown-body");
  const live = document.getElementById("live");
  const timeline = document.getElementById("timeline");
  const timelineTitle = document.getElementById("timeline-title");
  const timelineEvents = document.getElementById("timeline-events");
  let open = null; // the row id (name or MAC) whose timeline is shown
  let refreshTimer = null;

  function ago(ms) {
    if (!ms) return "never";
    const s = Math.max(0, Math.floor((Date.now() - ms) / 1000));
    if (s < 120) return s + " s ago";
    if (s < 7200) return Math.floor(s / 60) + " min ago";
    return Math.floor(s / 3600) + " h ago";
  }

  function clock(ms) {
    const d = new Date(ms);
    const pad = (n, w) => String(n).padStart(w, "0");
    return pad(d.getHours(), 2) + ":" + pad(d.getMinutes(), 2) + ":" +
      pad(d.getSeconds(), 2) + "." + pad(d.getMilliseconds(), 3);
  }

  // One event in words (as `bootherd watch` says it).
  function describe(e) {
    const p = (e.protocol || "").toUpperCase();
    switch (e.kind) {
      case "dhcp_request": {
        let text = "DHCP " + e.message + " from " + e.client + " (" + e.via + ")";
        if (e.rpi_serial) text += ", serial " + e.rpi_serial;
        if (e.arch) text += ", arch " + e.arch;
        if (e.vendor_class) text += ", vendor class " + e.vendor_class;
        if (e.relay) text += ", relay " + e.relay;
        return text;
      }
      case "dhcp_answer": return "DHCP " + e.message + " (" + e.via + "): " + e.detail;
      case "dhcp_no_answer": return "no DHCP answer (" + e.via + "): " + e.reason;
      case "lease": return "lease " + e.change + " " + e.ip;
      case "file_requested": return p + " asks for " + e.path;
      case "file_served":
        return p + " served " + e.path + " (" + e.bytes + " bytes in " + e.ms + " ms" +
          (e.retransmits ? ", " + e.retransmits + " retransmits" : "") + ")";
      case "file_refused": return p + " refused " + e.path + ": " + e.reason;
      case "file_abandoned":
        return p + " " + e.path + " abandoned after " + e.acked_blocks + " blocks: " + e.reason;
      case "reload":
        return (e.ok ? "configuration reloaded: " : "configuration reload refused: ") + e.detail;
      default: return String(e.kind);
    }
  }

  function cell(tr, text, className) {
    const td = document.createElement("td");
    td.textContent = text == null ? "" : String(text);
    if (className) td.className = className;
    tr.appendChild(td);
    return td;
  }

  function seenCell(tr, ms) {
    const td = cell(tr, ago(ms), "seen");
    if (ms) td.dataset.ms = ms;
  }

  function row(id, mac, stage) {
    const tr = document.createElement("tr");
    tr.dataset.id = id;
    tr.dataset.mac = mac || "";
    tr.className = "stage-" + ((stage && stage.stage) || "never_seen");
    tr.tabIndex = 0;
    return tr;
  }

  function fleetRow(m) {
    const tr = row(m.name, m.mac, m.stage);
    cell(tr, m.name, "name");
    cell(tr, m.kind, "kind");
    cell(tr, m.stage_text, "stage");
    seenCell(tr, m.last_seen_ms);
    return tr;
  }

  function unknownRow(u) {
    const tr = row(u.mac, u.mac, u.stage);
    cell(tr, u.mac, "name");
    cell(tr, (u.client || "") + (u.rpi_model ? " (" + u.rpi_model + ")" : ""));
    cell(tr, u.rpi_serial);
    cell(tr, u.arch);
    cell(tr, u.vendor_class, "wire");
    cell(tr, (u.asked || []).join(", "), "asked");
    cell(tr, u.stage_text, "stage");
    seenCell(tr, u.last_seen_ms);
    const td = document.createElement("td");
    const pre = document.createElement("pre");
    pre.className = "entry";
    pre.textContent = u.machines_entry;
    td.appendChild(pre);
    tr.appendChild(td);
    return tr;
  }

  function empty(columns, text) {
    const tr = document.createElement("tr");
    tr.className = "empty";
    const td = cell(tr, text);
    td.colSpan = columns;
    return tr;
  }

  async function getJson(path) {
    const response = await fetch(path, { credentials: "same-origin", cache: "no-store" });
    if (!response.ok) throw new Error(path + ": " + response.status);
    return response.json();
  }

  // The whole tables, from the API.
  async function refresh() {
    try {
      const [machines, clients] = await Promise.all([
        getJson("api/v1/machines"), getJson("api/v1/unknown")]);
      fleet.replaceChildren(...(machines.length ? machines.map(fleetRow)
        : [empty(4, "No machine in the inventory yet ([[machines]] in the configuration).")]));
      unknown.replaceChildren(...(clients.length ? clients.map(unknownRow)
        : [empty(9, "None seen.")]));
      mark();
    } catch (err) {
      live.textContent = "cannot read the API: " + err.message;
      live.className = "live-off";
    }
  }

  function refreshSoon() {
    if (refreshTimer === null) {
      refreshTimer = setTimeout(() => { refreshTimer = null; refresh(); }, 300);
    }
  }

  function rows() {
    return Array.from(document.querySelectorAll("#fleet-body tr[data-id], #unknown-body tr[data-id]"));
  }

  function mark() {
    for (const tr of rows()) tr.classList.toggle("open", tr.dataset.id === open);
  }

  function eventItem(e) {
    const li = document.createElement("li");
    li.className = "event-" + e.kind;
    const time = document.createElement("time");
    time.textContent = clock(e.at_ms);
    li.appendChild(time);
    li.appendChild(document.createTextNode(" " + describe(e)));
    return li;
  }

  async function showTimeline(id) {
    try {
      const m = await getJson("api/v1/machines/" + encodeURIComponent(id));
      open = id;
      timelineTitle.textContent = m.name ? m.name + (m.mac ? " (" + m.mac + ")" : "") : m.mac;
      timelineEvents.replaceChildren(...(m.events || []).map(eventItem));
      if (!(m.events || []).length) timelineEvents.appendChild(empty(1, "No event kept."));
      timeline.hidden = false;
      mark();
    } catch (err) {
      live.textContent = "cannot read the timeline: " + err.message;
    }
  }

  function onClick(ev) {
    const tr = ev.target.closest("tr[data-id]");
    if (tr && !ev.target.closest("pre")) showTimeline(tr.dataset.id);
  }
  fleet.addEventListener("click", onClick);
  unknown.addEventListener("click", onClick);
  for (const body of [fleet, unknown]) {
    body.addEventListener("keydown", (ev) => { if (ev.key === "Enter") onClick(ev); });
  }
  document.getElementById("timeline-close").addEventListener("click", () => {
    open = null;
    timeline.hidden = true;
    mark();
  });

  // One event from the stream: its row takes the stage the machine reached with
  // it; a client or machine with no row yet, or a reload, redraws the tables.
  function onEvent(e) {
    const tr = rows().find((r) => (e.machine ? r.dataset.id === e.machine
      : e.mac && r.dataset.mac === e.mac && r.parentNode === unknown));
    if (!tr) {
      if (e.mac || e.kind === "reload") refreshSoon();
      return;
    }
    if (e.stage_text) {
      tr.querySelector(".stage").textContent = e.stage_text;
      tr.className = "stage-" + e.stage.stage + (tr.dataset.id === open ? " open" : "");
    }
    const seen = tr.querySelector(".seen");
    seen.dataset.ms = e.at_ms;
    seen.textContent = ago(e.at_ms);
    if (e.kind === "file_requested" && tr.parentNode === unknown) refreshSoon();
    if (tr.dataset.id === open) timelineEvents.appendChild(eventItem(e));
  }

  function connect() {
    const source = new EventSource("api/v1/events");
    source.onopen = () => {
      live.textContent = "live";
      live.className = "live-on";
    };
    source.onmessage = (m) => {
      try { onEvent(JSON.parse(m.data)); } catch (err) { /* a malformed message is skipped */ }
    };
    source.addEventListener("dropped", () => {
      live.textContent = "live (missed some events; redrawn)";
      refreshSoon();
    });
    source.onerror = () => {
      live.textContent = "reconnecting...";
      live.className = "live-off";
      // EventSource retries by itself; the tables are redrawn when it is back.
      source.addEventListener("open", refreshSoon, { once: true });
    };
  }

  setInterval(() => {
    for (const td of document.querySelectorAll("td.seen[data-ms]")) {
      td.textContent = ago(Number(td.dataset.ms));
    }
  }, 1000);
  // A machine becomes "stuck" by staying quiet: no event says so.
  setInterval(refresh, 15000);
  connect();
})();
