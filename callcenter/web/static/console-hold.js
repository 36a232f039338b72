// 12366 坐席工作台: hold on the call card, and a supervisor's listen / whisper / barge on the
// board (docs/console.md "Hold", "Listen, whisper, barge"). Uses console.js's api(), $, text.
"use strict";

(() => {
  const MODES = [["listen", "监听"], ["whisper", "耳语"], ["barge", "强插"]];

  function renderHold(agent) {
    const onCall = agent && agent.state === "on_call";
    const held = Boolean(onCall && agent.on_hold);
    $("btn-hold").disabled = !onCall || held;
    $("btn-resume").disabled = !held;
    $("call-card").dataset.hold = held ? "on" : "off";
    if (held) text("hold-status", "通话保持中（来电人正在收听等待音乐）");
    else if (!onCall) text("hold-status", "");
  }

  async function holdRequest(path) {
    try {
      const agent = await api(path, { method: "POST" });
      renderHold(agent);
      if (agent.held_seconds != null) {
        text("hold-status", `已恢复通话（本次保持 ${Math.round(agent.held_seconds)} 秒）`);
      }
    } catch (error) {
      text("hold-status", error.message);
    }
  }
  $("btn-hold").addEventListener("click", () => holdRequest("/agents/me/hold"));
  $("btn-resume").addEventListener("click", () => holdRequest("/agents/me/resume"));

  // the agent's state as console.js shows it: refresh the buttons on every change
  new MutationObserver(async () => {
    if (!state.me || state.me.role === "supervisor" || state.me.role === "admin") return;
    try { renderHold(await api("/agents/me")); } catch (error) { /* signed out */ }
  }).observe($("state-label"), { attributes: true, attributeFilter: ["data-state"] });

  // the board: monitoring buttons on the rows of agents on a call
  async function monitor(username, mode, title) {
    text("board-error", "");
    try {
      await api(`/agents/${encodeURIComponent(username)}/monitor`, { json: { mode } });
      text("board-error", `正在呼叫您的话机以${title} ${username} 的通话，请接听`);
    } catch (error) {
      text("board-error", error.message);
    }
  }

  function decorate() {
    for (const row of $("board-agents").querySelectorAll("tbody tr")) {
      if (row.dataset.state !== "on_call" || row.querySelector(".board-monitor")) continue;
      const cell = row.lastElementChild;
      for (const [mode, title] of MODES) {
        const b = document.createElement("button");
        b.type = "button";
        b.textContent = title;
        b.className = `board-monitor board-${mode}`;
        b.addEventListener("click", () => monitor(row.dataset.username, mode, title));
        cell.appendChild(b);
      }
    }
  }
  new MutationObserver(decorate).observe($("board-agents").querySelector("tbody"),
    { childList: true });
})();
