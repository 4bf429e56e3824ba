"use strict";
// The duty board. It keeps its token in sessionStorage (or takes it once from #token=... in the
// URL fragment, which browsers never send to a server) and sends it only in the Authorization
// header. Live data come from GET /v1/stream (server-sent events read with fetch, since
// EventSource cannot send a header); without the stream it polls GET /v1/incidents. Every
// number on a card is counted down here, once a second, from the instants the API gives.
(function () {
  const WARN_BEFORE_MS = 30 * 60 * 1000;  // a clock turns amber 30 min before it falls due
  const POLL_MS = 1000;
  const STALL_MS = 40 * 1000;  // the stream sends a keepalive every 15 s
  const T = {
    zh: {
      title: "政务舆情值班看板", switch_lang: "English", logout: "退出", token_label: "访问令牌",
      login: "登录",
      login_hint: "令牌只保存在本标签页（sessionStorage）。大屏可用地址 /board#token=…，令牌不会发送到服务器日志。",
      no_incidents: "当前没有处置中的事件。", bad_token: "令牌无效或已停用。",
      lost: "与 incidentd 的连接已中断，正在重连（{0} 秒后重试）……看板上的数据可能已过时。",
      source_silent: "监测系统已 {0} 分钟无事件（最后一次：{1}）：请核实监测源是否正常。",
      live: "实时（事件流）", polling: "轮询（每秒）", updated: "更新于 {0}",
      level_I: "特别重大", level_II: "重大", level_III: "较大", level_IV: "一般",
      drill: "演练", units: "责任单位", first_target: "首次发布·目标时限",
      first_deadline: "首次发布·最迟时限", press: "新闻发布会", left: "剩余 {0}",
      late: "已超时 {0}", met: "已完成 {0}", no_clock: "未计时",
      next: "下一步：{0}（{1}，{2}）", none_next: "下一步：无",
      first_release: "首次发布权威信息", press_conference: "新闻发布会", follow_up: "持续发布",
      warning: "预警", target_missed: "超过目标时限", deadline_breached: "超过最迟时限",
      level_n: "{0}级提醒", told: "已通知", nobody_told: "尚未通知任何人",
      acked: "已确认收到 {0}", not_acked: "未确认", ack: "确认收到",
      confirmations: "发布确认", confirmed: "✓ {0}", waiting: "待确认",
      confirm: "确认发布", channel: "渠道", url: "发布链接",
      confirm_done: "已记录：{0}", ack_done: "已记录确认收到：{0}", failed: "失败：{0}",
      milestone_met: "（节点已完成）",
    },
    en: {
      title: "Duty board: public-opinion incidents", switch_lang: "中文", logout: "Log out",
      token_label: "Access token", login: "Log in",
      login_hint: "The token is kept in this tab only (sessionStorage). A wall screen can open /board#token=…; the fragment never reaches the server's logs.",
      no_incidents: "No open incidents.", bad_token: "The token is not valid or was withdrawn.",
      lost: "Lost the connection to incidentd; reconnecting (next try in {0} s)… what the board shows may be out of date.",
      source_silent: "No event from the monitoring system for {0} min (last: {1}): check the source.",
      live: "live (event stream)", polling: "polling (every second)", updated: "updated {0}",
      level_I: "especially major", level_II: "major", level_III: "large", level_IV: "ordinary",
      drill: "DRILL", units: "Units", first_target: "First release · target",
      first_deadline: "First release · deadline", press: "Press conference", left: "{0} left",
      late: "{0} late", met: "met {0}", no_clock: "no clock",
      next: "Next: {0} ({1}, {2})", none_next: "Next: nothing",
      first_release: "first release", press_conference: "press conference",
      follow_up: "follow-up", warning: "warning", target_missed: "target missed",
      deadline_breached: "deadline breached", level_n: "level {0}", told: "Told",
      nobody_told: "nobody told yet", acked: "acknowledged {0}", not_acked: "not acknowledged",
      ack: "Acknowledge", confirmations: "Releases confirmed", confirmed: "✓ {0}",
      waiting: "waiting", confirm: "Confirm release", channel: "channel", url: "release URL",
      confirm_done: "recorded: {0}", ack_done: "acknowledgement recorded: {0}",
      failed: "failed: {0}", milestone_met: " (milestone met)",
    },
  };

  const $ = (id) => document.getElementById(id);
  let lang = localStorage.getItem("incidentd.board.lang") === "en" ? "en" : "zh";
  let token = "";
  let incidents = [];             // the last body of GET /v1/incidents, "incidents" member
  const details = new Map();      // key -> {json: string of the list entry, people: [...]}
  let mode = "";                  // "live" or "polling"
  let lastData = 0;               // Date.now() of the last data received
  let controller = null;          // aborts the current stream
  let attempt = 0;                // consecutive failures, for the backoff
  let lostSince = 0;
  let retryAt = 0;
  let pollTimer = 0;
  let sourceStatus = null;
  let zoneOffset = null;          // minutes east of UTC of the daemon's zone, from its instants

  function t(id, ...args) {
    const text = (T[lang][id] !== undefined ? T[lang][id] : id);
    return text.replace(/\{(\d)\}/g, (_, i) => (args[i] !== undefined ? args[i] : ""));
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v);
    }
    for (const c of children) if (c !== null && c !== undefined) node.append(c);
    return node;
  }

  // "2026-11-26T11:00:00+08:00" -> "11-26 11:00": the daemon's zone, as the API wrote it.
  function local(at) {
    const m = /^\d{4}-(\d\d-\d\d)T(\d\d:\d\d)/.exec(at || "");
    return m ? m[1] + " " + m[2] : "—";
  }

  function span(ms) {
    let s = Math.floor(Math.abs(ms) / 1000);
    const h = Math.floor(s / 3600);
    s -= h * 3600;
    const m = Math.floor(s / 60);
    s -= m * 60;
    const pad = (n) => String(n).padStart(2, "0");
    return (h > 0 ? h + ":" + pad(m) : String(m)) + ":" + pad(s);
  }

  // ---- the token ------------------------------------------------------------------------

  function takeToken() {
    const fragment = new URLSearchParams(location.hash.slice(1));
    const fromUrl = fragment.get("token");
    if (fromUrl) {
      sessionStorage.setItem("incidentd.board.token", fromUrl);
      // Out of the address bar, the history and any screenshot of it.
      history.replaceState(null, "", location.pathname + location.search);
    }
    return sessionStorage.getItem("incidentd.board.token") || "";
  }

  function showLogin(message) {
    stopAll();
    lastBody = "";
    token = "";
    sessionStorage.removeItem("incidentd.board.token");
    $("login").hidden = false;
    $("logout").hidden = true;
    $("cards").replaceChildren();
    $("empty").hidden = true;
    $("banner").hidden = true;
    $("login_error").hidden = !message;
    $("login_error").textContent = message || "";
  }

  function api(path, options) {
    const headers = Object.assign({Authorization: "Bearer " + token}, (options || {}).headers);
    return fetch(path, Object.assign({cache: "no-store", credentials: "omit"}, options, {headers}));
  }

  // ---- the connection ---------------------------------------------------------------------

  function stopAll() {
    if (controller) controller.abort();
    controller = null;
    clearTimeout(pollTimer);
  }

  function connected(newMode) {
    mode = newMode;
    attempt = 0;
    lostSince = 0;
    lastData = Date.now();
    renderStatus();
  }

  function lost() {
    attempt += 1;
    if (!lostSince) lostSince = Date.now();
    const wait = Math.min(1000 * 2 ** Math.min(attempt - 1, 4), 15000);
    retryAt = Date.now() + wait;
    renderStatus();
    return wait;
  }

  async function connect() {
    stopAll();
    if (!token) return;
    const mine = new AbortController();
    controller = mine;
    let response;
    try {
      response = await api("/v1/stream", {signal: mine.signal,
                                          headers: {Accept: "text/event-stream"}});
    } catch (e) {
      if (mine.signal.aborted && controller !== mine) return;
      pollTimer = setTimeout(connect, lost());
      return;
    }
    if (response.status === 401) return showLogin(t("bad_token"));
    const type = response.headers.get("content-type") || "";
    if (!response.ok || !type.startsWith("text/event-stream") || !response.body) {
      // No stream on this daemon (or it refused): poll the list instead.
      if (response.body) response.body.cancel().catch(() => {});
      return poll();
    }
    connected("live");
    try {
      await readEvents(response.body, mine);
    } catch (e) {
      // Fall through: the stream broke.
    }
    if (controller !== mine) return;  // replaced or stopped on purpose
    pollTimer = setTimeout(connect, lost());
  }

  // Server-sent events, parsed as the HTML standard says: lines, "event:" and "data:" fields,
  // a blank line ends an event, ":" starts a comment (the keepalive).
  async function readEvents(body, mine) {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    let name = "message";
    let data = [];
    const stall = setInterval(() => {
      if (Date.now() - lastData > STALL_MS) mine.abort();
    }, 5000);
    try {
      for (;;) {
        const {value, done} = await reader.read();
        if (done) return;
        lastData = Date.now();
        buffer += decoder.decode(value, {stream: true});
        let nl;
        while ((nl = buffer.search(/\r\n|\r|\n/)) >= 0) {
          const line = buffer.slice(0, nl);
          buffer = buffer.slice(nl + (buffer.startsWith("\r\n", nl) ? 2 : 1));
          if (line === "") {
            if (data.length) dispatch(name, data.join("\n"));
            name = "message";
            data = [];
          } else if (!line.startsWith(":")) {
            const colon = line.indexOf(":");
            const field = colon < 0 ? line : line.slice(0, colon);
            let val = colon < 0 ? "" : line.slice(colon + 1);
            if (val.startsWith(" ")) val = val.slice(1);
            if (field === "event") name = val;
            else if (field === "data") data.push(val);
          }
        }
      }
    } finally {
      clearInterval(stall);
    }
  }

  function dispatch(name, text) {
    let body;
    try {
      body = JSON.parse(text);
    } catch (e) {
      return;
    }
    if (name === "incidents") update(body);
    else if (name === "status") {
      sourceStatus = body;
      renderSource();
    }
  }

  async function poll() {
    clearTimeout(pollTimer);
    try {
      const response = await api("/v1/incidents");
      if (response.status === 401) return showLogin(t("bad_token"));
      if (!response.ok) throw new Error("HTTP " + response.status);
      const body = await response.json();
      if (mode !== "polling" || lostSince) connected("polling");
      lastData = Date.now();
      update(body);
      pollTimer = setTimeout(poll, POLL_MS);
      // Now and then, see whether the stream has arrived (a daemon upgraded under the page).
      if (Math.random() < 0.05) {
        clearTimeout(pollTimer);
        connect();
      }
    } catch (e) {
      mode = "";
      pollTimer = setTimeout(connect, lost());
    }
  }

  // ---- the data ---------------------------------------------------------------------------

  // Cards are rebuilt only when what they show changed, so a button is not replaced under a
  // pointer by a poll that brought nothing new.
  let lastBody = "";
  function update(body) {
    const text = JSON.stringify(body);
    if (text === lastBody) return;
    lastBody = text;
    incidents = (body && body.incidents) || [];
    const zone = incidents.length ? /([+-])(\d\d):(\d\d)$/.exec(incidents[0].opened_at || "") : null;
    if (zone) zoneOffset = (zone[1] === "-" ? -1 : 1) * (Number(zone[2]) * 60 + Number(zone[3]));
    incidents.sort((a, b) => (soonest(a) - soonest(b)) || a.incident_key.localeCompare(b.incident_key));
    const keys = new Set(incidents.map((i) => i.incident_key));
    for (const key of details.keys()) if (!keys.has(key)) details.delete(key);
    for (const inc of incidents) {
      const json = JSON.stringify(inc);
      const known = details.get(inc.incident_key);
      if (!known || known.json !== json) {
        if (Array.isArray(inc.notified)) {
          // The API names who was told and who acknowledged ("notified").
          details.set(inc.incident_key, {json, people: inc.notified.map((p) => (
            {id: p.person, name: p.name || "", unit: p.unit || "", acked: p.acknowledged_at || ""}))});
        } else {
          // An older daemon: read them from the incident's timeline.
          details.set(inc.incident_key, {json, people: known ? known.people : null});
          loadPeople(inc.incident_key, json);
        }
      }
    }
    render();
  }

  // Who was told and who acknowledged: from the incident's timeline (GET /v1/incidents/{key}).
  async function loadPeople(key, json) {
    try {
      const response = await api("/v1/incidents/" + encodeURIComponent(key));
      if (!response.ok) return;
      const body = await response.json();
      const people = new Map();
      for (const a of body.timeline || []) {
        if (a.action === "notification" && a.recipient) {
          if (!people.has(a.recipient)) {
            people.set(a.recipient, {id: a.recipient, unit: a.unit || "", acked: ""});
          }
        } else if (a.action === "acknowledged" && a.recipient) {
          const p = people.get(a.recipient) ||
                    {id: a.recipient, unit: a.unit || "", acked: ""};
          p.acked = a.at;
          people.set(a.recipient, p);
        }
      }
      const entry = details.get(key);
      if (!entry || entry.json !== json) return;  // a newer list came in meanwhile
      const fresh = [...people.values()];
      if (JSON.stringify(fresh) === JSON.stringify(entry.people)) return;
      entry.people = fresh;
      render();
    } catch (e) {
      // The next update tries again.
    }
  }

  function soonest(inc) {
    let best = Infinity;
    for (const m of inc.milestones || []) {
      if (m.met) continue;
      for (const at of [m.target, m.deadline]) {
        const when = Date.parse(at);
        if (!isNaN(when) && when < best) best = when;
      }
    }
    return best;
  }

  // ---- rendering --------------------------------------------------------------------------

  function milestone(inc, name) {
    return (inc.milestones || []).find((m) => m.milestone === name);
  }

  // One clock: counting down to `at`, or how late; "met" when the milestone is.
  function clockState(m, at, now) {
    if (!m || !at) return {cls: "none", text: t("no_clock"), at: ""};
    if (m.met) return {cls: "met", text: t("met", local(m.met_at)), at: local(at)};
    const left = Date.parse(at) - now;
    if (left < 0) return {cls: "passed", text: t("late", span(left)), at: local(at)};
    return {cls: left < WARN_BEFORE_MS ? "near" : "ok", text: t("left", span(left)), at: local(at)};
  }

  function cardState(inc, now) {
    let state = "ok";
    const rank = {ok: 0, near: 1, late: 2, breached: 3};
    const worse = (s) => { if (rank[s] > rank[state]) state = s; };
    for (const m of inc.milestones || []) {
      if (m.met) continue;
      const deadline = Date.parse(m.deadline);
      const target = m.target ? Date.parse(m.target) : NaN;
      if (deadline <= now) worse("breached");
      else if (!isNaN(target) && target <= now) worse("late");
      else if (Math.min(deadline, isNaN(target) ? Infinity : target) - now < WARN_BEFORE_MS) worse("near");
    }
    return state;
  }

  function nextStep(inc) {
    let best = null;
    for (const m of inc.milestones || []) {
      if (m.met || !m.next_step) continue;
      if (!best || Date.parse(m.next_step.at) < Date.parse(best.step.at)) best = {m, step: m.next_step};
    }
    return best;
  }

  function card(inc, now) {
    const state = cardState(inc, now);
    const node = el("article", {class: "card " + state, "data-key": inc.incident_key,
                                "data-state": state});
    node.append(el("div", {class: "head"},
      el("span", {class: "level " + inc.level, text: inc.level + " " + t("level_" + inc.level)}),
      inc.drill ? el("span", {class: "drill", text: t("drill")}) : null,
      el("h2", {text: inc.title || inc.incident_key})));
    node.append(el("div", {class: "key", text: inc.incident_key + " · " + local(inc.clock_start || inc.opened_at)}));
    node.append(el("div", {class: "units", text: t("units") + ": " + (inc.units || []).join("、")}));

    node.append(clocksNode(inc, now));
    node.append(nextNode(inc, now));
    // Who was told, who acknowledged, with a button for each one still waiting.
    node.append(el("div", {class: "section", text: t("told")}));
    const entry = details.get(inc.incident_key);
    const people = el("ul", {class: "people"});
    if (entry && entry.people) {
      if (!entry.people.length) people.append(el("li", {text: t("nobody_told")}));
      for (const p of entry.people) {
        people.append(el("li", {"data-person": p.id},
          el("span", {text: (p.name ? p.name + " · " + p.id : p.id) + (p.unit ? " (" + p.unit + ")" : "")}),
          p.acked ? el("span", {class: "acked", text: t("acked", local(p.acked))})
                  : el("span", {class: "unacked"}, t("not_acked") + " ",
                       el("button", {type: "button", class: "ack", "data-person": p.id,
                                     onclick: (ev) => acknowledge(ev, inc.incident_key, p.id),
                                     text: t("ack")}))));
      }
    }
    node.append(people);

    // Which units confirmed which release.
    node.append(el("div", {class: "section", text: t("confirmations")}));
    const table = el("table", {class: "confirmations"});
    const shown = (inc.milestones || []).filter((m) => m.milestone !== "follow_up" || !m.met);
    table.append(el("tr", {}, el("th", {text: ""}),
      ...shown.map((m) => el("th", {text: t(m.milestone) +
                                          (m.milestone === "follow_up" ? " " + m.round : "")}))));
    for (const unit of inc.units || []) {
      table.append(el("tr", {}, el("td", {text: unit}), ...shown.map((m) => {
        const at = (m.confirmed_units || {})[unit];
        return el("td", {class: at ? "ok" : "no", text: at ? t("confirmed", local(at)) : t("waiting")});
      })));
    }
    node.append(table);
    node.append(confirmForm(inc));
    node.append(el("div", {class: "result", "data-result": ""}));
    return node;
  }

  function clocksNode(inc, now) {
    const first = milestone(inc, "first_release");
    const press = milestone(inc, "press_conference");
    const clocks = el("div", {class: "clocks"});
    for (const [name, m, at] of [["first_target", first, first && first.target],
                                 ["first_deadline", first, first && first.deadline],
                                 ["press", press, press && press.deadline]]) {
      const c = clockState(m, at, now);
      clocks.append(el("div", {class: "clock " + c.cls, "data-clock": name},
        el("div", {class: "name", text: t(name)}),
        el("div", {class: "left", text: c.text}),
        el("div", {class: "at", text: c.at})));
    }
    return clocks;
  }

  function nextNode(inc, now) {
    const next = nextStep(inc);
    if (!next) return el("div", {class: "next", text: t("none_next")});
    const at = Date.parse(next.step.at);
    return el("div", {class: "next", text: t("next", t(next.step.action),
      t(next.m.milestone) + " · " + t("level_n", next.step.level),
      local(next.step.at) + " · " + (at >= now ? t("left", span(at - now)) : t("late", span(at - now))))});
  }

  // Once a second: the clocks, the next step and the card's colour; the rest stays as it is,
  // so a button being pressed is not replaced under the pointer.
  function refreshTimes() {
    const now = Date.now();
    const byKey = new Map(incidents.map((inc) => [inc.incident_key, inc]));
    for (const node of $("cards").querySelectorAll(".card")) {
      const inc = byKey.get(node.dataset.key);
      if (!inc) continue;
      const state = cardState(inc, now);
      node.className = "card " + state;
      node.dataset.state = state;
      node.querySelector(".clocks").replaceWith(clocksNode(inc, now));
      node.querySelector(".next").replaceWith(nextNode(inc, now));
    }
  }

  function confirmForm(inc) {
    const open = (inc.milestones || []).filter((m) => !m.met);
    const form = el("form", {class: "confirm"});
    if (!open.length) return form;
    const ms = el("select", {name: "milestone"});
    for (const m of open) ms.append(el("option", {value: m.milestone, text: t(m.milestone)}));
    const unit = el("select", {name: "unit"});
    for (const u of inc.units || []) unit.append(el("option", {value: u, text: u}));
    form.append(ms, unit,
      el("input", {name: "channel", placeholder: t("channel"), value: "weibo", size: "8"}),
      el("input", {name: "url", placeholder: t("url"), type: "url"}),
      el("button", {type: "submit", text: t("confirm")}));
    form.addEventListener("submit", (ev) => confirmRelease(ev, inc.incident_key));
    return form;
  }

  function rfc3339Now() {
    const d = new Date();
    const off = -d.getTimezoneOffset();
    const pad = (n) => String(Math.floor(Math.abs(n))).padStart(2, "0");
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + "T" +
           pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds()) +
           (off >= 0 ? "+" : "-") + pad(off / 60) + ":" + pad(off % 60);
  }

  function say(card, text, ok) {
    const out = card.querySelector("[data-result]");
    if (out) {
      out.textContent = text;
      out.className = "result " + (ok ? "acked" : "error");
    }
  }

  async function post(path, body) {
    const response = await api(path, {method: "POST", body: JSON.stringify(body),
                                      headers: {"Content-Type": "application/json"}});
    let reply = {};
    try { reply = await response.json(); } catch (e) { /* an empty or non-JSON body */ }
    if (!response.ok) throw new Error(reply.detail || ("HTTP " + response.status));
    return reply;
  }

  async function acknowledge(ev, key, person) {
    const button = ev.currentTarget;
    const where = button.closest(".card");
    button.disabled = true;
    try {
      await post("/v1/incidents/" + encodeURIComponent(key) + "/ack", {recipient: person});
      say(where, t("ack_done", person), true);
      const entry = details.get(key);
      if (entry && !Array.isArray(JSON.parse(entry.json).notified)) loadPeople(key, entry.json);
    } catch (e) {
      button.disabled = false;
      say(where, t("failed", e.message), false);
    }
  }

  async function confirmRelease(ev, key) {
    ev.preventDefault();
    const form = ev.currentTarget;
    const where = form.closest(".card");
    const milestoneName = form.elements.milestone.value;
    const unit = form.elements.unit.value;
    const body = {milestone: milestoneName, unit, released_at: rfc3339Now(),
                  confirmation_id: "board:" + key + ":" + milestoneName + ":" + unit + ":" + Date.now()};
    if (form.elements.channel.value) body.channel = form.elements.channel.value;
    if (form.elements.url.value) body.url = form.elements.url.value;
    try {
      const reply = await post("/v1/incidents/" + encodeURIComponent(key) + "/releases", body);
      say(where, t("confirm_done", t(milestoneName) + " · " + unit) +
                 (reply.milestone_met ? t("milestone_met") : ""), true);
    } catch (e) {
      say(where, t("failed", e.message), false);
    }
  }

  // Cards are rebuilt when the data change; not while a confirmation is being filled in (the
  // next tick does it then). A result just shown is kept.
  let dirty = false;
  function render() {
    dirty = true;
    if (!token) return;
    const now = Date.now();
    const main = $("cards");
    const active = document.activeElement;
    if (active && active.closest && active.closest("form.confirm")) return;
    dirty = false;
    const results = new Map();
    for (const r of main.querySelectorAll("[data-result]")) {
      const c = r.closest(".card");
      if (c && r.textContent) results.set(c.dataset.key, [r.textContent, r.className]);
    }
    main.replaceChildren(...incidents.map((inc) => card(inc, now)));
    for (const c of main.querySelectorAll(".card")) {
      const kept = results.get(c.dataset.key);
      if (kept) {
        const r = c.querySelector("[data-result]");
        r.textContent = kept[0];
        r.className = kept[1];
      }
    }
    $("empty").hidden = incidents.length > 0 || (!mode && !lastData);
  }

  function renderStatus() {
    const down = lostSince && Date.now() - lostSince > 1500;
    $("banner").hidden = !down;
    if (down) $("banner").textContent = t("lost", Math.max(0, Math.ceil((retryAt - Date.now()) / 1000)));
    $("status").textContent = (mode ? t(mode) : "") +
                              (lastData ? " · " + t("updated", new Date(lastData).toLocaleTimeString()) : "");
    document.body.dataset.connection = down ? "lost" : (mode || "connecting");
  }

  function renderSource() {
    const silent = sourceStatus && sourceStatus.source_silent;
    $("source").hidden = !silent;
    // Minutes since the last event, on the browser's clock: it moves with every tick.
    const since = Date.parse(sourceStatus && sourceStatus.since || "");
    const minutes = isNaN(since) ? "—" : Math.max(0, Math.floor((Date.now() - since) / 60000));
    if (silent) $("source").textContent = t("source_silent", minutes, local(sourceStatus.since));
    document.body.dataset.source = silent ? "silent" : "live";
  }

  function translate() {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    document.title = t("title") + " · incidentd";
    for (const node of document.querySelectorAll("[data-t]")) node.textContent = t(node.dataset.t);
    renderSource();
    renderStatus();
    render();
  }

  function tick() {
    // The wall clock in the daemon's zone, like every instant on the cards.
    const now = new Date();
    const shown = zoneOffset === null ? now : new Date(now.getTime() + zoneOffset * 60000);
    $("clock").textContent = shown.toLocaleString(lang === "zh" ? "zh-CN" : "en-GB", {
      hour12: false, timeZone: zoneOffset === null ? undefined : "UTC"}) +
      (zoneOffset === null ? "" : " (UTC" + (zoneOffset >= 0 ? "+" : "-") +
       String(Math.abs(zoneOffset) / 60).padStart(2, "0") + ")");
    if (dirty) render();
    else refreshTimes();
    renderStatus();
    renderSource();
  }

  function start() {
    $("login").hidden = true;
    $("logout").hidden = false;
    connect();
  }

  $("lang").addEventListener("click", () => {
    lang = lang === "zh" ? "en" : "zh";
    localStorage.setItem("incidentd.board.lang", lang);
    translate();
  });
  $("logout").addEventListener("click", () => showLogin(""));
  $("login").addEventListener("submit", (ev) => {
    ev.preventDefault();
    token = $("token").value.trim();
    $("token").value = "";
    if (!token) return;
    sessionStorage.setItem("incidentd.board.token", token);
    start();
  });
  window.addEventListener("hashchange", () => {
    const fresh = takeToken();
    if (fresh && fresh !== token) {
      token = fresh;
      start();
    }
  });

  translate();
  token = takeToken();
  if (token) start();
  else showLogin("");
  setInterval(tick, 1000);
  tick();
})();
