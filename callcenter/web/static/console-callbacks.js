// 12366 坐席工作台：外呼回电（预览卡片、立即回拨/跳过、号码错误）。
// Loaded after console.js: uses its api(), text(), show(), clear(), li() and state; follows the
// agent's messages through the "console-message" event console.js dispatches.
"use strict";

Object.assign(OUTCOME_TITLES, { no_answer: "无人接听", busy: "占线", wrong_number: "号码错误" });

const CALLBACK_RESULTS = {
  reached: "已接通", no_answer: "无人接听", busy: "占线", failed: "呼叫失败",
  wrong_number: "号码错误", agent_missed: "坐席话机未接听", interrupted: "交换机连接中断",
  skipped: "已跳过",
};
const callbackState = { current: null, timer: null, deadline: null, result: null };

function callbackCard() {
  let card = $("callback-card");
  if (card) return card;
  card = document.createElement("div");
  card.className = "panel";
  card.id = "callback-card";
  card.hidden = true;
  card.style.borderLeft = "4px solid #1a7f37";
  const title = document.createElement("h2");
  title.append("预约回电 ");
  const badge = document.createElement("span");
  badge.id = "cb-status";
  badge.className = "badge";
  title.appendChild(badge);
  card.appendChild(title);
  const list = document.createElement("dl");
  for (const [id, label] of [["cb-number", "回电号码"], ["cb-reason", "回电原因"],
    ["cb-queue", "队列"], ["cb-attempt", "回拨次数"], ["cb-requested", "申请时间"],
    ["cb-path", "语音导航路径"], ["cb-asked", "来电人的问题"], ["cb-faqs", "已收听的问答"],
    ["cb-taxpayer", "纳税人"]]) {
    const dt = document.createElement("dt");
    dt.textContent = label;
    const dd = document.createElement("dd");
    dd.id = id;
    list.append(dt, dd);
  }
  card.appendChild(list);
  const countdown = document.createElement("p");
  countdown.id = "cb-countdown";
  countdown.className = "muted";
  card.appendChild(countdown);
  const buttons = document.createElement("p");
  for (const [id, label, onClick] of [["btn-cb-accept", "立即回拨", () => decide("accept")],
    ["btn-cb-skip", "跳过", () => decide("skip")], ["btn-cb-wrong", "号码错误", wrongNumber]]) {
    const b = document.createElement("button");
    b.type = "button";
    b.id = id;
    b.textContent = label;
    b.addEventListener("click", onClick);
    buttons.append(b, " ");
  }
  card.appendChild(buttons);
  const message = document.createElement("p");
  message.id = "cb-message";
  message.setAttribute("role", "status");
  card.appendChild(message);
  // above the agent's call card
  const view = $("agent-view");
  view.insertBefore(card, view.querySelector(".grid"));
  return card;
}

function callbackButtons({ decide: canDecide = false, wrong = false } = {}) {
  $("btn-cb-accept").hidden = !canDecide;
  $("btn-cb-skip").hidden = !canDecide;
  $("btn-cb-wrong").hidden = !wrong;
}

function stopCountdown() {
  if (callbackState.timer) clearInterval(callbackState.timer);
  callbackState.timer = null;
  text("cb-countdown", "");
}

function showPreview(event) {
  callbackCard();
  callbackState.current = event;
  callbackState.result = null;
  show("callback-card", true);
  text("cb-status", "待确认");
  text("cb-number", event.number_masked);
  text("cb-reason", event.reason || "—");
  const queue = event.queue && state.lookups.queues.find((q) => q.name === event.queue);
  text("cb-queue", queue ? queue.title : (event.queue || "不限"));
  text("cb-attempt", `第 ${event.attempt} 次（最多 ${event.max_attempts} 次）`);
  text("cb-requested", new Date(event.requested_at).toLocaleString("zh-CN"));
  text("cb-path", event.ivr_path_labels.length ? event.ivr_path_labels.join(" → ") : "（无）");
  text("cb-asked", event.asked.length ? event.asked.join("；") : "无");
  text("cb-faqs", event.faqs.length ? event.faqs.join("；") : "无");
  text("cb-taxpayer", event.taxpayer || "未识别");
  text("cb-message", "");
  callbackButtons({ decide: true });
  stopCountdown();
  if (event.auto_dial_s != null) {
    callbackState.deadline = Date.now() + event.auto_dial_s * 1000;
    const tick = () => {
      const left = Math.max(0, Math.round((callbackState.deadline - Date.now()) / 1000));
      text("cb-countdown", `${left} 秒后将自动回拨`);
    };
    tick();
    callbackState.timer = setInterval(tick, 1000);
  }
}

async function decide(decision) {
  const event = callbackState.current;
  if (!event) return;
  try {
    await api(`/callbacks/${event.callback_id}/${decision}`, { method: "POST" });
    stopCountdown();
    callbackButtons();
    text("cb-message", decision === "accept" ? "正在回拨…" : "已跳过，将转给其他坐席");
    if (decision === "skip") text("cb-status", "已跳过");
  } catch (error) {
    text("cb-message", error.message);
  }
}

async function wrongNumber() {
  const event = callbackState.current;
  if (!event) return;
  try {
    await api(`/callbacks/${event.callback_id}/result`, { json: { result: "wrong_number" } });
    callbackButtons();
    text("cb-message", "已标记为号码错误，回电请求已关闭");
  } catch (error) {
    text("cb-message", error.message);
  }
}

function showProgress(event) {
  const current = callbackState.current;
  if (!current || current.callback_id !== event.callback_id) return;
  callbackCard();
  if (event.stage === "dialling") {
    stopCountdown();
    callbackButtons();
    text("cb-status", "呼叫坐席");
    text("cb-message", "正在呼叫您的话机，请接听");
  } else if (event.stage === "calling") {
    text("cb-status", "正在拨号");
    text("cb-message", "正在拨打纳税人号码…");
  } else if (event.stage === "connected") {
    text("cb-status", "已接通");
    text("cb-message", "已接通，请与纳税人通话");
  } else if (event.stage === "ended") {
    stopCountdown();
    callbackState.result = event.result;
    text("cb-status", "已结束");
    const title = CALLBACK_RESULTS[event.result] || event.result;
    const next = event.next === "rescheduled" && event.due_at
      ? `，将于 ${new Date(event.due_at).toLocaleTimeString("zh-CN")} 再次回拨`
      : (event.next === "closed" ? "，回电请求已关闭" : "");
    text("cb-message", `本次回电：${title}${next}`);
    callbackButtons({ wrong: event.result === "reached" });
    if (event.result === "skipped") text("cb-status", "已跳过");
  }
}

document.addEventListener("console-message", (event) => {
  const { topic, payload } = event.detail;
  if (!state.me || topic !== `calls.${state.me.username}`) return;
  if (payload.type === "callback_preview") showPreview(payload);
  else if (payload.type === "callback_progress") showProgress(payload);
});
