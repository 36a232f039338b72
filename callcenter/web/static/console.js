// 12366 坐席工作台: plain JavaScript, no external resources (works offline).
"use strict";

const API = "/api/v1";
const ROLE_TITLES = { agent: "坐席", expert: "专家", supervisor: "班长", admin: "管理员",
  editor: "知识库编辑", reviewer: "知识库审核员" };
const OUTCOME_TITLES = {
  answered: "人工接听", self_service: "自助服务", abandoned_ivr: "导航中放弃",
  abandoned_queue: "排队中放弃", callback_requested: "预约回电", message_left: "留言",
  failed: "失败",
};
const state = { me: null, lookups: null, card: null, lastLinkedid: null, ws: null, retry: 0 };

const $ = (id) => document.getElementById(id);
function show(id, visible) { $(id).hidden = !visible; }
function text(id, value) { $(id).textContent = value == null ? "" : String(value); }
function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
function li(parent, value) {
  const item = document.createElement("li");
  item.textContent = value;
  parent.appendChild(item);
  return item;
}

async function api(path, options = {}) {
  const init = { credentials: "same-origin", headers: {}, ...options };
  if (options.json !== undefined) {
    init.method = init.method || "POST";
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(options.json);
  }
  const response = await fetch(API + path, init);
  if (response.status === 204) return null;
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    if (response.status === 401 && state.me && path !== "/auth/login") { signedOut(); }
    const detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
    throw new Error(detail || ("请求失败：" + response.status));
  }
  return body;
}

// -- login --------------------------------------------------------------------------------

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  text("login-error", "");
  try {
    await api("/auth/login", { json: {
      username: $("login-username").value.trim(), password: $("login-password").value } });
    $("login-password").value = "";
    await start();
  } catch (error) {
    text("login-error", error.message);
  }
});

$("btn-signout").addEventListener("click", async () => {
  try { await api("/auth/logout", { method: "POST" }); } catch (error) { /* already out */ }
  signedOut();
});

function signedOut() {
  state.me = null;
  if (state.ws) { state.ws.onclose = null; state.ws.close(); state.ws = null; }
  for (const id of ["agent-view", "supervisor-view", "admin-view", "work-view", "kbops-view",
    "whoami"]) {
    show(id, false);
  }
  show("login-view", true);
}

// the call centre's roles; editors and reviewers see the knowledge pages only (console-kbops.js)
const CALL_CENTRE_ROLES = ["agent", "expert", "supervisor", "admin"];

async function start() {
  state.me = await api("/auth/me");
  text("me-name", state.me.display_name || state.me.username);
  text("me-role", ROLE_TITLES[state.me.role] || state.me.role);
  if (!CALL_CENTRE_ROLES.includes(state.me.role)) {
    show("login-view", false);
    show("whoami", true);
    return;
  }
  state.lookups = await api("/desk/lookups");
  show("login-view", false);
  show("whoami", true);
  fillSelect($("pause-reason"), state.lookups.pause_reasons.map((r) => [r.code, r.title]));
  fillSelect($("disposition"), [["", "（请选择）"],
    ...state.lookups.dispositions.map((d) => [d.code, d.title])]);
  fillSelect($("transfer-queue"), state.lookups.queues.map((q) => [q.name, q.title]));
  const staff = state.me.role === "agent" || state.me.role === "expert";
  const boss = state.me.role === "supervisor" || state.me.role === "admin";
  show("agent-view", staff);
  show("supervisor-view", boss);
  show("admin-view", state.me.role === "admin");
  show("work-view", true);
  loadWork();
  if (staff) renderAgent(await api("/agents/me"));
  if (boss) renderBoard(await api("/agents/board"));
  if (boss) loadChannels();
  if (state.me.role === "admin") loadAdmin();
  connect();
}

function fillSelect(select, pairs) {
  clear(select);
  for (const [value, label] of pairs) {
    const option = document.createElement("option");
    option.value = value;
    option.textContent = label;
    select.appendChild(option);
  }
}

