// 12366 坐席工作台 · 咨询答复: consultations (web and SMS-declined questions) in the work
// list; an agent or expert opens one and replies in text, sent by SMS to the taxpayer and
// shown on the consultation page. A new consultation is announced at once over the console's
// WebSocket (topic "consult", kind consult_submitted): a badge counts the ones not yet opened,
// the work list is reloaded and their rows are marked 新. Uses api(), text(), clear(), state
// and loadWork() of console.js.
"use strict";

const CONSULT_CHANNELS = { web: "网上咨询", sms: "短信咨询" };
const consult = { open: null, fresh: new Set() };

// -- new consultations, live -------------------------------------------------------------

// a new hidden element of this script (tag, id, class)
function hiddenNode(tag, id, className) {
  const node = document.createElement(tag);
  node.id = id;
  node.className = className;
  node.hidden = true;
  return node;
}

function consultBadge() {
  const found = document.getElementById("consult-badge");
  if (found) return found;
  const badge = hiddenNode("span", "consult-badge", "badge");
  badge.title = "新的咨询，点击清除提示";
  badge.addEventListener("click", () => { consult.fresh.clear(); showFresh(); });
  document.getElementById("btn-work-refresh").after(badge);
  const note = document.createElement("p");
  note.id = "consult-new";
  note.className = "muted";
  note.setAttribute("role", "status");
  document.getElementById("tickets-table").before(note);
  return badge;
}

function showFresh() {
  const badge = consultBadge();
  badge.textContent = `新咨询 ${consult.fresh.size}`;
  badge.hidden = consult.fresh.size === 0;
  if (consult.fresh.size === 0) text("consult-new", "");
  decorateConsultRows();
}

function onConsultMessage(event) {
  const { topic, kind, payload } = event.detail;
  if (topic === "hello" && state.ws && state.ws.readyState === WebSocket.OPEN) {
    // every call-centre role may listen to new consultations (docs/consultation.md)
    state.ws.send(JSON.stringify({ subscribe: ["consult"] }));
    return;
  }
  if (topic === "subscribed") {  // listening: the badge says so (data-live) for the tests
    consultBadge().dataset.live = payload.topics.includes("consult") ? "1" : "0";
    return;
  }
  if (topic !== "consult" || kind !== "consult_submitted") return;
  consult.fresh.add(payload.ticket_no);
  text("consult-new", `新${CONSULT_CHANNELS[payload.channel] || "咨询"}：工单 ${payload.ticket_no}` +
    `（${payload.number_masked}）${payload.question}`);
  showFresh();
  loadWork();
}
document.addEventListener("console-message", onConsultMessage);

function consultPanel() {
  const found = document.getElementById("consult-panel");
  if (found) return found;
  const panel = hiddenNode("div", "consult-panel", "panel");
  const parts = [
    ["h2", "consult-title", "咨询答复"],
    ["p", "consult-meta", ""],
    ["p", "consult-question", ""],
    ["h3", "", "已答复"],
    ["ul", "consult-replies", ""],
  ];
  for (const [tag, id, label] of parts) {
    const node = document.createElement(tag);
    if (id) node.id = id;
    node.textContent = label;
    panel.appendChild(node);
  }
  const area = document.createElement("textarea");
  area.id = "consult-reply";
  area.rows = 4;
  area.placeholder = "输入答复内容，将以短信发送给纳税人并显示在网上咨询页面";
  panel.appendChild(area);
  const send = document.createElement("button");
  send.type = "button";
  send.id = "btn-consult-send";
  send.textContent = "发送答复";
  send.addEventListener("click", sendConsultReply);
  panel.appendChild(send);
  const close = document.createElement("button");
  close.type = "button";
  close.id = "btn-consult-close";
  close.textContent = "关闭";
  close.addEventListener("click", () => { panel.hidden = true; consult.open = null; });
  panel.appendChild(close);
  const status = document.createElement("p");
  status.id = "consult-status";
  status.className = "muted";
  status.setAttribute("role", "status");
  panel.appendChild(status);
  document.getElementById("work-view").appendChild(panel);
  return panel;
}

function renderConsultation(c) {
  const panel = consultPanel();
  consult.open = c.ticket_no;
  text("consult-title", `咨询答复 · 工单 ${c.ticket_no}`);
  text("consult-meta", `${CONSULT_CHANNELS[c.channel] || c.channel} · ${c.phone} · ` +
    `答复期限 ${new Date(c.due_at).toLocaleString("zh-CN")}`);
  text("consult-question", c.question);
  const list = document.getElementById("consult-replies");
  clear(list);
  for (const r of c.replies) {
    li(list, `${new Date(r.at).toLocaleString("zh-CN")} ${r.by}：${r.text}（短信：${r.sms_status}）`);
  }
  if (c.replies.length === 0) li(list, "（尚未答复）");
  panel.hidden = false;
}

async function openConsultation(ticketNo) {
  consult.fresh.delete(ticketNo);
  showFresh();
  try {
    renderConsultation(await api(`/consultations/${encodeURIComponent(ticketNo)}`));
    text("consult-status", "");
  } catch (error) {
    consultPanel().hidden = false;
    text("consult-status", error.message);
  }
}

async function sendConsultReply() {
  const area = document.getElementById("consult-reply");
  if (!consult.open) return;
  try {
    const c = await api(`/consultations/${encodeURIComponent(consult.open)}/reply`,
      { json: { text: area.value } });
    area.value = "";
    renderConsultation(c);
    text("consult-status", "答复已发送");
    loadWork();
  } catch (error) {
    text("consult-status", error.message);
  }
}

// every consult row of the work list gets its channel and an "open" button
function decorateConsultRows() {
  const rows = document.querySelectorAll('#tickets-table tbody tr[data-kind="consult"]');
  for (const row of rows) {
    const fresh = consult.fresh.has(row.dataset.ticket);
    row.classList.toggle("consult-fresh", fresh);
    row.style.fontWeight = fresh ? "bold" : "";
    if (row.querySelector(".consult-open")) continue;
    const channel = (row.dataset.linkedid || "").startsWith("web-") ? "web" : "sms";
    row.dataset.channel = channel;
    if (row.cells[1]) row.cells[1].textContent = CONSULT_CHANNELS[channel];
    const actions = row.cells[row.cells.length - 1];
    const open = document.createElement("button");
    open.type = "button";
    open.className = "consult-open";
    open.textContent = "查看/答复";
    open.addEventListener("click", () => openConsultation(row.dataset.ticket));
    actions.appendChild(open);
  }
}

new MutationObserver(decorateConsultRows).observe(
  document.querySelector("#tickets-table tbody"), { childList: true });
