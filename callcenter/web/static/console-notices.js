// 12366 坐席工作台 · 员工短信通知: a supervisor or admin texts a short notice to all agents and
// experts, one queue's agents or chosen users (those with a mobile on their user record), and
// sees each recipient's delivery status (docs/sms.md, "Notices to staff"). Uses api(), text(),
// clear(), li(), fillSelect() and state of console.js; built once the console's socket says
// hello.
"use strict";

const NOTICE_STATUS = { queued: "已提交网关", smsc: "短信中心已接收", delivered: "已送达",
  failed: "发送失败", buffered: "短信中心待投递", held: "排队中（限流）",
  suppressed: "未发送（超出限额）", no_mobile: "无手机号，未发送" };
const NOTICE_AUDIENCES = [["all", "全体坐席和专家"], ["queue", "指定队列的坐席"],
  ["users", "指定人员"]];

function noticeNode(parent, tag, id, label) {
  const node = document.createElement(tag);
  if (id) node.id = id;
  if (label) node.textContent = label;
  parent.appendChild(node);
  return node;
}

function noticePanel() {
  const found = document.getElementById("notice-panel");
  if (found) return found;
  const panel = document.createElement("div");
  panel.className = "panel";
  panel.id = "notice-panel";
  noticeNode(panel, "h2", "", "员工短信通知");
  const area = noticeNode(panel, "textarea", "notice-text");
  area.rows = 3;
  area.maxLength = 300;
  area.placeholder = "通知内容（最多300字），将以短信发送到员工登记的手机号";
  const row = noticeNode(panel, "p");
  noticeNode(row, "label", "", "接收范围 ").htmlFor = "notice-audience";
  const audience = noticeNode(row, "select", "notice-audience");
  fillSelect(audience, NOTICE_AUDIENCES);
  const queue = noticeNode(row, "select", "notice-queue");
  fillSelect(queue, (state.lookups ? state.lookups.queues : []).map((q) => [q.name, q.title]));
  const users = noticeNode(row, "input", "notice-users");
  users.placeholder = "用户名，用逗号分隔";
  const showChoices = () => {
    queue.hidden = audience.value !== "queue";
    users.hidden = audience.value !== "users";
  };
  audience.addEventListener("change", showChoices);
  showChoices();
  noticeNode(panel, "button", "btn-notice-send", "发送通知").addEventListener("click", sendNotice);
  noticeNode(panel, "button", "btn-notice-refresh", "刷新状态").addEventListener("click", loadNotices);
  const status = noticeNode(panel, "p", "notice-status");
  status.className = "muted";
  status.setAttribute("role", "status");
  noticeNode(panel, "h3", "", "最近的通知");
  noticeNode(panel, "ul", "notice-list");
  document.getElementById("supervisor-view").appendChild(panel);
  return panel;
}

function renderNotices(notices) {
  const list = document.getElementById("notice-list");
  clear(list);
  if (notices.length === 0) li(list, "（暂无通知）");
  for (const n of notices) {
    const item = li(list, `${new Date(n.created_at).toLocaleString("zh-CN")} ${n.sent_by}：${n.text}`);
    item.dataset.notice = n.id;
    const people = document.createElement("ul");
    for (const r of n.recipients) {
      const person = li(people, `${r.display_name}（${r.username}）${r.number || ""} ` +
        (NOTICE_STATUS[r.status] || r.status));
      person.dataset.username = r.username;
      person.dataset.status = r.status;
    }
    item.appendChild(people);
  }
}

async function loadNotices() {
  try {
    renderNotices(await api("/notices"));
  } catch (error) {
    text("notice-status", error.message);
  }
}

async function sendNotice() {
  const audience = document.getElementById("notice-audience").value;
  const body = { text: document.getElementById("notice-text").value, audience };
  if (audience === "queue") body.queue = document.getElementById("notice-queue").value;
  if (audience === "users") {
    body.usernames = document.getElementById("notice-users").value.split(/[,，\s]+/)
      .filter((u) => u);
  }
  try {
    const notice = await api("/notices", { json: body });
    const texts = notice.recipients.filter((r) => r.status !== "no_mobile").length;
    text("notice-status", `通知已发送：${notice.recipients.length} 人，短信 ${texts} 条`);
    document.getElementById("notice-text").value = "";
    loadNotices();
  } catch (error) {
    text("notice-status", error.message);
  }
}

document.addEventListener("console-message", (event) => {
  if (event.detail.topic !== "hello" || !state.me) return;
  if (state.me.role !== "supervisor" && state.me.role !== "admin") return;
  if (document.getElementById("notice-panel")) return;
  noticePanel();
  loadNotices();
});