// -- live updates -------------------------------------------------------------------------

function connect() {
  const boss = state.me.role === "supervisor" || state.me.role === "admin";
  const topics = boss ? ["agents", "queues", "wallboard"] : [`calls.${state.me.username}`,
    `agents.${state.me.username}`];
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}${API}/ws?topics=${topics.join(",")}`);
  state.ws = ws;
  ws.onopen = () => { state.retry = 0; text("ws-status", "实时连接正常"); };
  ws.onmessage = (event) => onMessage(JSON.parse(event.data));
  ws.onclose = () => {
    text("ws-status", "实时连接已断开，正在重连…");
    if (state.me) {
      state.retry = Math.min(state.retry + 1, 5);
      setTimeout(connect, 500 * state.retry);
    }
  };
}

function onMessage(message) {
  const { topic, payload } = message;
  if (topic.startsWith("agents.") || (topic === "agents" && payload.username === state.me.username)) {
    renderAgent(payload);
  }
  if ((topic === "agents" || topic === "queues") &&
      (state.me.role === "supervisor" || state.me.role === "admin")) {
    refreshBoard();
  }
  if (topic === "wallboard" && payload.channels &&
      (state.me.role === "supervisor" || state.me.role === "admin")) {
    renderChannels(payload.channels);
  }
  if (topic === `calls.${state.me.username}`) onCall(payload);
  // the console's other scripts (console-*.js) follow the same messages
  document.dispatchEvent(new CustomEvent("console-message", { detail: message }));
}

let boardTimer = null;
function refreshBoard() {
  if (boardTimer) return;
  boardTimer = setTimeout(async () => {
    boardTimer = null;
    try { renderBoard(await api("/agents/board")); } catch (error) { text("board-error", error.message); }
  }, 150);
}

// -- agent desk ---------------------------------------------------------------------------

function renderAgent(agent) {
  if (!agent || !agent.state) return;
  text("state-label", agent.state_title);
  $("state-label").dataset.state = agent.state;
  text("state-reason", agent.reason ? `（${agent.reason}）` : "");
  const busy = agent.state === "ringing" || agent.state === "on_call";
  $("btn-ready").disabled = busy || agent.state === "ready";
  $("btn-pause").disabled = busy;
  $("btn-logout").disabled = busy || agent.state === "logged_out";
  $("btn-transfer").disabled = agent.state !== "on_call";
}

async function setState(body) {
  text("state-error", "");
  try {
    renderAgent(await api("/agents/me/state", { json: body }));
  } catch (error) {
    text("state-error", error.message);
  }
}
$("btn-ready").addEventListener("click", () => setState({ state: "ready" }));
$("btn-pause").addEventListener("click", () => setState({ state: "paused",
  reason: $("pause-reason").value }));
$("btn-logout").addEventListener("click", () => setState({ state: "logged_out" }));

function onCall(event) {
  if (event.type === "ringing") {
    state.card = event;
    show("call-card", true);
    $("call-card").dataset.linkedid = event.linkedid;
    text("card-status", "振铃");
    text("card-caller", event.caller);
    text("card-taxpayer", event.taxpayer || "未识别");
    const queue = state.lookups.queues.find((q) => q.name === event.queue);
    text("card-queue", queue ? queue.title : event.queue);
    text("card-wait", event.wait_s == null ? "—" : `${Math.round(event.wait_s)} 秒`);
    // what the caller heard and pressed, node by node, in words (console-card.js)
    text("card-path", CardWords.path(event));
    const faqs = event.faqs.map((f) => f.question || f.id);
    text("card-faqs", faqs.length ? faqs.join("；") : "无");
    // the caller's own words of a question self-service could not answer (recognised speech)
    text("card-asked", event.asked && event.asked.length ? event.asked.join("；") : "无");
    const list = $("card-previous");
    clear(list);
    if (!event.previous.length) li(list, "无历史联系记录");
    for (const c of event.previous) li(list, CardWords.previous(c, OUTCOME_TITLES));
    $("notes").value = "";
    $("disposition").value = "";
    text("note-status", "");
    text("transfer-status", "");
    text("ticket-status", "");
  } else if (event.type === "connected") {
    text("card-status", "通话中");
  } else if (event.type === "completed") {
    text("card-status", "已结束，请完成小结");
    state.lastLinkedid = event.linkedid;
    setTimeout(() => showLastCall(event.linkedid), 1500);
  } else if (event.type === "missed" || event.type === "abandoned") {
    text("card-status", event.type === "missed" ? "未接听" : "来电已放弃");
  }
}

$("btn-save-note").addEventListener("click", async () => {
  if (!state.card) return;
  try {
    await api(`/calls/${encodeURIComponent(state.card.linkedid)}/note`, { method: "PUT", json: {
      notes: $("notes").value, disposition: $("disposition").value || null } });
    text("note-status", "小结已保存");
  } catch (error) {
    text("note-status", error.message);
  }
});

$("btn-transfer").addEventListener("click", async () => {
  try {
    const queue = $("transfer-queue").value;
    await api("/agents/me/transfer", { json: { queue } });
    const title = $("transfer-queue").selectedOptions[0].textContent;
    text("transfer-status", `已转接至${title}`);
  } catch (error) {
    text("transfer-status", error.message);
  }
});

async function createTicket(path, body, done) {
  if (!state.card) return;
  try {
    const result = await api(path, { json: body });
    text("ticket-status", done(result));
  } catch (error) {
    text("ticket-status", error.message);
  }
}
$("btn-ticket").addEventListener("click", () => createTicket("/tickets", {
  kind: $("ticket-kind").value, caller: state.card.caller, linkedid: state.card.linkedid,
  summary: $("notes").value }, (t) => { loadWork(); return `工单 ${t.ticket_no} 已创建`; }));
$("btn-callback").addEventListener("click", () => createTicket("/callbacks", {
  number: state.card.caller, linkedid: state.card.linkedid, reason: $("notes").value || "坐席预约回电" },
  (c) => { loadWork(); return `回电已预约（编号 ${c.id}）`; }));

// -- recordings (docs/console.md "Recordings"): each playback is audited by the server ------

const RECORDING_KINDS = {
  call: "通话录音", complaint: "投诉留言", report: "举报留言", director: "局长热线留言",
  consult: "咨询留言",
};

function renderRecordings(list, recordings, prefix = "") {
  clear(list);
  if (!recordings.length) { li(list, prefix + "无录音"); return; }
  for (const r of recordings) {
    const started = new Date(r.started_at).toLocaleString("zh-CN", { hour12: false });
    const item = li(list, `${prefix}${RECORDING_KINDS[r.kind] || r.kind}（${started}，` +
      (r.available ? `${r.seconds.toFixed(1)} 秒）` : "无录音文件）"));
    item.dataset.recording = String(r.id);
    if (r.playable) {
      const audio = document.createElement("audio");
      audio.controls = true;
      audio.preload = "none";
      audio.src = r.audio_url;
      item.appendChild(audio);
    }
  }
}

$("recordings-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const list = $("recordings-results");
  clear(list);
  text("recordings-status", "");
  try {
    const page = await api("/contacts/search", { json: { caller: $("recordings-caller").value.trim(), limit: 10 } });
    if (!page.items.length) { text("recordings-status", "没有该号码的来电"); return; }
    for (const contact of page.items) {
      const started = new Date(contact.started_at).toLocaleString("zh-CN", { hour12: false });
      const heading = li(list, `${started} ${contact.caller_number} ${OUTCOME_TITLES[contact.outcome] || ""}`);
      const inner = document.createElement("ul");
      heading.appendChild(inner);
      renderRecordings(inner, await api(`/contacts/${contact.id}/recordings`));
    }
  } catch (error) {
    text("recordings-status", error.message);
  }
});

async function showLastCall(linkedid) {
  try {
    const page = await api(`/contacts?linkedid=${encodeURIComponent(linkedid)}&limit=1`);
    const item = page.items.find((c) => c.linkedid === linkedid);
    if (!item) return;
    const contact = await api(`/contacts/${item.id}`);
    const notes = await api(`/calls/${encodeURIComponent(linkedid)}/notes`);
    show("last-call", true);
    $("last-call").dataset.linkedid = linkedid;
    text("last-outcome", contact.ended_at ? (OUTCOME_TITLES[contact.outcome] || contact.outcome) : "通话进行中");
    text("last-agents", contact.agents.join("、"));
    text("last-notes", notes.map((n) => `${n.username}：${n.notes}`).join("；"));
    const titles = Object.fromEntries(state.lookups.dispositions.map((d) => [d.code, d.title]));
    text("last-disposition", notes.filter((n) => n.disposition)
      .map((n) => titles[n.disposition] || n.disposition).join("、"));
    if (!contact.ended_at) setTimeout(() => showLastCall(linkedid), 1500);
    else renderRecordings($("last-recordings"), await api(`/contacts/${item.id}/recordings`));
  } catch (error) {
    text("note-status", error.message);
  }
}

// -- knowledge base -----------------------------------------------------------------------

// The knowledge base's decision, the same as the IVR's (docs/kb.md, "The decision").
const KB_DECISIONS = {
  answer: "可直接答复：第一条即答案",
  confirm: "把握不足：请向来电人确认是否咨询以下问题",
  decline: "知识库无法答复：请转专家坐席或记录工单",
};

$("kb-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const list = $("kb-results");
  clear(list);
  text("kb-decision", "");
  const q = $("kb-q").value.trim();
  if (!q) return;
  try {
    const result = await api(`/kb/search?q=${encodeURIComponent(q)}&top=5`);
    $("kb-decision").dataset.decision = result.decision;
    text("kb-decision", KB_DECISIONS[result.decision] || result.decision);
    for (const hit of result.results) li(list, `${hit.question}（${hit.id}，${hit.score.toFixed(2)}）`);
  } catch (error) {
    li(list, error.message);
  }
});

// -- supervisor board ---------------------------------------------------------------------

function renderBoard(board) {
  text("board-waiting", board.waiting.length);
  text("board-longest", Math.round(board.longest_wait_s));
  const names = { logged_out: "未签入", ready: "就绪", paused: "暂停", ringing: "振铃",
    on_call: "通话中", wrap_up: "话后处理" };
  text("board-by-state", Object.entries(board.by_state).map(([k, v]) => `${names[k]} ${v}`).join(" · "));
  const body = $("board-agents").querySelector("tbody");
  clear(body);
  for (const agent of board.agents) {
    const row = document.createElement("tr");
    row.dataset.username = agent.username;
    row.dataset.state = agent.state;
    for (const value of [agent.display_name || agent.username, agent.state_title,
      agent.reason || "", agent.queues.join("、")]) {
      const cell = document.createElement("td");
      cell.textContent = value;
      row.appendChild(cell);
    }
    const actions = document.createElement("td");
    const reason = document.createElement("select");
    reason.className = "board-reason";
    fillSelect(reason, state.lookups.pause_reasons.map((r) => [r.code, r.title]));
    const pause = document.createElement("button");
    pause.textContent = "暂停";
    pause.className = "board-pause";
    pause.addEventListener("click", () => supervise(agent.username, { state: "paused", reason: reason.value }));
    const out = document.createElement("button");
    out.textContent = "签出";
    out.className = "board-logout";
    out.addEventListener("click", () => supervise(agent.username, { state: "logged_out" }));
    actions.append(reason, pause, out);
    row.appendChild(actions);
    body.appendChild(row);
  }
}

// -- today by channel (phone, sms, web; docs/metrics.md "Channels") ------------------------

const CHANNEL_TITLES = { phone: "电话", sms: "短信", web: "网上咨询" };
const percent = (v) => (v === null || v === undefined) ? "—" : `${(v * 100).toFixed(1)}%`;

async function loadChannels() {
  try {
    renderChannels((await api("/stats/live")).channels);
  } catch (error) {
    text("channels-error", error.message);
  }
}

function renderChannels(channels) {
  const body = $("channels-today").querySelector("tbody");
  clear(body);
  for (const [channel, c] of Object.entries(channels)) {
    const row = document.createElement("tr");
    row.dataset.channel = channel;
    for (const value of [CHANNEL_TITLES[channel] || channel, c.contacts, c.self_service,
      c.answered, c.other, percent(c.self_service_rate), percent(c.reply_on_time_rate),
      channel === "sms" ? percent(c.delivery_rate) : "—", c.open]) {
      const cell = document.createElement("td");
      cell.textContent = value == null ? "—" : String(value);
      row.appendChild(cell);
    }
    body.appendChild(row);
  }
  text("channels-error", "");
}

async function supervise(username, body) {
  text("board-error", "");
  try {
    await api(`/agents/${encodeURIComponent(username)}/state`, { json: body });
    renderBoard(await api("/agents/board"));
  } catch (error) {
    text("board-error", error.message);
  }
}

// -- tickets and callbacks ----------------------------------------------------------------

const TICKET_KINDS = { complaint: "投诉", report: "举报", director: "局长热线", consult: "咨询" };
const TICKET_STATUS = { open: "待处理", in_progress: "处理中", answered: "已答复", closed: "已办结" };
const NEXT_STATUS = { open: ["in_progress", "closed"], in_progress: ["answered", "closed"],
  answered: ["closed"], closed: [] };

function cells(row, values) {
  for (const value of values) {
    const cell = document.createElement("td");
    cell.textContent = value == null ? "" : String(value);
    row.appendChild(cell);
  }
}

function button(label, className, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.className = className;
  b.addEventListener("click", onClick);
  return b;
}

async function work(path, body) {
  try {
    await api(path, { json: body });
    text("work-status", "已更新");
    loadWork();
  } catch (error) {
    text("work-status", error.message);
  }
}

async function loadWork() {
  try {
    const [tickets, callbacks, overdue] = await Promise.all([
      api("/tickets"), api("/callbacks?status=pending"), api("/tickets/overdue")]);
    text("overdue-tickets", overdue.tickets.length);
    text("overdue-callbacks", overdue.callbacks.length);
    const late = new Set(overdue.tickets.map((t) => t.ticket_no));
    const body = $("tickets-table").querySelector("tbody");
    clear(body);
    const boss = state.me.role === "supervisor" || state.me.role === "admin";
    for (const t of tickets.filter((x) => x.status !== "closed")) {
      const row = document.createElement("tr");
      row.dataset.ticket = t.ticket_no;
      row.dataset.kind = t.kind;
      row.dataset.linkedid = t.linkedid;
      if (late.has(t.ticket_no)) row.className = "late";
      cells(row, [t.ticket_no, TICKET_KINDS[t.kind] || t.kind, TICKET_STATUS[t.status] || t.status,
        t.caller, t.owner || "（未分派）", new Date(t.due_at).toLocaleString("zh-CN")]);
      const actions = document.createElement("td");
      if (!t.owner) {
        actions.appendChild(button("认领", "ticket-take", () =>
          work(`/tickets/${t.ticket_no}/owner`, { owner: state.me.username })));
      }
      if (boss || t.owner === state.me.username) {
        for (const next of NEXT_STATUS[t.status] || []) {
          actions.appendChild(button(TICKET_STATUS[next], `ticket-${next}`, () =>
            work(`/tickets/${t.ticket_no}/status`, { status: next })));
        }
      }
      row.appendChild(actions);
      body.appendChild(row);
    }
    const cbody = $("callbacks-table").querySelector("tbody");
    clear(cbody);
    for (const c of callbacks) {
      const row = document.createElement("tr");
      row.dataset.callback = c.id;
      cells(row, [c.id, c.number, c.reason, new Date(c.due_at).toLocaleString("zh-CN"),
        c.owner || "（未分派）"]);
      const actions = document.createElement("td");
      actions.appendChild(button("已回电", "callback-done", () =>
        work(`/callbacks/${c.id}`, { status: "done" })));
      actions.appendChild(button("未接通", "callback-failed", () =>
        work(`/callbacks/${c.id}`, { status: "failed" })));
      row.appendChild(actions);
      cbody.appendChild(row);
    }
  } catch (error) {
    text("work-status", error.message);
  }
}
$("btn-work-refresh").addEventListener("click", loadWork);
$("btn-channels-refresh").addEventListener("click", loadChannels);

// -- admin --------------------------------------------------------------------------------

async function loadAdmin() {
  const users = await api("/users");
  const body = $("users-table").querySelector("tbody");
  clear(body);
  for (const u of users) {
    const row = document.createElement("tr");
    // the mobile for notices to staff (docs/sms.md), masked as in the notices' statuses
    const mobile = u.mobile ? `${u.mobile.slice(0, 3)}****${u.mobile.slice(-4)}` : "";
    for (const value of [u.username, u.display_name, ROLE_TITLES[u.role], u.interface || "",
      mobile, u.active ? "启用" : "停用"]) {
      const cell = document.createElement("td");
      cell.textContent = value;
      row.appendChild(cell);
    }
    body.appendChild(row);
  }
  const queues = await api("/queues");
  const qbody = $("queues-table").querySelector("tbody");
  clear(qbody);
  for (const q of queues) {
    const row = document.createElement("tr");
    for (const value of [q.name, q.title, q.skill, q.overflow_to || "—", q.overflow_after_s,
      q.callback_offer_after_s]) {
      const cell = document.createElement("td");
      cell.textContent = value;
      row.appendChild(cell);
    }
    qbody.appendChild(row);
  }
}

function formData(form) { return Object.fromEntries(new FormData(form).entries()); }

$("user-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const data = formData(event.target);
  if (!data.interface) delete data.interface;
  try {
    await api("/users", { json: data });
    text("admin-status", `用户 ${data.username} 已创建`);
    event.target.reset();
    loadAdmin();
  } catch (error) { text("admin-status", error.message); }
});

$("mobile-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const data = formData(event.target);
  const mobile = data.mobile.replace(/\s/g, "");
  if (mobile && !/^1[3-9][0-9]{9}$/.test(mobile)) {
    text("admin-status", "手机号须为11位中国大陆手机号，如 13800138000");
    return;
  }
  try {
    await api(`/users/${encodeURIComponent(data.username)}`, { method: "PATCH",
      json: { mobile } });
    text("admin-status", mobile ? `用户 ${data.username} 的手机号已保存`
      : `用户 ${data.username} 的手机号已删除`);
    event.target.reset();
    loadAdmin();
  } catch (error) { text("admin-status", error.message); }
});

$("skills-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const data = formData(event.target);
  const skills = {};
  for (const part of data.skills.split(/[,，]/)) {
    const [name, level] = part.split(/[:：]/);
    if (name) skills[name.trim()] = Number(level || 0);
  }
  try {
    await api(`/agents/${encodeURIComponent(data.username)}/skills`, { method: "PUT", json: { skills } });
    text("admin-status", `坐席 ${data.username} 的技能已保存`);
  } catch (error) { text("admin-status", error.message); }
});

$("code-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const data = formData(event.target);
  try {
    await api(`/${data.kind}/${encodeURIComponent(data.code)}`, { method: "PUT",
      json: { title: data.title, active: true } });
    text("admin-status", `已保存：${data.title}`);
  } catch (error) { text("admin-status", error.message); }
});

$("btn-push").addEventListener("click", async () => {
  try {
    const result = await api("/queues/push", { method: "POST" });
    text("admin-status", result.pushed ? "队列配置已推送到交换机" : "交换机未连接，连接后自动推送");
  } catch (error) { text("admin-status", error.message); }
});

// resume a session (the HttpOnly cookie) on reload
api("/auth/me").then(() => start()).catch(() => signedOut());
