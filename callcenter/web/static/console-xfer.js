// 12366 坐席工作台: consultative transfer and three-way call with the expert seat (or another
// queue, or a ready agent by name: console-xfer-agents.js), on the call
// card (docs/console.md "Consultative transfer"). Uses console.js's api(), $, text, state and
// the agent's messages through the "console-message" event console.js dispatches.
"use strict";

(() => {
  const card = $("call-card");
  const section = document.createElement("div");
  section.id = "xfer-panel";
  section.innerHTML = `
    <h3>咨询转接</h3>
    <select id="xfer-queue" aria-label="咨询队列"></select>
    <button id="btn-xfer" type="button" disabled>咨询转接</button>
    <button id="btn-xfer-complete" type="button" disabled>完成转接</button>
    <button id="btn-xfer-conference" type="button" disabled>三方通话</button>
    <button id="btn-xfer-cancel" type="button" disabled>取消</button>
    <p id="xfer-status" class="muted" role="status"></p>
    <div id="xfer-notes" hidden>
      <h3>转来坐席的小结</h3>
      <ul id="xfer-notes-list"></ul>
    </div>`;
  $("transfer-status").after(section);

  let step = null;  // the consultation's step while one runs (calling, talking)
  let onCallNow = false;

  function render() {
    $("btn-xfer").disabled = !onCallNow || step !== null;
    $("btn-xfer-cancel").disabled = step === null;
    $("btn-xfer-complete").disabled = step !== "talking";
    $("btn-xfer-conference").disabled = step !== "talking";
    card.dataset.consult = step || "none";
  }

  function fillQueues() {
    const select = $("xfer-queue");
    // (the ready agents console-xfer-agents.js adds are no queues)
    if (select.querySelector("option:not([data-agent])") || !state.lookups
        || !state.lookups.queues) return;
    for (const q of state.lookups.queues) {
      const option = document.createElement("option");
      option.value = q.name;
      option.textContent = q.title;
      option.selected = q.name === "experts";
      select.appendChild(option);
    }
  }

  async function request(path, json) {
    try {
      const done = await api(path, json === undefined ? { method: "POST" } : { json });
      if (done.step === "calling" || done.step === "talking") step = done.step;
      else step = null;
    } catch (error) {
      text("xfer-status", error.message);
    }
    render();
  }

  // the consultation's target: a queue, or a ready agent by name (console-xfer-agents.js adds
  // those to the select, each with data-agent)
  function target() {
    const picked = $("xfer-queue").selectedOptions[0];
    if (picked && picked.dataset.agent) return { agent: picked.dataset.agent };
    return { queue: $("xfer-queue").value || null };
  }

  $("btn-xfer").addEventListener("click", () => {
    text("xfer-status", "");
    request("/agents/me/consult", { ...target(), notes: $("notes").value || null });
  });
  $("btn-xfer-complete").addEventListener("click",
    () => request("/agents/me/consult/complete"));
  $("btn-xfer-conference").addEventListener("click",
    () => request("/agents/me/consult/conference"));
  $("btn-xfer-cancel").addEventListener("click", () => request("/agents/me/consult/cancel"));

  function showNotes(notes) {
    const list = $("xfer-notes-list");
    list.replaceChildren();
    const others = (notes || []).filter((n) => n.username !== state.me.username);
    for (const n of others) {
      const item = document.createElement("li");
      item.textContent = `${n.username}：${n.notes}`;
      list.appendChild(item);
    }
    $("xfer-notes").hidden = others.length === 0;
  }

  document.addEventListener("console-message", (event) => {
    const { topic, payload } = event.detail;
    if (!state.me || topic !== `calls.${state.me.username}`) return;
    fillQueues();
    if (payload.type === "ringing") {
      step = null;
      text("xfer-status", "");
      showNotes(payload.notes);
    } else if (payload.type === "consult") {
      text("xfer-status", payload.message);
      // the first agent steers the consultation; the expert only reads how it goes
      if (payload.agent === state.me.username) {
        step = payload.step === "calling" || payload.step === "talking" ? payload.step : null;
      }
    } else if (payload.type === "completed") {
      step = null;
    }
    render();
  });

  // the agent's state as console.js shows it: on a call or not
  new MutationObserver(() => {
    onCallNow = $("state-label").dataset.state === "on_call";
    fillQueues();
    render();
  }).observe($("state-label"), { attributes: true, attributeFilter: ["data-state"] });
})();
